"""A buyer's PayPal dispute of a PayPal escrow's capture, end to end against the sandbox.

The buyer opens the dispute on the sandbox's Resolution Center page and PayPal settles it
there (its sandbox-only adjudication); the sandbox signs and delivers ``CUSTOMER.DISPUTE.*``
as PayPal does, and escrowd reads each dispute back from PayPal before it freezes or books
anything. Forged and repeated events are the sandbox's genuine ones, rewritten and re-signed
with its own key (a leaked key: the signature is no defence, the check at PayPal is).
"""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import uuid4

from escrowd.clock import FrozenClock
from escrowd.config import PAYPAL_SANDBOX_PREFIX
from escrowd.disputes.chargebacks import DISPUTE_COSTS, DISPUTES
from escrowd.escrows.ledgering import clearing, escrow_account, payee_available
from escrowd.ledger.verify import verify
from escrowd.providers.paypal import shapes
from escrowd.webhooks.service import process_pending
from tests.disputes.conftest import admin, chargebacks_of, escrow_of, run_dispute_jobs
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    container,
    event_types,
    ledger_balance,
    payer,
    post,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.paypal.helpers import order_request
from tests.paypal.test_escrows_on_paypal import held_on_paypal, paypal_of, worker
from tests.paypal.test_webhooks import sandbox_deliveries, signed

PAYPAL_CLEARING = clearing("paypal")
Body = dict[str, Any]


async def _verified(ctx: Ctx) -> None:
    report = await verify(ctx.container.db)
    assert report.ok, report


async def open_at_paypal(ctx: Ctx, capture_id: str, *, value: str = "") -> str:
    """The buyer opens a dispute of the capture on the Resolution Center page: its id."""
    page = await ctx.client.get(f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/{capture_id}")
    assert page.status_code == 200, page.text
    assert "Open a dispute" in page.text
    r = await ctx.client.post(
        f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/{capture_id}",
        data={"reason": "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", "amount": value},
    )
    assert r.status_code == 201, r.text
    found = re.search(r"<code id=dispute>([A-Z0-9-]+)</code>", r.text)
    assert found is not None, r.text
    return found.group(1)


async def settle_at_paypal(ctx: Ctx, dispute_id: str, *, seller_wins: bool) -> None:
    outcome = "SELLER_FAVOR" if seller_wins else "BUYER_FAVOR"
    r = await ctx.client.post(
        f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/disputes/{dispute_id}",
        data={"outcome": outcome},
    )
    assert r.status_code == 200, r.text
    assert "RESOLVED" in r.text


async def held_escrow(ctx: Ctx, amount: int = 10_000) -> tuple[Person, Person, Body]:
    who, payee = await payer(ctx), await worker(ctx)
    held = await held_on_paypal(ctx, who, [(payee.id, amount)], fee_policy={"rate_bps": 0})
    assert held["status"] == "held", held
    assert held["payment"]["charge"], held  # the capture PayPal's dispute will name
    await settle(ctx.container)
    return who, payee, held


async def post_signed(ctx: Ctx, body: Body) -> None:
    raw = json.dumps(body).encode()
    r = await ctx.client.post(
        "/v1/webhooks/paypal", content=raw, headers=await signed(ctx.container, raw)
    )
    assert r.status_code == 200, r.text
    while await process_pending(ctx.container):
        pass


def rewritten(body: Body, **changes: Any) -> Body:
    """The same event under a new event id, its resource changed as given."""
    out: Body = json.loads(json.dumps(body))
    out["id"] = f"WH-{uuid4().hex[:17].upper()}-{uuid4().hex[:17].upper()}"
    out["resource"].update(changes)
    return out


async def incidents_seen(ctx: Ctx) -> str:
    key = await admin(ctx)
    r = await ctx.client.get(
        "/v1/incidents", params={"kind": "webhook.mismatch", "limit": 100}, headers=key.headers
    )
    assert r.status_code == 200, r.text
    return json.dumps(r.json()["data"])


async def test_the_adapter_reads_the_dispute_with_its_order(ctx: Ctx) -> None:
    _, _, held = await held_escrow(ctx, 7_500)
    dispute_id = await open_at_paypal(ctx, held["payment"]["charge"], value="25.00")
    paypal = paypal_of(ctx)
    raw = await paypal.client.get_dispute(dispute_id)
    assert (raw.status, raw.dispute_life_cycle_stage) == ("UNDER_REVIEW", "CHARGEBACK")
    assert raw.seller_transaction_id == held["payment"]["charge"]
    assert (raw.dispute_amount.currency_code, raw.dispute_amount.value) == ("USD", "25.00")
    found = await paypal.retrieve_dispute(dispute_id)
    assert (found.id, found.payment_id, found.charge_id) == (
        dispute_id,
        held["payment"]["id"],
        held["payment"]["charge"],
    )
    assert (found.amount, found.currency, found.status, found.closed) == (
        2_500,
        "usd",
        "under_review",
        False,
    )
    assert (found.withdrawn, found.reinstated, found.fee) == (2_500, 0, 0)
    assert found.reason == "merchandise_or_service_not_as_described"
    # Settled in the buyer's favour with PayPal's own sandbox call.
    await paypal.client.adjudicate_dispute(
        dispute_id,
        shapes.AdjudicateRequest(adjudication_outcome="BUYER_FAVOR"),
        request_id=f"adj-{uuid4()}",
    )
    lost = await paypal.retrieve_dispute(dispute_id)
    assert (lost.status, lost.withdrawn, lost.reinstated) == ("lost", 2_500, 0)
    # Settled once: a second adjudication is refused as PayPal refuses it.
    again = await ctx.client.post(
        f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/disputes/{dispute_id}",
        data={"outcome": "SELLER_FAVOR"},
    )
    assert again.status_code == 422, again.text
    await settle(ctx.container)


async def test_opened_freezes_the_escrow_and_won_unfreezes_it(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    clearing_before = await ledger_balance(ctx, PAYPAL_CLEARING)
    who, payee, held = await held_escrow(ctx)
    escrow_id = held["id"]
    dispute_id = await open_at_paypal(ctx, held["payment"]["charge"])
    await settle(ctx.container)
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow_id)
    assert (chargeback["status"], chargeback["amount"], chargeback["provider_dispute"]) == (
        "open",
        10_000,
        dispute_id,
    )
    assert chargeback["reason"] == "merchandise_or_service_not_as_described"
    assert (await escrow_of(ctx, who, escrow_id))["status"] == "disputed"
    refused = await post(ctx, who, f"/v1/escrows/{escrow_id}/release", status=409)
    assert refused["error"]["code"] == "escrow_state_conflict"
    # PayPal's hold, booked as Stripe's withdrawal is; the escrow keeps its money, frozen.
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 10_000
    assert await ledger_balance(ctx, DISPUTES) - disputes_before == -10_000
    await _verified(ctx)

    await settle_at_paypal(ctx, dispute_id, seller_wins=True)
    await settle(ctx.container)
    (won,) = await chargebacks_of(ctx, key, escrow_id)
    assert (won["status"], won["outcome"], won["provider_reinstated"]) == (
        "resolved",
        "won",
        10_000,
    )
    assert (await escrow_of(ctx, who, escrow_id))["status"] == "held"
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    types = await event_types(ctx, who, won["id"])
    assert types == [
        "dispute.opened",
        "dispute.funds_withdrawn",
        "dispute.funds_reinstated",
        "dispute.resolved",
    ]
    released = await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    assert released["status"] == "released"
    assert await ledger_balance(ctx, payee_available(payee.id)) == 10_000
    # The capture's money came in through PayPal's clearing account, less PayPal's fee on it
    # (3.49 % + $0.49 in the sandbox: $3.98), and nothing else moved it.
    fee = (await escrow_of(ctx, who, escrow_id))["payment"]["processing_fee"]
    assert fee == 398
    assert await ledger_balance(ctx, PAYPAL_CLEARING) - clearing_before == -10_000 + fee
    await _verified(ctx)


async def test_lost_books_the_money_back_to_the_payer_as_the_stripe_path_does(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    costs_before = await ledger_balance(ctx, DISPUTE_COSTS)
    who, payee, held = await held_escrow(ctx)
    escrow_id = held["id"]
    dispute_id = await open_at_paypal(ctx, held["payment"]["charge"])
    await settle(ctx.container)
    await settle_at_paypal(ctx, dispute_id, seller_wins=False)
    await settle(ctx.container)
    key = await admin(ctx)
    (lost,) = await chargebacks_of(ctx, key, escrow_id)
    assert (lost["status"], lost["outcome"], lost["amount_refunded"]) == (
        "resolved",
        "lost",
        10_000,
    )
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"], after["amount_released"]) == (
        "refunded",
        10_000,
        0,
    )
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert await ledger_balance(ctx, DISPUTE_COSTS) == costs_before
    assert await ledger_balance(ctx, payee_available(payee.id)) == 0
    types = await event_types(ctx, who, escrow_id)
    assert types[-2:] == ["escrow.disputed", "escrow.refunded"]
    await _verified(ctx)


async def test_a_partial_dispute_lost_refunds_that_much_and_the_rest_is_released(
    ctx: Ctx,
) -> None:
    who, payee, held = await held_escrow(ctx)
    escrow_id = held["id"]
    dispute_id = await open_at_paypal(ctx, held["payment"]["charge"], value="40.00")
    await settle(ctx.container)
    await settle_at_paypal(ctx, dispute_id, seller_wins=False)
    await settle(ctx.container)
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 4_000)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 6_000
    released = await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    assert (released["status"], released["amount_released"]) == ("released", 6_000)
    assert await ledger_balance(ctx, payee_available(payee.id)) == 6_000
    await _verified(ctx)


async def test_a_dispute_after_release_takes_the_payees_money_back_then_won_pays_it_again(
    ctx: Ctx, clock: FrozenClock
) -> None:
    who, payee, held = await held_escrow(ctx, 8_000)
    escrow_id = held["id"]
    released = await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    assert released["status"] == "released"
    assert await ledger_balance(ctx, payee_available(payee.id)) == 8_000
    dispute_id = await open_at_paypal(ctx, held["payment"]["charge"])
    await run_dispute_jobs(ctx)
    # No transfer to reverse at PayPal: the payee's balance gives it back in the ledger.
    assert await ledger_balance(ctx, payee_available(payee.id)) == 0
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 8_000
    frozen = await escrow_of(ctx, who, escrow_id)
    assert (frozen["status"], frozen["amount_released"]) == ("disputed", 0)
    await _verified(ctx)
    await settle_at_paypal(ctx, dispute_id, seller_wins=True)
    await run_dispute_jobs(ctx)
    again = await escrow_of(ctx, who, escrow_id)
    assert (again["status"], again["amount_released"]) == ("released", 8_000)
    assert await ledger_balance(ctx, payee_available(payee.id)) == 8_000
    await _verified(ctx)


async def test_a_dispute_after_release_lost_leaves_the_payee_with_nothing(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, payee, held = await held_escrow(ctx, 6_000)
    escrow_id = held["id"]
    await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    dispute_id = await open_at_paypal(ctx, held["payment"]["charge"])
    await run_dispute_jobs(ctx)
    await settle_at_paypal(ctx, dispute_id, seller_wins=False)
    await run_dispute_jobs(ctx)
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"], after["amount_released"]) == (
        "refunded",
        6_000,
        0,
    )
    assert await ledger_balance(ctx, payee_available(payee.id)) == 0
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    await _verified(ctx)


async def test_repeated_and_out_of_order_events_are_booked_once(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, _, held = await held_escrow(ctx)
    escrow_id = held["id"]
    dispute_id = await open_at_paypal(ctx, held["payment"]["charge"])
    await settle_at_paypal(ctx, dispute_id, seller_wins=False)
    bodies = {
        json.loads(b)["event_type"]: json.loads(b)
        for b, _ in await sandbox_deliveries(ctx.container)
    }
    created, resolved = bodies["CUSTOMER.DISPUTE.CREATED"], bodies["CUSTOMER.DISPUTE.RESOLVED"]
    assert created["resource"]["dispute_id"] == resolved["resource"]["dispute_id"] == dispute_id
    # The resolution first, then the creation, each twice, then both again as new events.
    for body in (resolved, created, resolved, created, rewritten(resolved), rewritten(created)):
        await post_signed(ctx, body)
    key = await admin(ctx)
    (lost,) = await chargebacks_of(ctx, key, escrow_id)
    assert (lost["outcome"], lost["provider_withdrawn"], lost["amount_refunded"]) == (
        "lost",
        10_000,
        10_000,
    )
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"]) == ("refunded", 10_000)
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    await _verified(ctx)


async def test_a_lying_event_moves_nothing(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, _, target = await held_escrow(ctx)
    # A genuine dispute of another escrow, its event rewritten to lie about the target.
    _, _, other = await held_escrow(ctx, 5_000)
    real_id = await open_at_paypal(ctx, other["payment"]["charge"])
    (real,) = [json.loads(b) for b, _ in await sandbox_deliveries(ctx.container)]
    assert real["resource"]["dispute_id"] == real_id
    target_tx = [
        {
            **real["resource"]["disputed_transactions"][0],
            "seller_transaction_id": target["payment"]["charge"],
        }
    ]
    lies = {
        "amount": rewritten(real, dispute_amount={"currency_code": "USD", "value": "49.99"}),
        "transaction": rewritten(real, disputed_transactions=target_tx),
        "not at PayPal": rewritten(
            real,
            dispute_id="PP-D-99999999",
            disputed_transactions=target_tx,
            dispute_amount={"currency_code": "USD", "value": "100.00"},
        ),
    }
    key = await admin(ctx)
    for lie in lies.values():
        await post_signed(ctx, lie)
        assert await chargebacks_of(ctx, key, target["id"]) == []
        assert await chargebacks_of(ctx, key, other["id"]) == []
        assert (await escrow_of(ctx, who, target["id"]))["status"] == "held"
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    seen = await incidents_seen(ctx)
    for lie in lies.values():
        assert lie["id"] in seen
    # The genuine event is still followed: it was never the lie's.
    await post_signed(ctx, real)
    (chargeback,) = await chargebacks_of(ctx, key, other["id"])
    assert chargeback["provider_dispute"] == real_id
    await _verified(ctx)


async def test_a_dispute_of_a_payment_escrowd_did_not_make_is_not_followed(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    paypal = paypal_of(ctx).client
    order = await paypal.create_order(order_request("CAPTURE", 3_000), request_id=f"o-{uuid4()}")
    r = await ctx.client.post(
        f"{PAYPAL_SANDBOX_PREFIX}/checkoutnow/{order.id}",
        data={"action": "approve", "funding": "balance"},
    )
    assert r.status_code == 303, r.text
    done = await paypal.capture_order(order.id, request_id=f"c-{uuid4()}")
    assert done.purchase_units[0].payments is not None
    capture = done.purchase_units[0].payments.captures[0]
    await settle(ctx.container)
    dispute_id = await open_at_paypal(ctx, capture.id)
    await settle(ctx.container)
    key = await admin(ctx)
    r = await ctx.client.get(
        "/v1/disputes", params={"kind": "chargeback", "limit": 100}, headers=key.headers
    )
    assert dispute_id not in r.text
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert dispute_id not in await incidents_seen(ctx)
    await _verified(ctx)


async def test_a_clawback_after_release_takes_the_net_back_in_the_ledger_and_refunds_at_paypal(
    ctx: Ctx,
) -> None:
    """The same ledger-only taking back, asked for by the payer (``clawback: true``): no
    transfer to reverse, one refund of the capture at PayPal."""
    who, payee, held = await held_escrow(ctx, 9_000)
    escrow_id = held["id"]
    await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    assert await ledger_balance(ctx, payee_available(payee.id)) == 9_000
    key = await admin(ctx)
    clawed = await post(ctx, key, f"/v1/escrows/{escrow_id}/refund", {"clawback": True})
    assert (clawed["status"], clawed["amount_refunded"], clawed["amount_released"]) == (
        "refunded",
        9_000,
        0,
    )
    assert await ledger_balance(ctx, payee_available(payee.id)) == 0
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    order = await paypal_of(ctx).client.get_order(held["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    capture = order.purchase_units[0].payments.captures[0]
    assert (capture.id, capture.status) == (held["payment"]["charge"], "REFUNDED")
    await _verified(ctx)
