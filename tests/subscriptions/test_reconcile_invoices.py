"""Subscription invoices in the ledger and in reconciliation: each paid invoice books its
revenue and the provider's fee on its payment, and each invoice's payment is matched to that
booking (amount, currency, fee) on the day the provider made it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from escrowd.clock import FrozenClock
from escrowd.escrows.ledgering import PROCESSING_COSTS
from escrowd.jobs import PermanentJobError
from escrowd.jobs.registry import JobContext, JobInfo
from escrowd.ledger.models import LedgerAccount, LedgerTransfer
from escrowd.ledger.verify import verify
from escrowd.reconcile.differences import Difference, Kind
from escrowd.reconcile.service import day_start, reconcile, reconcile_invoice
from escrowd.reconcile.sweep import DIFFERENCE_JOB, difference
from escrowd.webhooks.models import InboundWebhookEvent
from tests.escrows.conftest import Ctx, payer, settle
from tests.reconcile.conftest import edit_sandbox_object, own_day
from tests.subscriptions.conftest import RETURN_URL, active, days_pass, stripe, subscribe

PRO = 4900
#: The sandbox's card fee on $49.00: 2.9 % (142.1, rounded to 142) + 30.
PRO_FEE = 172


def _clock(ctx: Ctx) -> FrozenClock:
    clock = ctx.container.clock
    assert isinstance(clock, FrozenClock)
    return clock


async def _invoices(ctx: Ctx, provider_sub: str) -> list[dict[str, Any]]:
    """The subscription's invoices at the provider, oldest first."""
    listed = await stripe(ctx, "GET", f"invoices?subscription={provider_sub}&limit=100")
    return sorted(listed["data"], key=lambda i: i["created"])


async def _booked(ctx: Ctx, sub_id: str) -> dict[str, tuple[str, int]]:
    """The subscription's ledger transfers: id → (category, amount)."""
    async with ctx.container.db.transaction() as s:
        rows = await s.execute(
            select(LedgerTransfer.id, LedgerTransfer.category, LedgerTransfer.amount).where(
                LedgerTransfer.reference == sub_id
            )
        )
        return {str(i): (str(c), int(a)) for i, c, a in rows}


async def _reconcile_day(ctx: Ctx, created: int) -> Any:
    """Reconcile the whole UTC day of ``created`` (an hour on: younger objects wait)."""
    _clock(ctx).advance(timedelta(hours=1))
    start = day_start(datetime.fromtimestamp(created, UTC).date())
    return await reconcile(ctx.container, since=start, until=start + timedelta(days=1))


async def test_first_payment_renewal_and_failed_renewal_book_fees_and_reconcile_clean(
    ctx: Ctx,
) -> None:
    own_day(_clock(ctx), 60)
    who = await payer(ctx)
    sub = await active(ctx, who)
    await days_pass(ctx, 31)  # the provider renews it, paid
    first, renewal = await _invoices(ctx, sub["provider_subscription"])
    assert [first["status"], renewal["status"]] == ["paid", "paid"]
    assert await _booked(ctx, sub["id"]) == {
        f"{first['id']}:subscription": ("subscription", PRO),
        f"{first['id']}:processing_fee": ("processing_fee", PRO_FEE),
        f"{renewal['id']}:subscription": ("subscription", PRO),
        f"{renewal['id']}:processing_fee": ("processing_fee", PRO_FEE),
    }
    async with ctx.container.db.transaction() as s:
        fee = await s.get(LedgerTransfer, f"{renewal['id']}:processing_fee")
        assert fee is not None
        debit = await s.get(LedgerAccount, fee.debit_account_id)
        assert debit is not None
        assert debit.code == PROCESSING_COSTS

    for invoice in (first, renewal):
        report = await _reconcile_day(ctx, invoice["created"])
        assert report.differences == []
        assert report.compared["payments"] == 1
        [(_, totals)] = report.totals.items()
        assert totals["charges"] == [PRO, PRO]
        assert totals["fees"] == [PRO_FEE, PRO_FEE]

    # The card starts declining: the next renewal fails and books nothing.
    customer = (await stripe(ctx, "GET", f"subscriptions/{sub['provider_subscription']}"))[
        "customer"
    ]
    card = await stripe(
        ctx, "POST", "payment_methods/pm_card_chargeCustomerFail/attach", customer=customer
    )
    await stripe(
        ctx,
        "POST",
        f"subscriptions/{sub['provider_subscription']}",
        default_payment_method=card["id"],
    )
    await days_pass(ctx, 31)
    *_, failed = await _invoices(ctx, sub["provider_subscription"])
    assert failed["status"] == "open"
    assert failed["attempt_count"] == 1
    assert not any(k.startswith(failed["id"]) for k in await _booked(ctx, sub["id"]))
    report = await _reconcile_day(ctx, failed["created"])
    assert report.differences == []
    assert (await verify(ctx.container.db)).ok


async def _replay(ctx: Ctx, found: Difference) -> None:
    """Run the difference's incident job again, as replaying the incident does."""
    now = ctx.container.clock.now()
    info = JobInfo(
        id="job_replay",
        kind=DIFFERENCE_JOB,
        attempt=1,
        max_attempts=1,
        dedupe_key=None,
        run_at=now,
        created_at=now,
    )
    await difference(JobContext(ctx.container, info, "test"), found.as_dict())


def _by_kind(differences: list[Difference]) -> dict[Kind, Difference]:
    out = {d.kind: d for d in differences}
    assert len(out) == len(differences), differences
    return out


async def test_a_changed_payment_a_missing_payment_and_an_unbooked_invoice_are_reported(
    ctx: Ctx,
) -> None:
    day = own_day(_clock(ctx), 61)
    tampered = await active(ctx, await payer(ctx))
    vanished = await active(ctx, await payer(ctx))
    [tampered_invoice] = await _invoices(ctx, tampered["provider_subscription"])
    [vanished_invoice] = await _invoices(ctx, vanished["provider_subscription"])

    # The provider's side drifts from what escrowd booked: one payment took less and cost a
    # different fee, another is canceled there.
    pi = await stripe(ctx, "GET", f"payment_intents/{tampered_invoice['payment_intent']}")
    charge = await stripe(ctx, "GET", f"charges/{pi['latest_charge']}")
    await edit_sandbox_object(ctx, charge["id"], amount_captured=PRO - 100)
    await edit_sandbox_object(ctx, charge["balance_transaction"], fee=PRO_FEE + 8)
    await edit_sandbox_object(ctx, vanished_invoice["payment_intent"], status="canceled")

    # An invoice paid at the provider that escrowd never booked: a subscription made on the
    # provider's dashboard, not through escrowd.
    customer = await stripe(ctx, "POST", "customers", email="outside@example.test")
    card = await stripe(ctx, "POST", "payment_methods/pm_card_visa/attach", customer=customer["id"])
    price = tampered_invoice["lines"]["data"][0]["price"]["id"]
    outside = await stripe(
        ctx,
        "POST",
        "subscriptions",
        customer=customer["id"],
        **{"items[0][price]": price},
        default_payment_method=card["id"],
    )
    try:
        await settle(ctx.container)
        [outside_invoice] = await _invoices(ctx, outside["id"])
        assert outside_invoice["status"] == "paid"

        _clock(ctx).advance(timedelta(hours=1))
        report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
        found = _by_kind(report.differences)
        assert set(found) == {
            Kind.invoice_amount,
            Kind.fee_amount,
            Kind.invoice_missing,
            Kind.invoice_unrecorded,
        }
        amount = found[Kind.invoice_amount]
        assert (amount.object_id, amount.ours, amount.theirs) == (pi["id"], PRO, PRO - 100)
        assert amount.escrow_id is None
        assert tampered_invoice["id"] in amount.detail
        fee = found[Kind.fee_amount]
        assert (fee.object_id, fee.ours, fee.theirs) == (pi["id"], PRO_FEE, PRO_FEE + 8)
        missing = found[Kind.invoice_missing]
        assert missing.object_id == vanished_invoice["payment_intent"]
        assert (missing.ours, missing.theirs) == (PRO, PRO)
        assert "canceled" in missing.detail
        assert vanished["id"] in missing.detail
        unrecorded = found[Kind.invoice_unrecorded]
        assert unrecorded.object_id == outside_invoice["payment_intent"]
        assert (unrecorded.ours, unrecorded.theirs) == (None, PRO)
        assert outside_invoice["id"] in unrecorded.detail
        # Every difference is about an invoice: no invoice payment is taken for an escrow's.
        assert all(d.kind is not Kind.payment_unrecorded for d in report.differences)
        assert all(d.advice for d in report.differences)
        assert {d.as_dict()["invoice"] for d in report.differences} == {
            tampered_invoice["id"],
            vanished_invoice["id"],
            outside_invoice["id"],
        }

        # Put right at the provider, the fee difference is gone when its invoice is checked
        # again (as the sweep does when the incident is replayed); the amount's stays.
        await edit_sandbox_object(ctx, charge["balance_transaction"], fee=PRO_FEE)
        again = await reconcile_invoice(ctx.container, tampered_invoice["id"])
        assert [d.key for d in again.differences] == [amount.key]
        await _replay(ctx, fee)  # quietly: nothing to report
        with pytest.raises(PermanentJobError, match="invoice_amount"):
            await _replay(ctx, amount)
        assert (await verify(ctx.container.db)).ok
    finally:
        # Left running, it would renew on whatever day a later test moves the clock to.
        await stripe(ctx, "DELETE", f"subscriptions/{outside['id']}")


async def test_an_invoice_paid_by_a_charge_of_another_amount_is_rejected_and_books_nothing(
    ctx: Ctx,
) -> None:
    who = await payer(ctx)
    created = await subscribe(ctx, who, "pro")
    secret = created["client_secret"]
    pi = await stripe(
        ctx,
        "POST",
        f"payment_intents/{secret.split('_secret_')[0]}/confirm",
        client_secret=secret,
        return_url=RETURN_URL,
    )
    assert pi["status"] == "succeeded"
    # Before escrowd hears of it, the charge the invoice names is not for the invoice's amount.
    await edit_sandbox_object(ctx, pi["latest_charge"], amount_captured=PRO - 1)
    await settle(ctx.container)
    assert await _booked(ctx, created["id"]) == {}
    async with ctx.container.db.transaction() as s:
        paid = (
            await s.scalars(
                select(InboundWebhookEvent).where(
                    InboundWebhookEvent.type == "invoice.paid",
                    InboundWebhookEvent.object_id == pi["invoice"],
                )
            )
        ).one()
    assert paid.status == "rejected"
    assert paid.last_error is not None
    assert pi["latest_charge"] in paid.last_error
