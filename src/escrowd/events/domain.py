"""Every event type escrowd writes, what it means, and the object it carries.

Pure: no database, no web framework. docs/events.md lists the same types (a test keeps the two
in step). To add a type: a member of ``EventType``, its ``EventSpec`` in ``CATALOG`` (a test
fails if one is missing), and a line in docs/events.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class ObjectType(StrEnum):
    """What ``data.object`` of an event is (the ``object`` field of that API object)."""

    escrow = "escrow"
    allocation = "allocation"
    account = "account"
    payout = "payout"
    dispute = "dispute"
    subscription = "subscription"


class EventType(StrEnum):
    escrow_created = "escrow.created"
    escrow_requires_action = "escrow.requires_action"
    escrow_authorized = "escrow.authorized"
    escrow_authorization_expiring = "escrow.authorization_expiring"
    escrow_captured = "escrow.captured"
    escrow_funded = "escrow.funded"
    allocation_payee_assigned = "allocation.payee_assigned"
    allocation_released = "allocation.released"
    allocation_reversed = "allocation.reversed"
    escrow_partially_released = "escrow.partially_released"
    escrow_released = "escrow.released"
    escrow_partially_refunded = "escrow.partially_refunded"
    escrow_refunded = "escrow.refunded"
    escrow_payment_window_expiring = "escrow.payment_window_expiring"
    escrow_expired = "escrow.expired"
    escrow_cancelled = "escrow.cancelled"
    escrow_disputed = "escrow.disputed"
    payment_failed = "payment.failed"
    account_updated = "account.updated"
    payout_requested = "payout.requested"
    payout_approved = "payout.approved"
    payout_paid = "payout.paid"
    payout_failed = "payout.failed"
    payout_rejected = "payout.rejected"
    allocation_release_failed = "allocation.release_failed"
    dispute_opened = "dispute.opened"
    dispute_under_review = "dispute.under_review"
    dispute_evidence_added = "dispute.evidence_added"
    dispute_resolved = "dispute.resolved"
    dispute_closed = "dispute.closed"
    dispute_funds_withdrawn = "dispute.funds_withdrawn"
    dispute_funds_reinstated = "dispute.funds_reinstated"
    payout_needs_attention = "payout.needs_attention"
    subscription_created = "subscription.created"
    subscription_activated = "subscription.activated"
    subscription_updated = "subscription.updated"
    subscription_renewed = "subscription.renewed"
    subscription_past_due = "subscription.past_due"
    subscription_canceled = "subscription.canceled"
    allocation_clawed_back = "allocation.clawed_back"

    @property
    def spec(self) -> EventSpec:
        return CATALOG[self]

    @property
    def description(self) -> str:
        return CATALOG[self].description

    @property
    def object_type(self) -> ObjectType:
        return CATALOG[self].object_type


@dataclass(frozen=True, slots=True)
class EventSpec:
    type: EventType
    #: The kind of object in ``data.object``.
    object_type: ObjectType
    #: One line: what happened.
    description: str
    #: Which part of escrowd writes it, and when.
    written_by: str


_ESCROWS = "the escrows service"


_E, _A, _ACCT = ObjectType.escrow, ObjectType.allocation, ObjectType.account
_PO = ObjectType.payout
_PAYOUTS = "the payouts service"
_DP = ObjectType.dispute

_SUBS = "the subscriptions service"
_SUB = ObjectType.subscription
_SUBSCRIPTION_SPECS = (
    EventSpec(
        EventType.subscription_created,
        _SUB,
        "A subscription to a paid plan was created; it is incomplete until the first payment.",
        f"{_SUBS}, on subscribe",
    ),
    EventSpec(
        EventType.subscription_activated,
        _SUB,
        "The subscription is paid for: its plan's limits apply.",
        f"{_SUBS}, on the provider's invoice.paid or subscription update (verified)",
    ),
    EventSpec(
        EventType.subscription_updated,
        _SUB,
        "The subscription changed plan or will cancel at the period's end.",
        f"{_SUBS}, on change_plan and cancel",
    ),
    EventSpec(
        EventType.subscription_renewed,
        _SUB,
        "A renewal invoice was paid; the amount is booked as platform revenue.",
        f"{_SUBS}, on the provider's invoice.paid for a new period (verified)",
    ),
    EventSpec(
        EventType.subscription_past_due,
        _SUB,
        "A renewal payment failed; the provider retries, the plan still applies meanwhile.",
        f"{_SUBS}, on the provider's invoice.payment_failed (verified)",
    ),
    EventSpec(
        EventType.subscription_canceled,
        _SUB,
        "The subscription ended (canceled, or never paid); its owner is on Starter again.",
        f"{_SUBS}, on the provider's subscription.deleted or update (verified)",
    ),
)

CATALOG: Final[Mapping[EventType, EventSpec]] = MappingProxyType(
    {
        s.type: s
        for s in (
            EventSpec(
                EventType.escrow_created,
                _E,
                "An escrow was created and waits for the payer's payment.",
                f"{_ESCROWS}, on create",
            ),
            EventSpec(
                EventType.escrow_requires_action,
                _E,
                "The payer must complete an authentication step (3-D Secure) for the payment.",
                f"{_ESCROWS}, when funding (or the provider) asks for customer action",
            ),
            EventSpec(
                EventType.escrow_authorized,
                _E,
                "The payment was authorized: the money is on hold on the payer's card.",
                f"{_ESCROWS}, on funding with capture mode `authorize`",
            ),
            EventSpec(
                EventType.escrow_authorization_expiring,
                _E,
                "The authorization ends soon (`capture_before`) and policy says to notify.",
                "the authorization-deadline sweep (jobs)",
            ),
            EventSpec(
                EventType.escrow_captured,
                _E,
                "An authorized payment was captured: the money moved from the card to escrow.",
                f"{_ESCROWS}, on capture (by a caller or the deadline sweep)",
            ),
            EventSpec(
                EventType.escrow_funded,
                _E,
                "The escrow's money is held by the platform, ready to be released.",
                f"{_ESCROWS}, once per escrow, when the money first arrives (charge or capture)",
            ),
            EventSpec(
                EventType.allocation_payee_assigned,
                _A,
                "An open allocation (slot) got its payee.",
                f"{_ESCROWS}, when a payee is assigned to an open allocation",
            ),
            EventSpec(
                EventType.allocation_released,
                _A,
                "Money of one allocation (all of it or part) was released to its payee.",
                f"{_ESCROWS}, on every release, once per allocation released",
            ),
            EventSpec(
                EventType.allocation_reversed,
                _A,
                "Money released to a payee was pulled back into the escrow (transfer reversal).",
                f"{_ESCROWS}, when the provider reports a reversal of a release's transfer, and "
                "when a chargeback on released money reverses the payees' transfers",
            ),
            EventSpec(
                EventType.escrow_partially_released,
                _E,
                "Part of the escrow was released; the rest is still held.",
                f"{_ESCROWS}, on a release that leaves money held",
            ),
            EventSpec(
                EventType.escrow_released,
                _E,
                "Everything held in the escrow has been released to its payees.",
                f"{_ESCROWS}, on the release (or automatic release) that empties it",
            ),
            EventSpec(
                EventType.escrow_partially_refunded,
                _E,
                "Part of the escrow was refunded to the payer.",
                f"{_ESCROWS}, on a refund that leaves money held or released",
            ),
            EventSpec(
                EventType.escrow_refunded,
                _E,
                "Everything not released was refunded to the payer.",
                f"{_ESCROWS}, on the refund that empties it",
            ),
            EventSpec(
                EventType.escrow_payment_window_expiring,
                _E,
                "The escrow is still unpaid and its payment window ends soon (`expires_at`).",
                "the payment-window reminder sweep (jobs), once per escrow, "
                "ESCROWD_PAYMENT_WINDOW_REMINDER_SECONDS before `expires_at`",
            ),
            EventSpec(
                EventType.escrow_expired,
                _E,
                "The payment window or the authorization ran out before the money was held.",
                f"{_ESCROWS}, from the payment-window and authorization sweeps",
            ),
            EventSpec(
                EventType.escrow_cancelled,
                _E,
                "The escrow was cancelled before any money moved.",
                f"{_ESCROWS}, on cancel",
            ),
            EventSpec(
                EventType.escrow_disputed,
                _E,
                "A dispute was opened (by a party, or a chargeback); the escrow is frozen.",
                f"{_ESCROWS}, on a dispute or an inbound provider dispute",
            ),
            EventSpec(
                EventType.payment_failed,
                _E,
                "A payment attempt for the escrow failed; `last_payment_error` says why.",
                f"{_ESCROWS}, on a decline or failed authentication (API or provider event)",
            ),
            EventSpec(
                EventType.account_updated,
                _ACCT,
                "A payee's connected account changed: status, requirements or capabilities, "
                "or its owner disconnected it from the platform (`deauthorized`).",
                "the accounts service, on onboarding and on the provider's account updates",
            ),
            EventSpec(
                EventType.payout_requested,
                _PO,
                "A payee asked for a payout; the amount is held from their available balance.",
                f"{_PAYOUTS}, on request",
            ),
            EventSpec(
                EventType.payout_approved,
                _PO,
                "An admin approved the payout; it is being sent to the payment provider.",
                f"{_PAYOUTS}, on approve",
            ),
            EventSpec(
                EventType.payout_paid,
                _PO,
                "The provider paid the payout out to the payee's bank; the money left.",
                f"{_PAYOUTS}, on the provider's payout.paid (verified) or the sync sweep",
            ),
            EventSpec(
                EventType.payout_failed,
                _PO,
                "The payout failed (`failure_code` says why); the money is available again.",
                f"{_PAYOUTS}, on a refusal by the provider, its payout.failed or the sync sweep",
            ),
            EventSpec(
                EventType.payout_rejected,
                _PO,
                "An admin rejected the payout (`reason`); the money is available again.",
                f"{_PAYOUTS}, on reject",
            ),
            EventSpec(
                EventType.allocation_release_failed,
                _A,
                "The provider refused an allocation's release transfer (`release_failure`: "
                "amount, net, error); its money stays in escrow, free to release again.",
                f"{_ESCROWS}, when a release's transfer fails, once per allocation not paid",
            ),
            EventSpec(
                EventType.dispute_opened,
                _DP,
                "A dispute was opened on an escrow or an allocation (by a party, an admin, or a "
                "chargeback); the disputed money is frozen.",
                "the disputes service, on open and on an inbound provider dispute",
            ),
            EventSpec(
                EventType.dispute_under_review,
                _DP,
                "An admin started reviewing the dispute.",
                "the disputes service, on review",
            ),
            EventSpec(
                EventType.dispute_evidence_added,
                _DP,
                "A party or an admin added an evidence note to the dispute.",
                "the disputes service, on evidence",
            ),
            EventSpec(
                EventType.dispute_resolved,
                _DP,
                "The dispute was decided (`outcome`): its release and refund are made and the "
                "escrow is unfrozen.",
                "the disputes service, on resolve and when the provider closes a chargeback",
            ),
            EventSpec(
                EventType.dispute_closed,
                _DP,
                "The dispute was withdrawn or closed without moving money; the escrow is unfrozen.",
                "the disputes service, on close (by the opener or an admin)",
            ),
            EventSpec(
                EventType.dispute_funds_withdrawn,
                _DP,
                "The provider took a chargeback's amount and fee from the platform's balance.",
                "the disputes service, on the provider's dispute (verified)",
            ),
            EventSpec(
                EventType.dispute_funds_reinstated,
                _DP,
                "The provider gave a won chargeback's amount back to the platform.",
                "the disputes service, when the provider closes a chargeback as won (verified)",
            ),
            EventSpec(
                EventType.payout_needs_attention,
                _PO,
                "The provider could not be reached for an approved payout, retries included "
                "(`reason`: `retries_exhausted`); the money stays held until an admin replays "
                "the incident or rejects the payout.",
                f"{_PAYOUTS}, the payouts.send job's last failed attempt",
            ),
            *_SUBSCRIPTION_SPECS,
            EventSpec(
                EventType.allocation_clawed_back,
                _A,
                "Money released to a payee was taken back from them and refunded to the payer.",
                f"{_ESCROWS}, on a refund with `clawback: true`, once per allocation clawed back",
            ),
        )
    }
)

#: Every type's string value, sorted; the ``type`` filter's vocabulary.
ALL_TYPES: Final[tuple[str, ...]] = tuple(sorted(t.value for t in EventType))
#: Every ``*`` filter that names at least one type (a type's first characters, then ``*``),
#: sorted: what :func:`matching` answers with a non-empty set. The OpenAPI document lists them.
ALL_PREFIXES: Final[tuple[str, ...]] = tuple(
    sorted({name[:end] + "*" for name in ALL_TYPES for end in range(len(name) + 1)})
)


def matching(pattern: str) -> frozenset[EventType]:
    """The types a filter names: an exact type, or a prefix ending in ``*`` (``escrow.*``).

    Empty when nothing matches (the caller decides whether that is an error).
    """
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return frozenset(t for t in EventType if t.value.startswith(prefix))
    try:
        return frozenset({EventType(pattern)})
    except ValueError:
        return frozenset()
