"""Payout statuses, their moves, and the ledger transfers of each step (pure).

A payout's life::

    requested ──approve──▶ approved ──provider accepted──▶ in_transit ──▶ paid
        │                     │                               │
        └──reject──▶ rejected └──provider refused──▶ failed ◀─┘ (the bank returned it)

``approved`` is the short step between recording the approval and the provider's answer; a
payout stays there while that answer is unknown (a timeout, the provider unreachable): the
``payouts.send`` job asks again with the same idempotency key, three times with backoff, then
an admin decides (replay, or reject).

The ledger (per currency; ``<po>`` is the payout id):

- request: ``<po>:requested``, a *pending* transfer ``payee:<party>:available`` →
  ``payouts:in_transit:<party>``: the money is held, no longer available;
- paid: ``<po>:paid`` posts that hold, and ``<po>:sent`` moves it from
  ``payouts:in_transit:<party>`` to ``provider:<name>:clearing`` (it left the platform), one
  linked chain;
- rejected or failed: ``<po>:voided`` voids the hold; the money is available again.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Final

from escrowd.errors import ConflictError


class PayoutStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    in_transit = "in_transit"
    paid = "paid"
    failed = "failed"
    rejected = "rejected"


STATUSES: Final = tuple(s.value for s in PayoutStatus)
#: The statuses whose money is still held in the ledger (the hold is neither posted nor voided).
OPEN: Final = frozenset({PayoutStatus.requested, PayoutStatus.approved, PayoutStatus.in_transit})
#: The statuses the provider's answer may still move.
AT_PROVIDER: Final = frozenset({PayoutStatus.approved, PayoutStatus.in_transit})


def hold_id(payout_id: str) -> str:
    return f"{payout_id}:requested"


def post_id(payout_id: str) -> str:
    return f"{payout_id}:paid"


def sent_id(payout_id: str) -> str:
    return f"{payout_id}:sent"


def void_id(payout_id: str) -> str:
    return f"{payout_id}:voided"


def idempotency_key(payout_id: str) -> str:
    """What the provider call is keyed by: the payout's own, so a retry never pays twice."""
    return f"{payout_id}:payout"


def payout_of_key(key: str) -> str | None:
    """The payout id an :func:`idempotency_key` names (PayPal echoes it as a batch's
    ``sender_batch_id``); None for a key escrowd did not make."""
    payout_id, sep, rest = key.rpartition(":")
    return payout_id if sep and rest == "payout" and payout_id else None


class PayoutStateError(ConflictError):
    """The payout is not in a status this action applies to (409 ``payout_state``)."""

    def __init__(self, payout_id: str, status: str, action: str, allowed: str) -> None:
        super().__init__(
            f"Payout {payout_id} is {status}: only a {allowed} payout can be {action}.",
            code="payout_state",
        )


def check_can_approve(payout_id: str, status: PayoutStatus) -> None:
    # ``approved`` again: the first approval's provider call had no answer; repeat it.
    if status not in (PayoutStatus.requested, PayoutStatus.approved):
        raise PayoutStateError(payout_id, status.value, "approved", "requested")


def check_can_reject(payout_id: str, status: PayoutStatus) -> None:
    if status is not PayoutStatus.requested:
        raise PayoutStateError(payout_id, status.value, "rejected", "requested")


#: What the provider's payout status means for ours (Stripe's statuses).
PROVIDER_STATUS: Final[dict[str, PayoutStatus]] = {
    "pending": PayoutStatus.in_transit,
    "in_transit": PayoutStatus.in_transit,
    "paid": PayoutStatus.paid,
    "failed": PayoutStatus.failed,
    "canceled": PayoutStatus.failed,
}


def next_status(current: PayoutStatus, provider_status: str) -> PayoutStatus | None:
    """Where the provider's answer takes the payout, or None when it moves nothing (already
    settled, or an answer that would move it backwards)."""
    if current not in AT_PROVIDER:
        return None
    target = PROVIDER_STATUS.get(provider_status)
    if target is None or target is current:
        return None
    return target


def check_can_reject_stuck(payout_id: str, status: PayoutStatus, *, sending_gave_up: bool) -> None:
    """Reject applies to a requested payout, and to an approved one whose provider call never
    got an answer and whose retries are spent (``payout.needs_attention``)."""
    if status is PayoutStatus.approved and sending_gave_up:
        return
    check_can_reject(payout_id, status)


# --- sending: the provider call's retries --------------------------------------------------------

#: The send job's kind and how many times it tries after the approval's own call failed.
SEND_JOB: Final = "payouts.send"
SEND_RETRIES: Final = 3


def send_dedupe_key(payout_id: str) -> str:
    """One send job per payout, ever: after its retries are spent only an admin's replay (or a
    rejection) moves the payout on, never another sweep."""
    return f"{payout_id}:send"


# --- automatic payouts ---------------------------------------------------------------------------


class Interval(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    manual = "manual"


class Weekday(StrEnum):
    monday = "monday"
    tuesday = "tuesday"
    wednesday = "wednesday"
    thursday = "thursday"
    friday = "friday"
    saturday = "saturday"
    sunday = "sunday"


WEEKDAYS: Final = tuple(Weekday)
INTERVALS: Final = tuple(i.value for i in Interval)


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _anchor_in(year: int, month: int, anchor: int) -> date:
    # Day 31 of a 30-day month is its last day, as Stripe's monthly_anchor is.
    return date(year, month, min(anchor, _days_in_month(year, month)))


def period_of(
    interval: Interval,
    today: date,
    *,
    weekly_anchor: Weekday | None = None,
    monthly_anchor: int | None = None,
) -> date | None:
    """The first day of the payout period ``today`` falls in (None for ``manual``).

    Daily: today. Weekly: the latest ``weekly_anchor`` day on or before today. Monthly: the
    latest ``monthly_anchor`` day (the month's last day when it is shorter) on or before today.
    """
    if interval is Interval.daily:
        return today
    if interval is Interval.weekly:
        anchor = WEEKDAYS.index(weekly_anchor or Weekday.monday)
        return today - timedelta(days=(today.weekday() - anchor) % 7)
    if interval is Interval.monthly:
        day = monthly_anchor or 1
        this_month = _anchor_in(today.year, today.month, day)
        if this_month <= today:
            return this_month
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return _anchor_in(year, month, day)
    return None


def schedule_key(party: str, period: date, currency: str) -> str:
    """What makes an automatic payout happen once per party, period and currency (a unique
    column of the payout, and so of its ledger hold)."""
    return f"{party}:{period.isoformat()}:{currency}"
