"""The rules of a dispute: its statuses, who may move it where, and how a resolution splits the
disputed money. Pure: no database, no web framework.

::

    open ──review──▶ under_review ──resolve──▶ resolved
      │                   │
      └──────close────────┴──────────────────▶ closed

A chargeback (kind ``chargeback``) follows the provider's dispute instead: it is ``open`` while
the provider's is open and ``resolved`` with outcome ``won`` or ``lost`` when it closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.money import Money


class DisputeStatus(StrEnum):
    open = "open"
    under_review = "under_review"
    resolved = "resolved"
    closed = "closed"


class DisputeKind(StrEnum):
    #: Opened by a party (or an admin) through the API.
    internal = "internal"
    #: The card holder disputed the charge with their bank; the provider told escrowd.
    chargeback = "chargeback"


class DisputeReason(StrEnum):
    not_delivered = "not_delivered"
    not_as_described = "not_as_described"
    quality = "quality"
    incomplete = "incomplete"
    unauthorized = "unauthorized"
    duplicate = "duplicate"
    other = "other"


class Outcome(StrEnum):
    """An admin's resolution of an internal dispute, or a chargeback's end."""

    #: All of the disputed money goes to the payee(s).
    release = "release"
    #: All of it goes back to the payer.
    refund = "refund"
    #: ``refund_amount`` back to the payer; the rest stays in the escrow, unfrozen.
    partial_refund = "partial_refund"
    #: ``release_amount`` to the payee(s) and ``refund_amount`` to the payer, summing exactly
    #: to the disputed amount.
    split_amounts = "split"
    #: Chargebacks: the platform won (the money came back) or lost (the payer keeps it).
    won = "won"
    lost = "lost"


#: Outcomes an admin may choose.
ADMIN_OUTCOMES = (Outcome.release, Outcome.refund, Outcome.partial_refund, Outcome.split_amounts)

OPEN = frozenset({DisputeStatus.open, DisputeStatus.under_review})


class DisputeStateError(ConflictError):
    default_code = "dispute_state_conflict"


def check_open(dispute_id: str, status: str, *, to: str) -> None:
    if DisputeStatus(status) not in OPEN:
        raise DisputeStateError(f"dispute {dispute_id} is {status}; it cannot be {to}.")


def check_review(dispute_id: str, status: str) -> None:
    if DisputeStatus(status) is not DisputeStatus.open:
        raise DisputeStateError(
            f"dispute {dispute_id} is {status}; only an open dispute can be put under review."
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a resolution moves, in minor units of the dispute's currency."""

    outcome: Outcome
    release: int
    refund: int


def resolution(
    outcome: Outcome,
    disputed: int,
    currency: str,
    *,
    release_amount: int | None = None,
    refund_amount: int | None = None,
) -> Resolution:
    """The money an admin's outcome moves, or a 400 naming the field that is wrong."""

    def fmt(value: int) -> str:
        return Money(value, currency).format()

    if outcome not in ADMIN_OUTCOMES:
        raise InvalidRequestError(
            f"outcome {outcome.value} is a chargeback's; an admin resolves with one of "
            f"{', '.join(o.value for o in ADMIN_OUTCOMES)}.",
            code="outcome_invalid",
            param="outcome",
        )
    if outcome in (Outcome.release, Outcome.refund):
        for name, value in (("release_amount", release_amount), ("refund_amount", refund_amount)):
            if value is not None:
                raise InvalidRequestError(
                    f"outcome {outcome.value} moves all of the disputed {fmt(disputed)}: "
                    f"leave {name} out.",
                    code="parameter_unknown",
                    param=name,
                )
        if outcome is Outcome.release:
            return Resolution(outcome, disputed, 0)
        return Resolution(outcome, 0, disputed)
    if outcome is Outcome.partial_refund:
        if release_amount is not None:
            raise InvalidRequestError(
                "a partial refund names refund_amount only; the rest stays in the escrow. "
                "Use outcome split to release part of it.",
                code="parameter_unknown",
                param="release_amount",
            )
        if refund_amount is None or not 0 < refund_amount < disputed:
            raise InvalidRequestError(
                f"a partial refund needs refund_amount above 0 and below the disputed "
                f"{fmt(disputed)}.",
                code="amount_invalid",
                param="refund_amount",
            )
        return Resolution(outcome, 0, refund_amount)
    if release_amount is None or refund_amount is None:
        missing = "release_amount" if release_amount is None else "refund_amount"
        raise InvalidRequestError(
            "a split names both release_amount and refund_amount.",
            code="parameter_missing",
            param=missing,
        )
    if release_amount + refund_amount != disputed:
        raise InvalidRequestError(
            f"a split must add up to the disputed amount exactly: {fmt(release_amount)} "
            f"released + {fmt(refund_amount)} refunded = {fmt(release_amount + refund_amount)}, "
            f"not {fmt(disputed)}.",
            code="split_mismatch",
            param="refund_amount",
        )
    return Resolution(outcome, release_amount, refund_amount)
