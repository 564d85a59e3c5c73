"""What a ledger transfer is to the party who sees it, pure.

A party sees a transfer through one of its sides (``escrowd.escrows.ledgering`` names each
transfer's ``category``):

| view | category | side seen | type | sign |
|---|---|---|---|---|
| payer | ``payment``, ``capture`` | the escrow's credit | ``payment`` | − |
| payer | ``refund`` | the escrow's debit | ``refund`` | + |
| payee | ``release`` (its net) | the payee's credit | ``earning`` | + |
| payee | ``reversal`` | the payee's debit | ``reversal`` | − |
| platform | ``platform_fee`` | ``platform:fees``' credit | ``fee`` | + |
| payee | ``payout`` (the hold's post) | the payee's available debit | ``payout`` | − |
| platform | ``subscription`` | ``platform:fees``' credit | ``fee`` | + |

A payout is listed once, when it is paid (its hold posted): a hold that is voided (a rejected
or failed payout) gave the money back, so nothing left the party's hands.

Other transfers (holds, voids, the provider's fees, processing recoveries, a delayed net
becoming available) move no money in or out of the party's hands and are not shown.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from ulid import ULID

from escrowd.errors import InvalidRequestError
from escrowd.ids import Prefix

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class TxnType(StrEnum):
    payment = "payment"
    earning = "earning"
    fee = "fee"
    refund = "refund"
    reversal = "reversal"
    payout = "payout"


class View(StrEnum):
    payer = "payer"
    payee = "payee"
    platform = "platform"


#: (view, category) → (type, sign from the party's point of view).
TYPES: Final[dict[tuple[View, str], tuple[TxnType, int]]] = {
    (View.payer, "payment"): (TxnType.payment, -1),
    (View.payer, "capture"): (TxnType.payment, -1),
    (View.payer, "refund"): (TxnType.refund, +1),
    (View.payee, "release"): (TxnType.earning, +1),
    (View.payee, "reversal"): (TxnType.reversal, -1),
    (View.platform, "platform_fee"): (TxnType.fee, +1),
    (View.payee, "payout"): (TxnType.payout, -1),
    (View.platform, "subscription"): (TxnType.fee, +1),
}
PAYER_CATEGORIES: Final = ("payment", "capture", "refund")
PAYEE_CATEGORIES: Final = ("release", "reversal")
FEE_CATEGORIES: Final = ("platform_fee", "subscription")
PAYOUT_CATEGORIES: Final = ("payout",)


def type_of(view: View, category: str) -> tuple[TxnType, int]:
    return TYPES[(view, category)]


def txn_id(transfer_id: str, created: datetime) -> str:
    """A transfer's stable ``txn_…`` id: a ULID whose time is the transfer's (so ids sort by
    creation, to the millisecond) and whose other 80 bits come from the transfer id's hash."""
    ms = (created - EPOCH) // timedelta(milliseconds=1)  # integers: no float rounding
    digest = hashlib.sha256(transfer_id.encode()).digest()[:10]
    return f"{Prefix.transaction.value}_{ULID.from_bytes(ms.to_bytes(6, 'big') + digest)}"


def txn_time(txn: str, *, param: str) -> datetime:
    """The millisecond a ``txn_…`` id was made in (for cursors); 400 if it is not one."""
    prefix, _, rest = txn.partition("_")
    try:
        if prefix != Prefix.transaction.value:
            raise ValueError(prefix)
        return ULID.from_str(rest).datetime
    except ValueError:
        raise InvalidRequestError(
            f"'{txn}' is not a transaction id (txn_…).", code="parameter_invalid", param=param
        ) from None


def allocation_of(transfer_id: str) -> str | None:
    """The allocation a release's or reversal's transfer belongs to (its operation key names
    it: ``esc_…:release:alloc_…:<n>:net``)."""
    for part in transfer_id.split(":"):
        if part.startswith(f"{Prefix.allocation.value}_"):
            return part
    return None


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


def period_start(at: datetime, period: Period) -> datetime:
    """The UTC start of the day, ISO week (from Monday) or month ``at`` falls in."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    if period is Period.month:
        return day.replace(day=1)
    return day


def next_period_start(start: datetime, period: Period) -> datetime:
    """The start of the period after the one starting at ``start``."""
    if period is Period.month:
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month, day=1)
    return start + timedelta(days=7 if period is Period.week else 1)


def period_starts(since: datetime, until: datetime, period: Period) -> list[datetime]:
    """Every period's start from the one ``since`` falls in, up to (not including) ``until``:
    a chart's x axis, periods without data included."""
    out: list[datetime] = []
    start = period_start(since, period)
    while start < until:
        out.append(start)
        start = next_period_start(start, period)
    return out


def rate_bps(part: int, whole: int) -> int | None:
    """``part / whole`` in basis points, rounded half up, in integers; None when ``whole`` is 0.

    The failure rate is 10 000 less the success rate, so the two always add up."""
    if whole <= 0:
        return None
    return (part * 20_000 + whole) // (2 * whole)


def mean_seconds(total: int, count: int) -> int | None:
    """The average of ``count`` durations summing to ``total`` seconds, whole seconds down."""
    return None if count <= 0 else total // count
