"""Reconciliation: gather both sides (sides.py), compare them (domain.py), report.

``reconcile(container, since=…, until=…)`` works one UTC day at a time: the provider's lists
for the day, the ledger's transfers of the day, then escrowd's records of whatever either
side touched, compared whole. Only a day's objects are held at once, however long the range.
A record one side has in the day and the other dated just outside it (a payment created
before midnight and captured after) is fetched by id: one call, only for those.

The other configured providers (PayPal) are not listed by date: each day, the escrows paid
through them that the ledger touched or that were created that day are read payment by
payment (``_reconcile_by_id``), and so are their payouts settled that day.

``reconcile_escrow(container, escrow_id)`` compares one escrow's whole life, at the provider
it is paid through; ``reconcile_invoice(container, invoice_id)`` one subscription invoice;
``reconcile_payout(container, payout_id)`` one payout.

A payment that paid a subscription invoice is compared with the invoice's booking, not with
the escrows: the provider's invoices of the day name their payments (older API versions also
name the invoice on the payment), and an invoice escrowd booked but the day's list lacks is
fetched by id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.bootstrap import Container
from escrowd.errors import InvalidRequestError, NotFoundError
from escrowd.escrows.models import Escrow, Operation
from escrowd.payouts.models import Payout
from escrowd.providers.base import Capability, PaymentProvider
from escrowd.providers.errors import ProviderError
from escrowd.providers.types import Invoice, Refund, TimeRange
from escrowd.reconcile.differences import Difference
from escrowd.reconcile.domain import (
    PAYOUT_UNDONE,
    OurPayment,
    OurPayout,
    OurRefund,
    OurTransfer,
    TheirInvoice,
    TheirPayment,
    TheirRefund,
    TheirTransfer,
    compare_invoice,
    compare_payment,
    compare_payout,
    compare_refund,
    compare_transfer,
)
from escrowd.reconcile.sides import (
    MEASURES,
    Ours,
    Theirs,
    Totals,
    Touched,
    escrows_paid_through,
    escrows_through,
    ledger_window,
    load_invoices,
    load_ours,
    load_payouts,
    their_payment,
    their_payments_by_id,
    their_payout,
    their_transfer,
    their_window,
)

#: Objects younger than this are not judged: their webhooks and settlements may be on the way.
GRACE = timedelta(minutes=10)
DAY = timedelta(days=1)

#: One of our records of a kind (payment, refund, transfer) and the provider's object of it.
M = TypeVar("M")
T = TypeVar("T")

#: ``progress(done, total, description)``, called as the days go by.
Progress = Callable[[int, int, str], None]


@dataclass
class Report:
    since: datetime | None
    until: datetime | None
    escrow_id: str | None
    differences: list[Difference] = field(default_factory=list)
    #: (day, currency) → measure → [ours, theirs].
    totals: dict[tuple[date, str], dict[str, list[int]]] = field(default_factory=dict)
    #: How many payments, refunds and transfers were compared.
    compared: dict[str, int] = field(
        default_factory=lambda: {"payments": 0, "refunds": 0, "transfers": 0, "payouts": 0}
    )
    #: Escrows left out because an operation of theirs is in flight.
    in_flight: set[str] = field(default_factory=set)
    _keys: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.differences

    def merge_totals(self, ours: Totals, theirs: Totals) -> None:
        for side, totals in ((0, ours), (1, theirs)):
            for slot, measures in totals.items():
                row = self.totals.setdefault(slot, {m: [0, 0] for m in MEASURES})
                for measure, amount in measures.items():
                    row[measure][side] += amount

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "escrow": self.escrow_id,
            "ok": self.ok,
            "compared": self.compared,
            "in_flight": sorted(self.in_flight),
            "differences": [d.as_dict() for d in self.differences],
            "days": [
                {
                    "day": day.isoformat(),
                    "currency": currency,
                    **{m: {"ours": v[0], "theirs": v[1]} for m, v in measures.items()},
                }
                for (day, currency), measures in sorted(self.totals.items())
            ],
        }


def _their_refund(refund: Refund, ours: Ours) -> TheirRefund:
    return TheirRefund(
        id=refund.id,
        payment_id=refund.payment_id,
        escrow_id=ours.escrow_of_payment.get(refund.payment_id or ""),
        currency=refund.currency,
        amount=refund.amount,
        status=refund.status,
    )


class RecentPayments:
    """The provider's payments a run has already seen (listed on one day, or fetched), so a
    payment that later days reach again through a refund or a release is not fetched again.
    Bounded: a long range keeps the most recent ``size`` only."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: dict[str, TheirPayment] = {}
        #: Payment id → the invoice it paid, for invoices seen: a renewal's payment may be
        #: created the day after its invoice, and current API versions name the invoice only
        #: from the invoice's side.
        self._invoice_of: dict[str, str] = {}

    def invoice_of(self, payment_id: str) -> str | None:
        return self._invoice_of.get(payment_id)

    def add_invoice(self, invoice: Invoice) -> None:
        if invoice.payment_id is None:
            return
        self._invoice_of.pop(invoice.payment_id, None)
        self._invoice_of[invoice.payment_id] = invoice.id
        if len(self._invoice_of) > self.size:
            del self._invoice_of[next(iter(self._invoice_of))]

    def get(self, payment_id: str) -> TheirPayment | None:
        return self._seen.get(payment_id)

    def add(self, payment: TheirPayment) -> None:
        self._seen.pop(payment.id, None)
        self._seen[payment.id] = payment
        if len(self._seen) > self.size:
            del self._seen[next(iter(self._seen))]


async def compare(
    provider: PaymentProvider,
    ours: Ours,
    theirs: Theirs,
    counts: dict[str, int],
    recent: RecentPayments | None = None,
) -> list[Difference]:
    """Every difference between the two sides; fetches what one side lacks by id (a payment
    in ``recent`` is not fetched again).

    ``counts`` gains how many payments, refunds and transfers were compared.
    """
    recent = recent or RecentPayments()
    for listed in theirs.payments.values():
        recent.add(listed)
    invoices = await _their_invoices(provider, ours, theirs, recent)
    invoice_payments = {i.payment_id for i in invoices.values() if i.payment_id}
    # A payment that paid an invoice is compared with the invoice's booking, below.
    payments = {k: v for k, v in theirs.payments.items() if k not in invoice_payments}
    out: list[Difference] = []
    counts["payments"] += len(ours.payments) + len(set(payments) - set(ours.escrow_of_payment))
    counts["refunds"] += len(ours.refunds) + len(
        set(theirs.refunds) - {r.refund_id for r in ours.refunds.values()}
    )
    counts["transfers"] += len(ours.transfers) + len(
        set(theirs.transfers) - {t.transfer_id for t in ours.transfers.values()}
    )

    async def fetch_payment(mine: OurPayment, pid: str) -> TheirPayment | None:
        # Nothing was funded: a payment the provider does not list is no difference, so it
        # is not worth a call.
        if mine.funded <= 0:
            return None
        seen = recent.get(pid)
        if seen is None:
            seen = their_payment(await provider.retrieve_payment_record(pid))
            recent.add(seen)
        return seen

    async def fetch_refund(_: OurRefund, rid: str) -> TheirRefund:
        return _their_refund(await provider.retrieve_refund(rid), ours)

    async def fetch_transfer(_: OurTransfer, tid: str) -> TheirTransfer:
        return their_transfer(await provider.retrieve_transfer(tid))

    out += await _pair_up(
        ours.payments.values(),
        payments,
        lambda mine: mine.payment_id,
        fetch_payment,
        compare_payment,
    )
    out += await _pair_up(
        ours.refunds.values(),
        {r.id: _their_refund(r, ours) for r in theirs.refunds.values()},
        lambda mine: mine.refund_id,
        fetch_refund,
        compare_refund,
    )
    out += await _pair_up(
        ours.transfers.values(),
        theirs.transfers,
        lambda mine: mine.transfer_id,
        fetch_transfer,
        compare_transfer,
    )
    for invoice_id in sorted(set(ours.invoices) | set(invoices)):
        mine, theirs_ = ours.invoices.get(invoice_id), invoices.get(invoice_id)
        if mine is not None or (theirs_ is not None and theirs_.paid):
            counts["payments"] += 1
        out += compare_invoice(mine, theirs_)
    return out


async def _their_invoices(
    provider: PaymentProvider, ours: Ours, theirs: Theirs, recent: RecentPayments
) -> dict[str, TheirInvoice]:
    """The provider's side of every invoice in play: those it listed, those its listed
    payments paid, and those escrowd booked (fetched by id), each with its payment."""
    found: dict[str, Invoice] = dict(theirs.invoices)
    for invoice in found.values():
        recent.add_invoice(invoice)
    wanted = set(ours.invoices) | {
        i
        for p in theirs.payments.values()
        if (i := p.invoice_id or recent.invoice_of(p.id)) is not None
    }
    for invoice_id in sorted(wanted - set(found)):
        try:
            invoice = await provider.retrieve_invoice(invoice_id)
        except ProviderError as exc:
            if not exc.missing:
                raise
            continue
        found[invoice.id] = invoice
        recent.add_invoice(invoice)
    out: dict[str, TheirInvoice] = {}
    for invoice in found.values():
        payment: TheirPayment | None = None
        pid = invoice.payment_id
        # An open or void invoice escrowd did not book needs no look at its payment.
        if pid is not None and (invoice.status == "paid" or invoice.id in ours.invoices):
            payment = theirs.payments.get(pid) or recent.get(pid)
            if payment is None:
                try:
                    payment = their_payment(await provider.retrieve_payment_record(pid))
                except ProviderError as exc:
                    if not exc.missing:
                        raise
                else:
                    recent.add(payment)
        out[invoice.id] = TheirInvoice(
            id=invoice.id,
            status=invoice.status,
            currency=invoice.currency,
            amount_paid=invoice.amount_paid,
            payment_id=pid,
            payment=payment,
        )
    return out


async def _pair_up(
    ours: Iterable[M],
    theirs: Mapping[str, T],
    their_id: Callable[[M], str | None],
    fetch: Callable[[M, str], Awaitable[T | None]],
    compare: Callable[[M | None, T | None], list[Difference]],
) -> list[Difference]:
    """Compare each of our records with the provider's object of the id it recorded.

    An object outside the provider's list for the range is fetched by id (the provider
    answering that it does not exist counts as missing); the objects of the list that no
    record of ours names are compared with nothing.
    """
    unmatched = dict(theirs)
    out: list[Difference] = []
    for mine in ours:
        key = their_id(mine)
        other = unmatched.pop(key, None) if key else None
        if other is None and key:
            try:
                other = await fetch(mine, key)
            except ProviderError as exc:
                if not exc.missing:
                    raise
        out += compare(mine, other)
    for other in unmatched.values():
        out += compare(None, other)
    return out


def _record(report: Report, ours: Ours, found: list[Difference]) -> None:
    for d in found:
        if d.escrow_id is not None and d.escrow_id in ours.in_flight:
            report.in_flight.add(d.escrow_id)
        elif d.key not in report._keys:
            # A record touched on two days (funded on one, refunded on the next) is
            # compared on both: report it once.
            report._keys.add(d.key)
            report.differences.append(d)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def days(since: datetime, until: datetime) -> list[TimeRange]:
    """``[since, until)`` cut at UTC midnights."""
    out: list[TimeRange] = []
    start = since
    while start < until:
        end = min(day_start(start.date()) + DAY, until)
        out.append(TimeRange(start, end))
        start = end
    return out


async def reconcile(
    container: Container,
    *,
    since: datetime,
    until: datetime,
    progress: Progress | None = None,
) -> Report:
    """Compare what was booked and what happened at the provider in ``[since, until)``.

    ``until`` is held at least ``GRACE`` before now: younger objects may still be settling.
    """
    provider = container.provider
    until = min(until, container.clock.now() - GRACE)
    report = Report(since=since, until=until, escrow_id=None)
    recent = RecentPayments()
    windows = days(since, until)
    others = _by_id_providers(container)
    without_transfers = [p.name for p in others if Capability.transfers not in p.capabilities]
    for done, window in enumerate(windows):
        if progress is not None:
            progress(done, len(windows), f"reconciling {window.gte.date().isoformat()}")
        async with container.db.transaction() as s:
            touched = await ledger_window(s, window)
            if without_transfers:
                touched.leave_out_payee_moves(
                    window.gte.date(),
                    await escrows_through(s, touched.payee_moves, without_transfers),
                )
        theirs = await their_window(provider, window)
        async with container.db.transaction() as s:
            ours = await load_ours(
                s,
                escrow_ids=touched.escrows,
                payment_ids=[
                    *theirs.payments,
                    *(r.payment_id or "" for r in theirs.refunds.values()),
                ],
                refund_keys=touched.refund_keys,
                refund_ids=theirs.refunds,
                release_keys=touched.release_keys,
                provider=provider.name,
                transfer_ids=theirs.transfers,
                invoice_ids=[
                    *touched.invoices,
                    *theirs.invoices,
                    *(p.invoice_id for p in theirs.payments.values() if p.invoice_id),
                    *(i for p in theirs.payments if (i := recent.invoice_of(p))),
                ],
            )
        _record(report, ours, await compare(provider, ours, theirs, report.compared, recent))
        report.merge_totals(touched.totals, theirs.totals)
        for other in others:
            await _reconcile_by_id(container, other, window, touched, report)
    if progress is not None:
        progress(len(windows), len(windows), "done")
    return report


def _by_id_providers(container: Container) -> list[PaymentProvider]:
    """The configured providers other than the default: those read escrow by escrow (PayPal
    has no listing of a day's payments that escrowd uses; docs/reconcile.md)."""
    default = container.provider.name
    return [p for name, p in sorted(container.providers.items()) if name != default]


async def _reconcile_by_id(
    container: Container,
    provider: PaymentProvider,
    window: TimeRange,
    touched: Touched,
    report: Report,
) -> None:
    """A day's escrows paid through ``provider`` (the ledger booked their money that day, or
    they were created that day with a payment there), each payment read by id with its
    refunds, and compared as the default provider's are."""
    transfers = Capability.transfers in provider.capabilities
    if Capability.payouts in provider.capabilities:
        async with container.db.transaction() as s:
            payouts = await load_payouts(s, provider.name, window=window)
        await _compare_payouts(provider, payouts, report)
    async with container.db.transaction() as s:
        created = await escrows_paid_through(s, provider.name, window)
        ours = await load_ours(
            s,
            escrow_ids=touched.escrows | created,
            refund_keys=touched.refund_keys,
            release_keys=touched.release_keys,
            provider=provider.name,
            default=False,
            transfers=transfers,
        )
    if not ours.payments:
        return
    theirs = await their_payments_by_id(provider, ours.escrow_of_payment, window)
    _record(report, ours, await compare(provider, ours, theirs, report.compared))
    report.merge_totals({}, theirs.totals)


async def _compare_payouts(
    provider: PaymentProvider, payouts: list[OurPayout], report: Report
) -> None:
    """Each payout settled at escrowd (paid, failed, rejected) against the provider's; an
    open one is settling and is not looked up, nor one rejected before it reached the
    provider."""
    for mine in payouts:
        if mine.sent == 0 and (mine.status not in PAYOUT_UNDONE or not mine.provider_payout_id):
            continue
        report.compared["payouts"] += 1
        _record(report, Ours(), compare_payout(mine, await their_payout(provider, mine)))


async def reconcile_payout(container: Container, payout_id: str) -> Report:
    """Compare one payout with its provider's (the sweep's fresh look at a payout's
    difference)."""
    async with container.db.transaction() as s:
        provider_name = await s.scalar(select(Payout.provider).where(Payout.id == payout_id))
        if provider_name is None:
            raise NotFoundError(f"No such payout: '{payout_id}'.", param="payout")
        payouts = await load_payouts(s, provider_name, payout_ids=[payout_id])
    report = Report(since=None, until=None, escrow_id=None)
    await _compare_payouts(container.provider_named(provider_name), payouts, report)
    return report


async def reconcile_escrow(container: Container, escrow_id: str) -> Report:
    """Compare one escrow's whole life, at the provider it is paid through: its payment,
    every refund and every transfer."""
    async with container.db.transaction() as s:
        escrow = await s.get(Escrow, escrow_id)
        if escrow is None:
            raise NotFoundError(f"No such escrow: '{escrow_id}'.", param="escrow")
        if escrow.provider not in (None, *container.providers):
            raise InvalidRequestError(
                f"Escrow {escrow_id} is paid through {escrow.provider}, which is not "
                "configured here: there is nothing to compare it with.",
                code="reconcile_provider_unsupported",
                param="escrow",
            )
        default = escrow.provider in (None, container.provider.name)
        provider = container.provider if default else container.provider_named(escrow.provider)
        transfers = Capability.transfers in provider.capabilities
        payment_id = escrow.payment_id
        keys = await _keys(s, escrow_id)
        ours = await load_ours(
            s,
            escrow_ids=[escrow_id],
            refund_keys=keys,
            release_keys=keys,
            provider=None if default else provider.name,
            default=default,
            transfers=transfers,
        )
    theirs = Theirs()
    if payment_id:
        try:
            mine = their_payment(await provider.retrieve_payment_record(payment_id))
            theirs.payments[mine.id] = mine
        except ProviderError as exc:
            if not exc.missing:
                raise
        async for refund in provider.list_refunds(payment_id=payment_id):
            theirs.refunds[refund.id] = refund
    if transfers:
        async for transfer in provider.list_transfers(transfer_group=escrow_id):
            theirs.transfers[transfer.id] = their_transfer(transfer)
    report = Report(since=None, until=None, escrow_id=escrow_id)
    _record(report, ours, await compare(provider, ours, theirs, report.compared))
    return report


async def _keys(session: AsyncSession, escrow_id: str) -> list[str]:
    stmt = select(Operation.key).where(Operation.escrow_id == escrow_id)
    return list((await session.scalars(stmt)).all())


async def reconcile_invoice(container: Container, invoice_id: str) -> Report:
    """Compare one subscription invoice: its booking against its payment at the provider."""
    provider = container.provider
    async with container.db.transaction() as s:
        ours = Ours(invoices=await load_invoices(s, [invoice_id]))
    theirs = Theirs()
    try:
        theirs.invoices[invoice_id] = await provider.retrieve_invoice(invoice_id)
    except ProviderError as exc:
        if not exc.missing:
            raise
    report = Report(since=None, until=None, escrow_id=None)
    _record(report, ours, await compare(provider, ours, theirs, report.compared))
    return report
