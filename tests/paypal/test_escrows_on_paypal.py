"""Escrows paid with PayPal, end to end against escrowd's PayPal sandbox.

Released money waits an hour before it is available (a payout delay), as a platform using
PayPal would configure it.

The payer approves each order on the sandbox's hosted approval page over HTTP, as a browser
would; escrowd's own API does everything else. Balances are checked to the cent in escrowd's
ledger and at the PayPal sandbox (its orders, captures, refunds and payout items).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from escrowd.clock import FrozenClock
from escrowd.config import Settings
from escrowd.errors import InvalidRequestError
from escrowd.escrows.ledgering import (
    PROCESSING_COSTS,
    clearing,
    escrow_account,
    payee_available,
    payee_pending,
)
from escrowd.escrows.models import Escrow, Operation, OpKind
from escrowd.escrows.tasks import CONFIRM_PAYPAL_JOB
from escrowd.jobs import enqueue
from escrowd.ledger.models import LedgerAccount, LedgerTransfer
from escrowd.providers.paypal.provider import PayPalProvider
from escrowd.reconcile.differences import Kind
from escrowd.reconcile.service import reconcile, reconcile_escrow
from tests.balances.conftest import balance_of, run_all_jobs
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    api_key_headers,
    browser,
    client,
    container,
    create_escrow,
    funded,
    get,
    keyed,
    ledger_balance,
    payees,
    payer,
    person,
    post,
    run_jobs,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.escrows.rails import approve_on_paypal
from tests.integration.conftest import make_user
from tests.reconcile.conftest import edit_sandbox_object, own_day

PAYPAL_CLEARING = clearing("paypal")
#: Released money waits this long before it is available (ESCROWD_PAYOUT_DELAY_SECONDS).
DELAY = 3600


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"payout_delay_seconds": DELAY})


async def delay_passes(ctx: Ctx, clock: FrozenClock) -> None:
    clock.advance(timedelta(seconds=DELAY))
    assert await run_all_jobs(ctx.container) >= 1


async def worker(ctx: Ctx) -> Person:
    """A payee with no connected account at all: PayPal escrows need none."""
    return person(ctx, await make_user(ctx.container, role="worker"))


def paypal_of(ctx: Ctx) -> PayPalProvider:
    provider = ctx.container.provider_named("paypal")
    assert isinstance(provider, PayPalProvider)
    return provider


async def refunds_at_paypal(ctx: Ctx, escrow_id: str) -> list[str]:
    """The amounts of the escrow's refunds as PayPal has them, in the order made."""
    async with ctx.container.db.transaction() as s:
        ops = (
            await s.scalars(
                select(Operation)
                .where(Operation.escrow_id == escrow_id, Operation.kind == OpKind.refund.value)
                .order_by(Operation.created_at, Operation.key)
            )
        ).all()
    out = []
    for op in ops:
        assert op.provider_object_id is not None, op.key
        refund = await paypal_of(ctx).client.get_refund(op.provider_object_id)
        assert refund.status == "COMPLETED"
        out.append(refund.amount.value)
    return out


async def paypal_escrow(
    ctx: Ctx, who: Person, allocations: list[tuple[str | None, int]], **body: Any
) -> dict[str, Any]:
    created = await create_escrow(ctx, who, allocations, payment_provider="paypal", **body)
    assert created["payment_provider"] == "paypal"
    started = await post(ctx, who, f"/v1/escrows/{created['id']}/fund")
    assert started["status"] == "requires_action", started
    return started


async def held_on_paypal(
    ctx: Ctx, who: Person, allocations: list[tuple[str | None, int]], **body: Any
) -> dict[str, Any]:
    """Created, approved by the payer, confirmed by the payer's second fund call."""
    started = await paypal_escrow(ctx, who, allocations, **body)
    await approve_on_paypal(ctx, started)
    return await post(ctx, who, f"/v1/escrows/{started['id']}/fund")


async def _transfers_of(ctx: Ctx, escrow_id: str) -> set[tuple[str | None, str, str, int]]:
    """(category, debit account code, credit account code, amount) of the escrow's transfers."""
    debit, credit = aliased(LedgerAccount), aliased(LedgerAccount)
    async with ctx.container.db.transaction() as s:
        rows = await s.execute(
            select(LedgerTransfer.category, debit.code, credit.code, LedgerTransfer.amount)
            .join(debit, debit.id == LedgerTransfer.debit_account_id)
            .join(credit, credit.id == LedgerTransfer.credit_account_id)
            .where(LedgerTransfer.reference == escrow_id)
        )
        return {(r[0], r[1], r[2], r[3]) for r in rows}


async def test_create_fund_release_and_pay_out_to_the_payees_paypal_email(
    ctx: Ctx, clock: FrozenClock
) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    started = await paypal_escrow(ctx, who, [(payee.id, 12_345)], fee_policy={"rate_bps": 0})
    order_id = started["payment"]["id"]
    # Not yet approved: PayPal refuses to capture; the escrow waits as it was.
    refused = await ctx.client.post(
        f"/v1/escrows/{started['id']}/fund", json={}, headers=keyed(who.headers)
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "order_not_approved"
    assert (await get(ctx, who, started["id"]))["status"] == "requires_action"
    # A card is no way to pay a PayPal escrow.
    card = await ctx.client.post(
        f"/v1/escrows/{started['id']}/fund",
        json={"payment_method": "pm_card_visa"},
        headers=keyed(who.headers),
    )
    assert card.status_code == 400, card.text
    assert card.json()["error"]["param"] == "payment_method"

    # Approved: PayPal's CHECKOUT.ORDER.APPROVED is delivered; escrowd checks the order at
    # PayPal and captures it.
    await approve_on_paypal(ctx, started)
    await settle(ctx.container)
    await run_jobs(ctx.container)
    held = await get(ctx, who, started["id"])
    assert (held["status"], held["amount_held"]) == ("held", 12_345), held
    order = await paypal_of(ctx).client.get_order(order_id)
    assert (order.intent, order.status) == ("CAPTURE", "COMPLETED")
    assert await ledger_balance(ctx, escrow_account(started["id"])) == 12_345
    # PayPal's fee, read from the capture's seller_receivable_breakdown, is booked as Stripe's
    # is: 3.49 % of 123.45 (4.31) + 0.49 = 4.80, from the platform's processing costs.
    capture = order.purchase_units[0].payments.captures[0]  # type: ignore[union-attr]
    breakdown = capture.seller_receivable_breakdown
    assert breakdown is not None
    assert breakdown.paypal_fee is not None
    assert breakdown.net_amount is not None
    assert (breakdown.paypal_fee.value, breakdown.net_amount.value) == ("4.80", "118.65")
    assert held["payment"]["processing_fee"] == 480, held["payment"]
    # The escrow's own transfers (other tests' PayPal money shares these accounts, and the
    # jobs run here are everyone's): the payment in from PayPal, its fee out of the platform's
    # processing costs into PayPal's clearing account.
    assert await _transfers_of(ctx, started["id"]) == {
        ("payment", PAYPAL_CLEARING, escrow_account(started["id"]), 12_345),
        ("processing_fee", PROCESSING_COSTS, PAYPAL_CLEARING, 480),
    }

    released = await post(ctx, who, f"/v1/escrows/{started['id']}/release")
    assert released["status"] == "released"
    assert released["results"][0]["status"] == "paid"
    assert released["results"][0]["transfer"] is None  # PayPal has no transfers
    assert await balance_of(ctx, payee) == {
        "available": {"usd": 0},
        "pending": {"usd": 12_345},
        "in_transit": {"usd": 0},
    }
    await delay_passes(ctx, clock)
    assert await balance_of(ctx, payee) == {
        "available": {"usd": 12_345},
        "pending": {"usd": 0},
        "in_transit": {"usd": 0},
    }
    assert await ledger_balance(ctx, payee_available(payee.id)) == 12_345

    # No PayPal email yet: the payout is refused, saying what to set.
    missing = await ctx.client.post(
        "/v1/payouts",
        json={"amount": 12_345, "currency": "usd", "provider": "paypal"},
        headers=keyed(payee.headers),
    )
    assert missing.status_code == 409, missing.text
    error = missing.json()["error"]
    assert error["code"] == "paypal_email_required"
    assert "/v1/payout_destination" in error["message"]
    bad = await ctx.client.post(
        "/v1/payout_destination", json={"paypal_email": "not an email"}, headers=payee.headers
    )
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["param"] == "paypal_email"
    saved = await ctx.client.post(
        "/v1/payout_destination",
        json={"paypal_email": "Payee@Example.com"},
        headers=payee.headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["paypal_email"] == "payee@example.com"
    shown = await ctx.client.get("/v1/payout_destination", headers=payee.headers)
    assert shown.json()["paypal_email"] == "payee@example.com"

    payout = await post(
        ctx, payee, "/v1/payouts", {"amount": 12_345, "currency": "usd", "provider": "paypal"}
    )
    assert (payout["provider"], payout["account"], payout["receiver_email"]) == (
        "paypal",
        None,
        "payee@example.com",
    )
    admin = await api_key_headers(ctx)
    r = await ctx.client.post(f"/v1/payouts/{payout['id']}/approve", json={}, headers=keyed(admin))
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["status"] == "paid", paid
    item = await paypal_of(ctx).client.get_payout_item(paid["provider_payout"])
    assert item.payout_item.receiver == "payee@example.com"
    assert (item.payout_item.amount.value, item.transaction_status) == ("123.45", "SUCCESS")
    assert await ledger_balance(ctx, payee_available(payee.id)) == 0


async def test_authorize_then_void_on_cancel(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    authorized = await held_on_paypal(ctx, who, [(payee.id, 5_000)], capture_mode="authorize")
    assert authorized["status"] == "authorized", authorized
    order_id = authorized["payment"]["id"]
    order = await paypal_of(ctx).client.get_order(order_id)
    assert order.intent == "AUTHORIZE"
    assert await ledger_balance(ctx, escrow_account(authorized["id"])) == 0
    cancelled = await post(ctx, who, f"/v1/escrows/{authorized['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    await run_jobs(ctx.container)
    order = await paypal_of(ctx).client.get_order(order_id)
    assert order.purchase_units[0].payments is not None
    assert order.purchase_units[0].payments.authorizations[0].status == "VOIDED"


async def test_capture_then_partial_and_full_refund(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    authorized = await held_on_paypal(
        ctx, who, [(payee.id, 10_000)], capture_mode="authorize", fee_policy={"rate_bps": 0}
    )
    escrow_id = authorized["id"]
    captured = await post(ctx, who, f"/v1/escrows/{escrow_id}/capture")
    assert (captured["status"], captured["amount_held"]) == ("held", 10_000), captured
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 10_000

    partly = await post(ctx, who, f"/v1/escrows/{escrow_id}/refund", {"amount": 2_599})
    assert (partly["status"], partly["amount_refunded"]) == ("partially_refunded", 2_599)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 7_401
    whole = await post(ctx, who, f"/v1/escrows/{escrow_id}/refund")
    assert (whole["status"], whole["amount_refunded"]) == ("refunded", 10_000)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0

    order = await paypal_of(ctx).client.get_order(captured["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    capture = order.purchase_units[0].payments.captures[0]
    assert (capture.amount.value, capture.status) == ("100.00", "REFUNDED")
    assert await refunds_at_paypal(ctx, escrow_id) == ["25.99", "74.01"]


async def test_a_dispute_resolved_with_a_split(ctx: Ctx, clock: FrozenClock) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    held = await held_on_paypal(ctx, who, [(payee.id, 8_000)], fee_policy={"rate_bps": 0})
    assert held["status"] == "held", held
    escrow_id = held["id"]
    opened = await post(ctx, who, "/v1/disputes", {"escrow": escrow_id, "reason": "quality"})
    admin_headers = await api_key_headers(ctx)
    r = await ctx.client.post(
        f"/v1/disputes/{opened['id']}/resolve",
        json={"outcome": "partial_refund", "refund_amount": 3_050},
        headers=keyed(admin_headers),
    )
    assert r.status_code == 200, r.text
    after = await get(ctx, who, escrow_id)
    assert after["amount_refunded"] == 3_050
    released = await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    assert (released["status"], released["amount_released"]) == ("released", 4_950)
    assert await ledger_balance(ctx, payee_pending(payee.id)) == 4_950
    await delay_passes(ctx, clock)
    assert await ledger_balance(ctx, payee_available(payee.id)) == 4_950
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    order = await paypal_of(ctx).client.get_order(held["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    assert order.purchase_units[0].payments.captures[0].status == "PARTIALLY_REFUNDED"
    assert await refunds_at_paypal(ctx, escrow_id) == ["30.50"]


async def test_an_unconfigured_or_unknown_provider_is_refused(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    for name in ("adyen", "PAYPAL"):
        r = await ctx.client.post(
            "/v1/escrows",
            json={
                "currency": "usd",
                "amount": 1_000,
                "allocations": [{"payee": payee.id, "amount": 1_000}],
                "payment_provider": name,
            },
            headers=who.headers,
        )
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["param"] == "payment_provider"
        assert "(configured: paypal, stripe)" in error["message"]
    stripe_default = await create_escrow(ctx, who, [(payee.id, 1_000)])
    assert stripe_default["payment_provider"] == "stripe"


async def test_the_approval_hint_is_checked_at_paypal_before_confirming(ctx: Ctx) -> None:
    """``escrow.confirm_paypal`` (what CHECKOUT.ORDER.APPROVED enqueues) confirms nothing the
    payer has not approved at PayPal, whatever the event said."""
    who, payee = await payer(ctx), await worker(ctx)
    started = await paypal_escrow(ctx, who, [(payee.id, 2_000)])
    order_id = started["payment"]["id"]
    async with ctx.container.db.transaction() as s:
        await enqueue(
            s,
            clock=ctx.container.clock,
            kind=CONFIRM_PAYPAL_JOB,
            payload={"escrow_id": started["id"], "order": order_id},
        )
    assert await run_jobs(ctx.container) == 1
    waiting = await get(ctx, who, started["id"])
    assert (waiting["status"], waiting["payment"]["attempts"]) == ("requires_action", 1)
    order = await paypal_of(ctx).client.get_order(order_id)
    assert order.status in ("CREATED", "PAYER_ACTION_REQUIRED"), order.status


async def test_reconciling_compares_each_escrow_with_its_own_provider(
    ctx: Ctx, clock: FrozenClock
) -> None:
    """A day with a card escrow and a PayPal escrow: each is compared with its own provider
    (the PayPal escrow's order and refund are never looked for at Stripe, and the other way
    round), so a clean day has no differences, and drift at PayPal is PayPal's escrow's."""
    day = own_day(clock, 97)
    who, payee = await payer(ctx), await worker(ctx)
    (card_payee,) = await payees(ctx, 1)
    card = await funded(ctx, who, [(card_payee, 4_000)])
    on_paypal = await held_on_paypal(ctx, who, [(payee.id, 6_000)], fee_policy={"rate_bps": 0})
    await post(ctx, who, f"/v1/escrows/{on_paypal['id']}/refund", {"amount": 1_000})
    await post(ctx, who, f"/v1/escrows/{on_paypal['id']}/release")
    await settle(ctx.container)
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    assert report.differences == []
    assert report.compared == {"payments": 2, "refunds": 1, "transfers": 0, "payouts": 0}
    totals = report.totals[(day.date(), "usd")]
    assert totals["charges"] == [10_000, 10_000]
    assert totals["fees"][0] == totals["fees"][1] > 0
    assert totals["refunds"] == [1_000, 1_000]
    assert (await reconcile_escrow(ctx.container, card["id"])).differences == []
    alone = await reconcile_escrow(ctx.container, on_paypal["id"])
    assert alone.differences == []
    assert alone.compared == {"payments": 1, "refunds": 1, "transfers": 0, "payouts": 0}

    # A PayPal order PayPal reports with another amount is the PayPal escrow's difference,
    # and only its: the card escrow stays clean.
    order = await paypal_of(ctx).client.get_order(on_paypal["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    capture = order.purchase_units[0].payments.captures[0]
    await edit_sandbox_object(ctx, capture.id, amount={"currency_code": "USD", "value": "60.50"})
    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    assert [(d.kind, d.escrow_id, d.ours, d.theirs) for d in report.differences] == [
        (Kind.payment_amount, on_paypal["id"], 6_000, 6_050)
    ]
    assert (await reconcile_escrow(ctx.container, card["id"])).differences == []
    # An escrow paid through a provider that is not configured cannot be compared.
    async with ctx.container.db.transaction() as s:
        await s.execute(update(Escrow).where(Escrow.id == on_paypal["id"]).values(provider="adyen"))
    with pytest.raises(InvalidRequestError) as refused:
        await reconcile_escrow(ctx.container, on_paypal["id"])
    assert refused.value.code == "reconcile_provider_unsupported"
    async with ctx.container.db.transaction() as s:
        await s.execute(
            update(Escrow).where(Escrow.id == on_paypal["id"]).values(provider="paypal")
        )
