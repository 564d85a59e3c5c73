"""Chargebacks: the card holder disputes the charge (Stripe's 4000 0000 0000 0259 card); the
provider's dispute events freeze the escrow and are booked; won, the money is the payee's again;
lost, the payer keeps it. Repeated, out-of-order and forged events change nothing more."""

from __future__ import annotations

import json
from typing import Any

from escrowd.disputes.chargebacks import DISPUTE_COSTS, DISPUTES
from escrowd.escrows.ledgering import escrow_account, payee_available
from escrowd.ledger.verify import verify
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.sandbox.stripe.resources.disputes import DISPUTE_FEE
from tests.disputes.conftest import (
    Body,
    admin,
    chargebacks_of,
    deal,
    escrow_of,
    run_dispute_jobs,
    settle_dispute_at_provider,
)
from tests.escrows.conftest import Ctx, event_types, ledger_balance, post, settle
from tests.escrows.test_webhooks import captured_events, deliver


async def _verified(ctx: Ctx) -> None:
    report = await verify(ctx.container.db)
    assert report.ok, report


async def _disputed(ctx: Ctx) -> tuple[Any, str, Body, Body]:
    """A funded escrow the card holder disputed at once; escrowd has processed the event."""
    who, (payee,), escrow = await deal(ctx, [10_000], card="pm_card_createDispute")
    await settle(ctx.container)
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    return who, payee, escrow, chargeback


async def test_a_chargeback_freezes_the_escrow_and_books_what_the_provider_took(
    ctx: Ctx,
) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    costs_before = await ledger_balance(ctx, DISPUTE_COSTS)
    who, _, escrow, chargeback = await _disputed(ctx)
    assert (chargeback["status"], chargeback["amount"], chargeback["reason"]) == (
        "open",
        10_000,
        "fraudulent",
    )
    assert chargeback["provider_dispute"].startswith("dp_")
    assert (chargeback["provider_withdrawn"], chargeback["provider_fee"]) == (10_000, DISPUTE_FEE)
    assert (await escrow_of(ctx, who, escrow["id"]))["status"] == "disputed"
    refused = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release", status=409)
    assert refused["error"]["code"] == "escrow_state_conflict"
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 10_000
    assert await ledger_balance(ctx, DISPUTES) - disputes_before == -10_000
    assert await ledger_balance(ctx, DISPUTE_COSTS) - costs_before == -DISPUTE_FEE
    key = await admin(ctx)
    cannot = await post(
        ctx, key, f"/v1/disputes/{chargeback['id']}/resolve", {"outcome": "release"}, status=409
    )
    assert cannot["error"]["code"] == "dispute_is_chargeback"
    assert await event_types(ctx, who, chargeback["id"]) == [
        "dispute.opened",
        "dispute.funds_withdrawn",
    ]
    await _verified(ctx)


async def test_a_chargeback_won_leaves_the_money_to_the_payee(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, payee, escrow, chargeback = await _disputed(ctx)
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=True)
    key = await admin(ctx)
    (won,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (won["status"], won["outcome"], won["provider_reinstated"]) == (
        "resolved",
        "won",
        10_000,
    )
    assert (await escrow_of(ctx, who, escrow["id"]))["status"] == "held"
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    before = await ledger_balance(ctx, payee_available(payee))
    released = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    assert await ledger_balance(ctx, payee_available(payee)) - before == 10_000
    assert "dispute.funds_reinstated" in await event_types(ctx, who, chargeback["id"])
    await _verified(ctx)


async def test_a_chargeback_lost_leaves_the_money_to_the_payer(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, payee, escrow, chargeback = await _disputed(ctx)
    paid_before = await ledger_balance(ctx, payee_available(payee))
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    key = await admin(ctx)
    (lost,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (lost["status"], lost["outcome"], lost["amount_refunded"]) == (
        "resolved",
        "lost",
        10_000,
    )
    after = await escrow_of(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"], after["amount_released"]) == (
        "refunded",
        10_000,
        0,
    )
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert await ledger_balance(ctx, payee_available(payee)) == paid_before
    types = await event_types(ctx, who, escrow["id"])
    assert types[-2:] == ["escrow.disputed", "escrow.refunded"]
    await _verified(ctx)


async def test_repeated_and_out_of_order_dispute_events_are_booked_once(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    costs_before = await ledger_balance(ctx, DISPUTE_COSTS)
    who, _, escrow = await deal(ctx, [10_000], card="pm_card_createDispute")
    payment = escrow["payment"]["id"]
    created = [
        b for b in await captured_events(ctx, payment) if b["type"] == "charge.dispute.created"
    ]
    assert len(created) == 1
    dp = created[0]["data"]["object"]["id"]
    r = await ctx.client.post(
        f"/sandbox/stripe/v1/disputes/{dp}",
        data={"evidence[uncategorized_text]": "losing_evidence"},
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
    )
    assert r.status_code == 200, r.text
    closed = [
        b for b in await captured_events(ctx, payment) if b["type"] == "charge.dispute.closed"
    ]
    assert len(closed) == 1
    # The close arrives first, then the creation, then each again under new event ids.
    for body, repeat in ((closed[0], 0), (created[0], 0), (closed[0], 1), (created[0], 1)):
        await deliver(ctx, body, repeat)
    key = await admin(ctx)
    (lost,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (lost["outcome"], lost["provider_withdrawn"], lost["provider_fee"]) == (
        "lost",
        10_000,
        DISPUTE_FEE,
    )
    assert (await escrow_of(ctx, who, escrow["id"]))["amount_refunded"] == 10_000
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert await ledger_balance(ctx, DISPUTE_COSTS) - costs_before == -DISPUTE_FEE
    await _verified(ctx)


def _forged(body: Body, n: int, **changes: Any) -> Body:
    forged: Body = json.loads(json.dumps(body))
    forged["id"] = f"{body['id']}_forged{n}"
    forged["data"]["object"].update(changes)
    return forged


async def test_a_forged_dispute_event_moves_nothing(ctx: Ctx) -> None:
    who, _, target = await deal(ctx, [10_000])
    disputes_before = await ledger_balance(ctx, DISPUTES)
    # A real dispute's event, rewritten to name another escrow's payment and charge.
    _, _, other = await deal(ctx, [5_000], card="pm_card_createDispute")
    (real,) = [
        b
        for b in await captured_events(ctx, other["payment"]["id"])
        if b["type"] == "charge.dispute.created"
    ]
    key = await admin(ctx)
    for forged in (
        _forged(
            real,
            1,
            payment_intent=target["payment"]["id"],
            charge=target["payment"]["charge"],
            amount=10_000,
        ),
        _forged(
            real,
            2,
            id="dp_1NotAtTheProvider00000000",
            payment_intent=target["payment"]["id"],
            charge=target["payment"]["charge"],
            amount=10_000,
        ),
    ):
        await deliver(ctx, forged, 0)
        assert await chargebacks_of(ctx, key, target["id"]) == []
        assert (await escrow_of(ctx, who, target["id"]))["status"] == "held"
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    r = await ctx.client.get(
        "/v1/incidents", params={"kind": "webhook.mismatch", "limit": 100}, headers=key.headers
    )
    assert r.status_code == 200, r.text
    seen = json.dumps(r.json()["data"])
    assert f"{real['id']}_forged1" in seen
    assert f"{real['id']}_forged2" in seen


async def test_a_chargeback_after_the_release_is_decided_once_the_payee_paid_it_back(
    ctx: Ctx,
) -> None:
    costs_before = await ledger_balance(ctx, DISPUTE_COSTS)
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, (payee,), escrow = await deal(ctx, [10_000], card="pm_card_createDispute")
    paid_before = await ledger_balance(ctx, payee_available(payee))
    # Released before escrowd hears of the dispute: the money is the payee's already.
    released = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    await settle(ctx.container)
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (await escrow_of(ctx, who, escrow["id"]))["status"] == "disputed"
    # Lost before the recovery job ran: the decision waits for the payee's transfer reversal.
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    (waiting,) = await chargebacks_of(ctx, key, escrow["id"])
    assert waiting["status"] == "open"
    assert await ledger_balance(ctx, payee_available(payee)) - paid_before == 10_000
    await run_dispute_jobs(ctx)
    (lost,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (lost["status"], lost["outcome"]) == ("resolved", "lost")
    after = await escrow_of(ctx, who, escrow["id"])
    assert (after["status"], after["amount_released"], after["amount_refunded"]) == (
        "refunded",
        0,
        10_000,
    )
    assert await ledger_balance(ctx, payee_available(payee)) == paid_before
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert await ledger_balance(ctx, DISPUTE_COSTS) - costs_before == -DISPUTE_FEE
    await _verified(ctx)


async def test_a_chargeback_decides_before_an_internal_dispute_of_the_same_escrow(
    ctx: Ctx,
) -> None:
    who, _, escrow = await deal(ctx, [10_000], card="pm_card_createDispute")
    key = await admin(ctx)
    internal = await post(ctx, who, "/v1/disputes", {"escrow": escrow["id"], "reason": "quality"})
    await settle(ctx.container)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    waiting = await post(
        ctx, key, f"/v1/disputes/{internal['id']}/resolve", {"outcome": "release"}, status=409
    )
    assert waiting["error"]["code"] == "chargeback_open"
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    r = await ctx.client.get(f"/v1/disputes/{internal['id']}", headers=who.headers)
    assert r.json()["status"] == "closed"
    assert chargeback["id"] in r.json()["resolution_notes"]
    after = await escrow_of(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"]) == ("refunded", 10_000)
    await _verified(ctx)
