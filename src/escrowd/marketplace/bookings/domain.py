"""The handwork marketplace's pure rules: who may act on a booking when, what a booking's
payment status is given its escrow's state, and the booking's fee policy. No database, no web."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from escrowd.errors import ConflictError


class JobStatus(StrEnum):
    #: Takes applications.
    open = "open"
    #: A worker was hired: the job has its booking.
    filled = "filled"


class ApplicationStatus(StrEnum):
    pending = "pending"
    hired = "hired"
    #: Another worker was hired for the job.
    declined = "declined"


class BookingStatus(StrEnum):
    """The work's state; the money's is :class:`PaymentStatus`."""

    hired = "hired"
    #: The worker marked the job complete; the client may release the money.
    completed = "completed"


class PaymentStatus(StrEnum):
    """The seed's payment states, read from the booking's escrow."""

    pending = "pending"
    failed = "failed"
    held = "held"
    partially_released = "partially_released"
    released = "released"
    refunded = "refunded"
    disputed = "disputed"
    cancelled = "cancelled"


_BY_ESCROW: dict[str, PaymentStatus] = {
    "requires_payment": PaymentStatus.pending,
    "requires_action": PaymentStatus.pending,
    "authorized": PaymentStatus.held,
    "held": PaymentStatus.held,
    # Part refunded (a dispute's partial refund): the rest is still held for the worker.
    "partially_refunded": PaymentStatus.held,
    "partially_released": PaymentStatus.partially_released,
    "released": PaymentStatus.released,
    "refunded": PaymentStatus.refunded,
    "disputed": PaymentStatus.disputed,
    "cancelled": PaymentStatus.cancelled,
    "expired": PaymentStatus.cancelled,
}

#: Escrow states in which the money is paid and still (at least partly) held.
_HELD = frozenset({"authorized", "held", "partially_refunded"})

#: The providers a booking can be paid with: its escrow's ``payment_provider``, chosen at
#: hire (the escrow is created then) and fixed for the booking's life.
SUPPORTED_PROVIDERS = ("stripe", "paypal")
DEFAULT_PROVIDER = "stripe"


def payment_status(escrow_status: str, *, payment_error: bool) -> PaymentStatus:
    """What the seed calls the booking's payment, given its escrow."""
    status = _BY_ESCROW.get(escrow_status, PaymentStatus.pending)
    if status is PaymentStatus.pending and payment_error:
        return PaymentStatus.failed
    return status


def fee_policy(fee_bps: int) -> dict[str, Any]:
    """The booking's escrow fee policy: ``fee_bps`` of the booking to the platform, taken on
    release, and the processor's fee borne by the platform (the worker receives exactly the
    booking less the platform fee, as the seed's ``worker_amount`` says)."""
    return {
        "rate_bps": fee_bps,
        "fixed": 0,
        "processing_bearer": "platform",
        "processing_mode": "actual_pro_rata",
    }


def check_provider(chosen: str, asked: str | None) -> None:
    """A pay call naming a provider must name the one the booking was hired with."""
    if asked is not None and asked != chosen:
        raise ConflictError(
            f"This booking is paid with {chosen!r}, chosen when the worker was hired; it "
            f"cannot be paid with {asked!r}. Leave payment_provider out (or send {chosen!r}); "
            "to pay with the other provider, hire with it "
            '(POST /v1/bookings {"payment_provider": …}).',
            code="payment_provider_mismatch",
            param="payment_provider",
        )


def check_hire(job_status: str, application_status: str) -> None:
    if job_status != JobStatus.open:
        raise ConflictError(
            "This job has hired a worker already.", code="job_filled", param="application"
        )
    if application_status != ApplicationStatus.pending:
        raise ConflictError(
            f"This application is {application_status}; only a pending one can be hired.",
            code="application_not_pending",
            param="application",
        )


def check_apply(job_status: str) -> None:
    if job_status != JobStatus.open:
        raise ConflictError("This job has hired a worker already.", code="job_filled")


def check_complete(status: str, escrow_status: str) -> None:
    if status == BookingStatus.completed:
        raise ConflictError("This booking is marked complete already.", code="booking_completed")
    if escrow_status not in _HELD:
        raise ConflictError(
            "The client has not paid this booking yet (or its money is disputed or gone): "
            "it can be marked complete once its payment is held.",
            code="booking_not_paid",
        )


def check_release(status: str) -> None:
    if status != BookingStatus.completed:
        raise ConflictError(
            "The worker has not marked this booking complete yet; release it once they have.",
            code="booking_not_completed",
        )
