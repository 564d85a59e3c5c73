"""A party's transactions, their summary, and the platform's revenue, read from the ledger.

The history is the ledger entries the party sees (``domain``'s table), newest first by entry
id — the order they were written in. A payee's entries are those on its own accounts (found by
code, then by the entries' ``(account, version)`` index); a payer's are its escrows' payment
and refund transfers (by the escrows' ``payer_id`` and the transfers' ``reference`` indexes);
the platform's, ``platform:fees``' fee entries. A cursor (``txn_…``) is turned back into its
entry by the millisecond its id carries and the hash of the transfer id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.pagination import PageParams
from escrowd.balances import service as balances
from escrowd.balances.domain import PLATFORM, Figure
from escrowd.disputes.service import resolution_totals
from escrowd.errors import InvalidRequestError
from escrowd.escrows.ledgering import PLATFORM_FEES, payee_available, payee_pending
from escrowd.escrows.models import Escrow
from escrowd.events.models import Event
from escrowd.ledger.models import LedgerAccount, LedgerEntry, LedgerTransfer
from escrowd.payouts.models import Payout
from escrowd.transactions.domain import (
    FEE_CATEGORIES,
    PAYEE_CATEGORIES,
    PAYOUT_CATEGORIES,
    Period,
    TxnType,
    View,
    allocation_of,
    period_start,
    rate_bps,
    txn_id,
    txn_time,
    type_of,
)

E, T, A = LedgerEntry, LedgerTransfer, LedgerAccount
_VIEW = {
    **dict.fromkeys(("payment", "capture", "refund"), View.payer),
    **dict.fromkeys(PAYEE_CATEGORIES, View.payee),
    **dict.fromkeys(FEE_CATEGORIES, View.platform),
    **dict.fromkeys(PAYOUT_CATEGORIES, View.payee),
}


@dataclass(frozen=True, slots=True)
class Txn:
    id: str
    type: TxnType
    #: Signed from the party's point of view: money in is positive.
    amount: int
    currency: str
    created: datetime
    party: str
    escrow: str | None
    allocation: str | None
    payout: str | None = None


async def _account_ids(session: AsyncSession, codes: Sequence[str]) -> list[str]:
    return list(await session.scalars(select(A.id).where(A.code.in_(tuple(codes)))))


def _as_payer(party: str) -> ColumnElement[bool]:
    paid_in = and_(T.category.in_(("payment", "capture")), E.side == "credit")
    paid_back = and_(T.category == "refund", E.side == "debit")
    return and_(
        T.reference.in_(select(Escrow.id).where(Escrow.payer_id == party)),
        or_(paid_in, paid_back),  # the escrow account's side, one entry per transfer
    )


async def _seen(session: AsyncSession, party: str) -> ColumnElement[bool]:
    """Which entries ``party`` sees (one per transfer)."""
    if party == PLATFORM:
        fees = await _account_ids(session, [PLATFORM_FEES])
        return and_(E.account_id.in_(fees), T.category.in_(FEE_CATEGORIES))
    own = await _account_ids(session, [payee_available(party), payee_pending(party)])
    as_payee = and_(E.account_id.in_(own), T.category.in_(PAYEE_CATEGORIES)) if own else false()
    # A payout when its hold is posted (paid); the hold itself and its void move nothing out.
    paid_out = (
        and_(
            E.account_id.in_(own),
            T.category.in_(PAYOUT_CATEGORIES),
            T.kind == "post_pending",
            E.side == "debit",
        )
        if own
        else false()
    )
    return or_(as_payee, paid_out, _as_payer(party))


_COLUMNS = (E.id, T.id, T.category, T.amount, T.currency, T.reference, T.created_at)


def _txn(party: str, row: Any) -> Txn:
    _, transfer_id, category, amount, currency, reference, created = row
    kind, sign = type_of(_VIEW[category], category)
    is_payout = kind is TxnType.payout
    return Txn(
        id=txn_id(transfer_id, created),
        type=kind,
        amount=sign * int(amount),
        currency=str(currency),
        created=created,
        party=party,
        escrow=None if is_payout else reference,
        allocation=allocation_of(transfer_id)
        if kind not in (TxnType.fee, TxnType.payout)
        else None,
        payout=reference if is_payout else None,
    )


async def _entry_of(
    session: AsyncSession, seen: ColumnElement[bool], cursor: str, *, param: str
) -> int:
    """The entry id behind a ``txn_…`` cursor from this list; 400 if it is none of it."""
    at = txn_time(cursor, param=param)
    # The id holds whole milliseconds: look a little either side, then match exactly.
    window = (select(*_COLUMNS).join(T, T.id == E.transfer_id).where(seen)).where(
        T.created_at >= at - timedelta(milliseconds=1), T.created_at < at + timedelta(seconds=0.002)
    )
    for row in await session.execute(window):
        if txn_id(row[1], row[6]) == cursor:
            return int(row[0])
    raise InvalidRequestError(
        f"'{cursor}' is not a transaction of this list.", code="parameter_invalid", param=param
    )


async def page(session: AsyncSession, *, party: str, params: PageParams) -> tuple[list[Txn], bool]:
    """One page of ``party``'s transactions, newest first, and whether there are more."""
    seen = await _seen(session, party)
    stmt = select(*_COLUMNS).join(T, T.id == E.transfer_id).where(seen)
    newer = older = None
    if params.starting_after:
        older = await _entry_of(session, seen, params.starting_after, param="starting_after")
    if params.ending_before:
        newer = await _entry_of(session, seen, params.ending_before, param="ending_before")
    if newer is not None:
        stmt = stmt.where(E.id > newer)
    if older is not None:
        stmt = stmt.where(E.id < older)
    if newer is not None and older is None:
        # The previous page: the nearest newer ones, read upwards, shown newest first.
        rows = list(await session.execute(stmt.order_by(E.id.asc()).limit(params.limit + 1)))
        return [_txn(party, r) for r in reversed(rows[: params.limit])], len(rows) > params.limit
    rows = list(await session.execute(stmt.order_by(E.id.desc()).limit(params.limit + 1)))
    return [_txn(party, r) for r in rows[: params.limit]], len(rows) > params.limit


# --- summaries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayerFigures:
    currency: str
    paid: int = 0
    refunded: int = 0
    in_escrow: int = 0


@dataclass(frozen=True, slots=True)
class PayeeFigures:
    currency: str
    earned: int = 0
    reversed: int = 0
    pending: int = 0
    available: int = 0
    in_transit: int = 0
    paid_out: int = 0


@dataclass(frozen=True, slots=True)
class Summary:
    party: str
    payer: list[PayerFigures]
    payee: list[PayeeFigures]


async def _payer(session: AsyncSession, party: str) -> list[PayerFigures]:
    escrows = select(Escrow.id).where(Escrow.payer_id == party)
    moved = await session.execute(
        select(T.currency, T.category, func.sum(T.amount))
        .where(T.reference.in_(escrows), T.category.in_(("payment", "capture", "refund")))
        .group_by(T.currency, T.category)
    )
    held = await session.execute(
        select(A.currency, func.sum(A.credits_posted - A.debits_posted))
        .join(Escrow, A.code == literal("escrow:") + Escrow.id)
        .where(Escrow.payer_id == party)
        .group_by(A.currency)
    )
    figures: dict[str, dict[str, int]] = {}
    for currency, category, total in moved:
        key = "refunded" if category == "refund" else "paid"
        slot = figures.setdefault(str(currency), {})
        slot[key] = slot.get(key, 0) + int(total)
    for currency, total in held:
        if int(total or 0) or str(currency) in figures:
            figures.setdefault(str(currency), {})["in_escrow"] = int(total or 0)
    return [PayerFigures(c, **figures[c]) for c in sorted(figures)]


async def _payee(session: AsyncSession, party: str) -> list[PayeeFigures]:
    own = await _account_ids(session, [payee_available(party), payee_pending(party)])
    figures: dict[str, dict[str, int]] = {}
    if own:
        rows = await session.execute(
            select(T.currency, T.category, func.sum(T.amount))
            .join(E, E.transfer_id == T.id)
            .where(E.account_id.in_(own), T.category.in_(PAYEE_CATEGORIES))
            .group_by(T.currency, T.category)
        )
        for currency, category, total in rows:
            key = "earned" if category == "release" else "reversed"
            figures.setdefault(str(currency), {})[key] = int(total)
        paid = await session.execute(
            select(T.currency, func.sum(T.amount))
            .join(E, E.transfer_id == T.id)
            .where(
                E.account_id.in_(own),
                E.side == "debit",
                T.category.in_(PAYOUT_CATEGORIES),
                T.kind == "post_pending",
            )
            .group_by(T.currency)
        )
        for currency, total in paid:
            figures.setdefault(str(currency), {})["paid_out"] = int(total)
    balance = await balances.balance(session, party=party)
    for figure in (Figure.pending, Figure.available, Figure.in_transit):
        for currency, amount in balance.figures[figure]:
            figures.setdefault(currency, {})[figure.value] = amount
    return [PayeeFigures(c, **figures[c]) for c in sorted(figures)]


async def summary(session: AsyncSession, *, party: str) -> Summary:
    """What ``party`` paid, got back and has in escrow (as a payer), and earned, lost to
    reversals and holds (as a payee), per currency."""
    return Summary(party, await _payer(session, party), await _payee(session, party))


# --- revenue ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevenueLine:
    period_start: datetime
    currency: str
    fees: int
    count: int


async def revenue(
    session: AsyncSession, *, period: Period, since: datetime, until: datetime
) -> list[RevenueLine]:
    """The platform's fees per period and currency, ``since`` ≤ booked < ``until``, oldest
    first. Fees are read from ``platform:fees``' entries (its own index), bucketed here, so
    PostgreSQL and SQLite share one query."""
    fees = await _account_ids(session, [PLATFORM_FEES])
    if not fees:
        return []
    rows = await session.stream(
        select(T.created_at, T.currency, T.amount)
        .join(E, E.transfer_id == T.id)
        .where(
            E.account_id.in_(fees),
            E.side == "credit",
            T.category.in_(FEE_CATEGORIES),
            T.created_at >= since,
            T.created_at < until,
        )
    )
    sums: dict[tuple[datetime, str], list[int]] = {}
    async for created, currency, amount in rows:
        line = sums.setdefault((period_start(created, period), str(currency)), [0, 0])
        line[0] += int(amount)
        line[1] += 1
    return [RevenueLine(start, c, total, n) for (start, c), (total, n) in sorted(sums.items())]


# --- charts: a payee's earnings, the platform's payment success -------------------------------


@dataclass(frozen=True, slots=True)
class EarningsLine:
    period_start: datetime
    currency: str
    #: The nets of the releases booked to the payee in the period.
    earned: int
    #: What reversals took back in the period.
    reversed: int

    @property
    def net(self) -> int:
        return self.earned - self.reversed


async def earnings(
    session: AsyncSession, *, party: str, period: Period, since: datetime, until: datetime
) -> list[EarningsLine]:
    """What ``party`` earned as a payee per period and currency, ``since`` ≤ booked <
    ``until``, oldest first: the same entries its transaction list shows as ``earning`` and
    ``reversal``, bucketed here (one query for PostgreSQL and SQLite, as ``revenue``)."""
    own = await _account_ids(session, [payee_available(party), payee_pending(party)])
    if not own:
        return []
    rows = await session.stream(
        select(T.created_at, T.currency, T.category, T.amount)
        .join(E, E.transfer_id == T.id)
        .where(
            E.account_id.in_(own),
            T.category.in_(PAYEE_CATEGORIES),
            T.created_at >= since,
            T.created_at < until,
        )
    )
    sums: dict[tuple[datetime, str], list[int]] = {}
    async for created, currency, category, amount in rows:
        line = sums.setdefault((period_start(created, period), str(currency)), [0, 0])
        line[0 if category == "release" else 1] += int(amount)
    return [
        EarningsLine(start, c, earned, lost) for (start, c), (earned, lost) in sorted(sums.items())
    ]


@dataclass(frozen=True, slots=True)
class PaymentRateLine:
    period_start: datetime
    succeeded: int
    failed: int

    @property
    def attempts(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_bps(self) -> int | None:
        """Succeeded attempts in basis points of all attempts; None without attempts."""
        return rate_bps(self.succeeded, self.attempts)


#: The events a payment attempt's outcome writes (``metrics`` explains the arithmetic).
_ATTEMPT_EVENTS = ("escrow.funded", "escrow.authorized", "escrow.captured", "payment.failed")


async def payment_success(
    session: AsyncSession, *, period: Period, since: datetime, until: datetime
) -> list[PaymentRateLine]:
    """Payment attempts that succeeded and failed per period, ``since`` ≤ t < ``until``,
    oldest first, counted as ``metrics`` counts them (a capture is no new attempt)."""
    rows = await session.stream(
        select(Event.created_at, Event.type).where(
            Event.type.in_(_ATTEMPT_EVENTS), Event.created_at >= since, Event.created_at < until
        )
    )
    sums: dict[datetime, list[int]] = {}
    async for created, kind in rows:
        line = sums.setdefault(period_start(created, period), [0, 0])
        if kind == "payment.failed":
            line[1] += 1
        elif kind == "escrow.captured":
            line[0] -= 1  # written with the capture's own escrow.funded: one attempt
        else:
            line[0] += 1
    return [PaymentRateLine(start, max(0, ok), bad) for start, (ok, bad) in sorted(sums.items())]


# --- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    payments_succeeded: int
    payments_failed: int
    payouts_paid: int
    payouts_failed: int
    #: Requested → paid, summed over the payouts paid in the window (whole seconds).
    payout_seconds: int
    disputes: DisputeFigures
    revenue: list[tuple[str, int, int]]


@dataclass(frozen=True, slots=True)
class DisputeFigures:
    resolved: int
    #: Opened → resolved, summed over the disputes resolved in the window (whole seconds).
    seconds: int


async def dispute_figures(
    session: AsyncSession, *, since: datetime, until: datetime
) -> DisputeFigures:
    """The disputes decided in the window and their total time to resolution."""
    resolved, seconds = await resolution_totals(session, start=since, end=until)
    return DisputeFigures(resolved=resolved, seconds=seconds)


async def _counted(
    session: AsyncSession, types: Sequence[str], *, since: datetime, until: datetime
) -> dict[str, int]:
    rows = await session.execute(
        select(Event.type, func.count())
        .where(Event.type.in_(tuple(types)), Event.created_at >= since, Event.created_at < until)
        .group_by(Event.type)
    )
    return {str(t): int(n) for t, n in rows}


async def metrics(session: AsyncSession, *, since: datetime, until: datetime) -> Metrics:
    """Payment success and failure, payout processing time, dispute resolution time and the
    platform's fees, for ``since`` ≤ t < ``until``.

    A payment attempt that succeeded wrote ``escrow.funded`` (a charge) or
    ``escrow.authorized`` (an authorization: its capture writes ``escrow.funded`` and
    ``escrow.captured`` together, and is no new attempt); one that failed, ``payment.failed``.
    """
    n = await _counted(
        session,
        ("escrow.funded", "escrow.authorized", "escrow.captured", "payment.failed"),
        since=since,
        until=until,
    )
    succeeded = max(
        0, n.get("escrow.funded", 0) + n.get("escrow.authorized", 0) - n.get("escrow.captured", 0)
    )
    paid = list(
        await session.execute(
            select(Payout.created_at, Payout.updated_at).where(
                Payout.status == "paid", Payout.updated_at >= since, Payout.updated_at < until
            )
        )
    )
    failed_payouts = await session.scalar(
        select(func.count()).where(
            Payout.status == "failed", Payout.updated_at >= since, Payout.updated_at < until
        )
    )
    seconds = sum((done - asked) // timedelta(seconds=1) for asked, done in paid)
    fees: dict[str, list[int]] = {}
    for line in await revenue(session, period=Period.month, since=since, until=until):
        total = fees.setdefault(line.currency, [0, 0])
        total[0] += line.fees
        total[1] += line.count
    return Metrics(
        payments_succeeded=succeeded,
        payments_failed=n.get("payment.failed", 0),
        payouts_paid=len(paid),
        payouts_failed=int(failed_payouts or 0),
        payout_seconds=seconds,
        disputes=await dispute_figures(session, since=since, until=until),
        revenue=[(c, total, count) for c, (total, count) in sorted(fees.items())],
    )
