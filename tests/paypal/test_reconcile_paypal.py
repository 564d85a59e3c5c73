"""Reconciliation of PayPal escrows against escrowd's PayPal sandbox.

Each escrow's order is read back by id (its captures, PayPal's fee on them, its refunds) and
compared with the ledger as a Stripe escrow's payment is. Drift is made where it happens:
at PayPal directly (a dashboard refund, a capture escrowd never saw) with the webhook left
unprocessed, or by editing a stored object (a capture PayPal reports with another amount).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from escrowd.clock import FrozenClock
from escrowd.escrows.models import Escrow, Operation, OpKind
from escrowd.jobs.models import Incident, Job
from escrowd.jobs.worker import Worker
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import money
from escrowd.reconcile.differences import Kind
from escrowd.reconcile.domain import OurPayout, TheirPayout, compare_payout
from escrowd.reconcile.service import reconcile, reconcile_escrow, reconcile_payout
from escrowd.reconcile.sweep import DIFFERENCE_JOB, daily
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    _ledger_verified_after_module,
    _stripe_spec,
    api_key_headers,
    browser,
    client,
    container,
    keyed,
    payer,
    post,
    run_jobs,
    settle,
    sweep,
)
from tests.escrows.conftest import ctx as ctx
from tests.escrows.rails import approve_on_paypal
from tests.paypal.test_escrows_on_paypal import (
    held_on_paypal,
    paypal_escrow,
    paypal_of,
    worker,
)
from tests.reconcile.conftest import edit_sandbox_object, own_day


async def capture_of(ctx: Ctx, order_id: str) -> shapes.Capture:
    order = await paypal_of(ctx).client.get_order(order_id)
    payments = order.purchase_units[0].payments
    assert payments is not None
    assert payments.captures
    return payments.captures[0]


def usd(value: str) -> dict[str, str]:
    return {"currency_code": "USD", "value": value}


async def refund_op(ctx: Ctx, escrow_id: str) -> Operation:
    async with ctx.container.db.transaction() as s:
        stmt = select(Operation).where(
            Operation.escrow_id == escrow_id, Operation.kind == OpKind.refund.value
        )
        (op,) = (await s.scalars(stmt)).all()
        return op


async def test_a_clean_paypal_escrow_reconciles_with_no_differences(
    ctx: Ctx, clock: FrozenClock
) -> None:
    day = own_day(clock, 90)
    who, payee = await payer(ctx), await worker(ctx)
    held = await held_on_paypal(ctx, who, [(payee.id, 10_000)])
    assert held["status"] == "held", held
    fee = held["payment"]["processing_fee"]
    assert fee == 398  # 3.49 % of 100.00, plus 0.49
    await post(ctx, who, f"/v1/escrows/{held['id']}/refund", {"amount": 1_500})
    await post(ctx, who, f"/v1/escrows/{held['id']}/release")
    await settle(ctx.container)
    await run_jobs(ctx.container)
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    assert report.differences == []
    # PayPal has no transfers: the release moved money only in the ledger.
    assert report.compared == {"payments": 1, "refunds": 1, "transfers": 0, "payouts": 0}
    [(slot, totals)] = report.totals.items()
    assert slot == (day.date(), "usd")
    assert totals["charges"] == [10_000, 10_000]
    assert totals["fees"] == [fee, fee]
    assert totals["refunds"] == [1_500, 1_500]
    # Nor is the release counted on the ledger's side of the day's transfers.
    assert totals["transfers"] == [0, 0]
    alone = await reconcile_escrow(ctx.container, held["id"])
    assert alone.differences == []
    assert alone.compared == {"payments": 1, "refunds": 1, "transfers": 0, "payouts": 0}


async def test_a_refund_made_at_paypal_outside_escrowd_is_a_difference(
    ctx: Ctx, clock: FrozenClock
) -> None:
    day = own_day(clock, 91)
    who, payee = await payer(ctx), await worker(ctx)
    held = await held_on_paypal(ctx, who, [(payee.id, 8_000)])
    await settle(ctx.container)
    capture = await capture_of(ctx, held["payment"]["id"])
    # From PayPal's dashboard; its PAYMENT.CAPTURE.REFUNDED webhook is not processed yet.
    refund = await paypal_of(ctx).client.refund_capture(
        capture.id, shapes.RefundRequest(amount=money(2_500, "usd")), request_id="dash-91"
    )
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    [difference] = report.differences
    assert (difference.kind, difference.escrow_id, difference.object_id) == (
        Kind.refund_unrecorded,
        held["id"],
        refund.id,
    )
    assert (difference.ours, difference.theirs) == (None, 2_500)
    assert held["payment"]["id"] in difference.detail
    assert difference.advice
    assert report.totals[(day.date(), "usd")]["refunds"] == [0, 2_500]
    alone = await reconcile_escrow(ctx.container, held["id"])
    assert [(d.kind, d.object_id) for d in alone.differences] == [
        (Kind.refund_unrecorded, refund.id)
    ]

    # Once the webhook is processed escrowd books the refund: the difference is gone.
    await settle(ctx.container)
    await run_jobs(ctx.container)
    await settle(ctx.container)
    assert (await reconcile_escrow(ctx.container, held["id"])).differences == []


async def test_amounts_that_differ_and_money_escrowd_did_not_record(
    ctx: Ctx, clock: FrozenClock
) -> None:
    day = own_day(clock, 92)
    who, payee = await payer(ctx), await worker(ctx)
    # (a) PayPal reports its capture one cent above what the ledger funded, with another fee.
    off = await held_on_paypal(ctx, who, [(payee.id, 4_000)])
    off_capture = await capture_of(ctx, off["payment"]["id"])
    breakdown = {
        "gross_amount": usd("40.01"),
        "paypal_fee": usd("2.00"),
        "net_amount": usd("38.01"),
    }
    await edit_sandbox_object(
        ctx, off_capture.id, amount=usd("40.01"), seller_receivable_breakdown=breakdown
    )
    # (b) a refund escrowd made, which PayPal reports with another amount.
    refunded = await held_on_paypal(ctx, who, [(payee.id, 6_000)])
    await post(ctx, who, f"/v1/escrows/{refunded['id']}/refund", {"amount": 1_000})
    op = await refund_op(ctx, refunded["id"])
    assert op.provider_object_id is not None
    await edit_sandbox_object(ctx, op.provider_object_id, amount=usd("12.00"))
    # (c) a refund escrowd booked that PayPal does not have (a hand-edited record); the real
    # refund, listed on the order, is then one the ledger does not name.
    lost = await held_on_paypal(ctx, who, [(payee.id, 5_000)])
    await post(ctx, who, f"/v1/escrows/{lost['id']}/refund", {"amount": 700})
    lost_op = await refund_op(ctx, lost["id"])
    async with ctx.container.db.transaction() as s:
        await s.execute(
            update(Operation)
            .where(Operation.key == lost_op.key)
            .values(provider_object_id="NOTATPAYPAL1")
        )
    # (d) a capture made at PayPal that escrowd never recorded: approved, then captured
    # outside escrowd, its webhook not processed.
    started = await paypal_escrow(ctx, who, [(payee.id, 3_000)])
    await approve_on_paypal(ctx, started)
    await paypal_of(ctx).client.capture_order(started["payment"]["id"], request_id="outside-92")
    # (e) a funded escrow whose recorded order PayPal does not know.
    unknown = await held_on_paypal(ctx, who, [(payee.id, 2_000)])
    async with ctx.container.db.transaction() as s:
        await s.execute(
            update(Escrow).where(Escrow.id == unknown["id"]).values(payment_id="NOTATPAYPAL2")
        )
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    found: dict[tuple[Kind, str | None, str], Any] = {
        (d.kind, d.escrow_id, d.object_id): d for d in report.differences
    }
    assert set(found) == {
        (Kind.payment_amount, off["id"], off["payment"]["id"]),
        (Kind.fee_amount, off["id"], off["payment"]["id"]),
        (Kind.refund_amount, refunded["id"], op.provider_object_id),
        (Kind.refund_missing, lost["id"], "NOTATPAYPAL1"),
        (Kind.refund_unrecorded, lost["id"], lost_op.provider_object_id),
        (Kind.payment_unrecorded, started["id"], started["payment"]["id"]),
        (Kind.payment_missing, unknown["id"], "NOTATPAYPAL2"),
    }
    amounts = {(d.kind, d.escrow_id): (d.ours, d.theirs) for d in report.differences}
    assert amounts[(Kind.payment_amount, off["id"])] == (4_000, 4_001)
    assert amounts[(Kind.fee_amount, off["id"])] == (off["payment"]["processing_fee"], 200)
    assert amounts[(Kind.refund_amount, refunded["id"])] == (1_000, 1_200)
    assert amounts[(Kind.refund_missing, lost["id"])] == (700, None)
    assert amounts[(Kind.refund_unrecorded, lost["id"])] == (None, 700)
    assert amounts[(Kind.payment_unrecorded, started["id"])] == (None, 3_000)
    assert amounts[(Kind.payment_missing, unknown["id"])] == (2_000, None)
    assert all(d.advice for d in report.differences)
    # One escrow at a time finds its own.
    alone = await reconcile_escrow(ctx.container, off["id"])
    assert {d.kind for d in alone.differences} == {Kind.payment_amount, Kind.fee_amount}
    alone = await reconcile_escrow(ctx.container, started["id"])
    assert [d.kind for d in alone.differences] == [Kind.payment_unrecorded]


async def test_the_daily_sweep_opens_an_incident_for_a_paypal_difference(
    ctx: Ctx, clock: FrozenClock
) -> None:
    own_day(clock, 93)
    who, payee = await payer(ctx), await worker(ctx)
    held = await held_on_paypal(ctx, who, [(payee.id, 5_000)])
    await settle(ctx.container)
    capture = await capture_of(ctx, held["payment"]["id"])
    await paypal_of(ctx).client.refund_capture(
        capture.id, shapes.RefundRequest(amount=money(500, "usd")), request_id="dash-93"
    )
    clock.advance(timedelta(days=1))

    async def incidents() -> list[Incident]:
        async with ctx.container.db.transaction() as s:
            stmt = (
                select(Incident)
                .join(Job, Job.id == Incident.job_id)
                .where(Job.dedupe_key.like(f"reconcile:%:{held['id']}:%"))
            )
            return list((await s.scalars(stmt)).all())

    worker_ = Worker(ctx.container, kinds=[DIFFERENCE_JOB], run_sweeps=False)
    assert await sweep(ctx.container, daily) == 1
    await worker_.tick()
    [incident] = await incidents()
    assert incident.error.startswith("PermanentJobError: refund_unrecorded: refund ")
    assert "What to do:" in incident.error


async def test_payouts_to_paypal_emails_are_compared_with_paypal(
    ctx: Ctx, clock: FrozenClock
) -> None:
    day = own_day(clock, 94)
    who, payee = await payer(ctx), await worker(ctx)
    held = await held_on_paypal(ctx, who, [(payee.id, 9_000)], fee_policy={"rate_bps": 0})
    await post(ctx, who, f"/v1/escrows/{held['id']}/release")
    await settle(ctx.container)
    await run_jobs(ctx.container)
    saved = await ctx.client.post(
        "/v1/payout_destination", json={"paypal_email": "p94@example.com"}, headers=payee.headers
    )
    assert saved.status_code == 200, saved.text
    admin = await api_key_headers(ctx)
    paid: list[dict[str, Any]] = []
    for amount in (5_000, 4_000):
        payout = await post(
            ctx, payee, "/v1/payouts", {"amount": amount, "currency": "usd", "provider": "paypal"}
        )
        r = await ctx.client.post(
            f"/v1/payouts/{payout['id']}/approve", json={}, headers=keyed(admin)
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid", r.json()
        paid.append(r.json())
    await settle(ctx.container)
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    assert report.differences == []
    assert report.compared["payouts"] == 2

    # PayPal reports the first item returned to the platform, the second of another amount.
    returned, other = (p["provider_payout"] for p in paid)
    await edit_sandbox_object(ctx, returned, transaction_status="RETURNED")
    await edit_sandbox_object(
        ctx,
        other,
        payout_item={
            "recipient_type": "EMAIL",
            "amount": {"currency": "USD", "value": "41.00"},
            "receiver": "p94@example.com",
        },
    )
    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    found = {(d.kind, d.object_id): d for d in report.differences}
    assert set(found) == {(Kind.payout_missing, returned), (Kind.payout_amount, other)}
    missing = found[(Kind.payout_missing, returned)]
    assert (missing.escrow_id, missing.payout_id, missing.ours, missing.theirs) == (
        None,
        paid[0]["id"],
        5_000,
        0,
    )
    assert missing.as_dict()["payout"] == paid[0]["id"]
    assert "RETURNED" not in missing.detail  # neutral words: the payout "is failed"
    assert "is failed" in missing.detail
    differs = found[(Kind.payout_amount, other)]
    assert (differs.ours, differs.theirs) == (4_000, 4_100)
    assert all(d.advice for d in report.differences)
    # The sweep's fresh look at one payout finds the same.
    fresh = await reconcile_payout(ctx.container, paid[0]["id"])
    assert [d.key for d in fresh.differences] == [missing.key]


def test_a_payout_escrowd_gave_back_but_paypal_paid_out_is_unrecorded() -> None:
    ours = OurPayout(
        payout_id="po_1",
        party_id="usr_1",
        currency="usd",
        provider_payout_id="ITEM1",
        status="failed",
        sent=0,
    )
    [d] = compare_payout(ours, TheirPayout(id="ITEM1", currency="usd", amount=2_500, status="paid"))
    assert (d.kind, d.ours, d.theirs, d.payout_id) == (Kind.payout_unrecorded, None, 2_500, "po_1")
    # Returned at PayPal too: nothing to say. Still open at escrowd: settling.
    assert compare_payout(ours, TheirPayout("ITEM1", "usd", 2_500, "failed")) == []
    opened = OurPayout("po_2", "usr_1", "usd", "ITEM2", "in_transit", 0)
    assert compare_payout(opened, TheirPayout("ITEM2", "usd", 2_500, "paid")) == []
    # Sent and matched: nothing; sent but unknown at PayPal: missing.
    sent = OurPayout("po_3", "usr_1", "usd", "ITEM3", "paid", 2_500)
    assert compare_payout(sent, TheirPayout("ITEM3", "usd", 2_500, "in_transit")) == []
    [gone] = compare_payout(sent, None)
    assert (gone.kind, gone.ours, gone.theirs) == (Kind.payout_missing, 2_500, None)
