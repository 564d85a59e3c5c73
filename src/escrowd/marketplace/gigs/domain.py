"""The gig's pure rules: its status read from its escrow's, and what completing or cancelling
it does in each status. No database, no web."""

from __future__ import annotations

from enum import StrEnum

from escrowd.errors import ConflictError

#: Seed 002: the platform's 10 % commission (Stripe's ``application_fee_amount``), the platform
#: bearing the card processor's fee, so $200.00 pays the expert exactly $180.00.
FEE_POLICY = {
    "rate_bps": 1000,
    "fixed": 0,
    "processing_bearer": "platform",
    "processing_mode": "actual_pro_rata",
}
#: Escrow in the seed's sense: the card is authorized when the gig starts, captured on
#: completion.
CAPTURE_MODE = "authorize"
#: A gig whose payment was never authorized (declined, 3-D Secure abandoned) lapses after a
#: day instead of waiting forever.
PAYMENT_WINDOW_SECONDS = 86_400


class GigStatus(StrEnum):
    #: Created; the client's card is not authorized yet (declined, or 3-D Secure pending).
    awaiting_payment = "awaiting_payment"
    #: The card is authorized: the money is held at the provider, not captured.
    authorized = "authorized"
    #: Captured, not yet (all) paid to the expert.
    captured = "captured"
    #: Paid to the expert, less the commission.
    completed = "completed"
    #: Cancelled before the capture: the authorization was voided.
    voided = "voided"
    #: Cancelled after the capture: the client got the money back.
    refunded = "refunded"
    #: The authorization or the payment window ran out.
    expired = "expired"
    #: The client's bank or a party disputes the payment; frozen until resolved.
    disputed = "disputed"


_BY_ESCROW: dict[str, GigStatus] = {
    "requires_payment": GigStatus.awaiting_payment,
    "requires_action": GigStatus.awaiting_payment,
    "authorized": GigStatus.authorized,
    "held": GigStatus.captured,
    "partially_refunded": GigStatus.captured,
    "partially_released": GigStatus.completed,
    "released": GigStatus.completed,
    "cancelled": GigStatus.voided,
    "refunded": GigStatus.refunded,
    "expired": GigStatus.expired,
    "disputed": GigStatus.disputed,
}


def status_of(escrow_status: str) -> GigStatus:
    """A gig has no state of its own: it is its escrow's, in the seed's words, so webhooks
    and sweeps that move the escrow move the gig too."""
    return _BY_ESCROW[escrow_status]


def escrow_states(status: GigStatus) -> list[str]:
    """The escrow states a gig status stands for (to filter gigs by status)."""
    return [e for e, g in _BY_ESCROW.items() if g is status]


class Step(StrEnum):
    capture = "capture"
    release = "release"
    void = "void"
    refund = "refund"


def completion(status: GigStatus, gig_id: str) -> list[Step]:
    """What completing the gig does: capture (if not yet) and release to the expert."""
    if status is GigStatus.authorized:
        return [Step.capture, Step.release]
    if status is GigStatus.captured:
        # Captured already (the authorization's deadline, or a release that failed): release.
        return [Step.release]
    if status is GigStatus.awaiting_payment:
        raise ConflictError(
            f"gig {gig_id} is not paid yet: the client's card must be authorized before it can "
            "be completed.",
            code="gig_not_authorized",
        )
    raise _closed(gig_id, status, "complete")


def cancellation(status: GigStatus, gig_id: str) -> Step:
    """What cancelling the gig does: void the authorization before the capture, refund after."""
    if status in (GigStatus.awaiting_payment, GigStatus.authorized):
        return Step.void
    if status is GigStatus.captured:
        return Step.refund
    if status is GigStatus.completed:
        raise ConflictError(
            f"gig {gig_id} is completed: the expert was paid. Open a dispute "
            "(POST /v1/disputes) to get money back.",
            code="gig_completed",
        )
    raise _closed(gig_id, status, "cancel")


def _closed(gig_id: str, status: GigStatus, what: str) -> ConflictError:
    return ConflictError(f"gig {gig_id} is {status.value}; cannot {what} it.", code="gig_closed")
