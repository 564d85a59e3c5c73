"""Stripe event JSON → escrowd's neutral ProviderEvent.

Only the envelope is checked here (``id``, ``type``, ``created``, ``data.object``); the object
itself is handed to handlers as Stripe sent it. A type escrowd does not act on becomes
``EventKind.unknown``: still stored and acknowledged, so Stripe stops retrying it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from escrowd.providers.types import EventKind, ProviderEvent

PROVIDER = "stripe"

KINDS: dict[str, EventKind] = {
    "payment_intent.succeeded": EventKind.payment_succeeded,
    "payment_intent.payment_failed": EventKind.payment_failed,
    "payment_intent.canceled": EventKind.payment_canceled,
    "payment_intent.processing": EventKind.payment_processing,
    "payment_intent.amount_capturable_updated": EventKind.payment_capturable,
    "payment_intent.requires_action": EventKind.payment_requires_action,
    "charge.captured": EventKind.charge_captured,
    "charge.refunded": EventKind.charge_refunded,
    "charge.expired": EventKind.charge_expired,
    "charge.dispute.created": EventKind.dispute_created,
    "charge.dispute.closed": EventKind.dispute_closed,
    "account.updated": EventKind.account_updated,
    "account.application.authorized": EventKind.account_authorized,
    "account.application.deauthorized": EventKind.account_deauthorized,
    "account.external_account.created": EventKind.external_account_created,
    "account.external_account.deleted": EventKind.external_account_deleted,
    "capability.updated": EventKind.capability_updated,
    "person.updated": EventKind.person_updated,
    "person.deleted": EventKind.person_deleted,
    "transfer.created": EventKind.transfer_created,
    "transfer.reversed": EventKind.transfer_reversed,
    # Legacy types: current API versions no longer send them, older endpoints still may.
    "transfer.paid": EventKind.transfer_paid,
    "transfer.failed": EventKind.transfer_failed,
    "payout.paid": EventKind.payout_paid,
    "payout.failed": EventKind.payout_failed,
    "invoice.paid": EventKind.invoice_paid,
    "invoice.payment_failed": EventKind.invoice_payment_failed,
    "customer.subscription.updated": EventKind.subscription_updated,
    "customer.subscription.deleted": EventKind.subscription_deleted,
}


class EventParseError(ValueError):
    """The body is not a Stripe event escrowd can store."""


def kind_of(stripe_type: str) -> EventKind:
    return KINDS.get(stripe_type, EventKind.unknown)


def parse_event(body: Any) -> ProviderEvent:
    """Validate a Stripe event's envelope and lift what handlers look up by.

    ``data`` is the event's ``data.object`` (the resource as it was when the event happened).
    ``account`` is the connected account the event concerns: the event's own ``account`` on
    Connect deliveries, else the object's account (an account, or the ``account`` field that
    capabilities, persons and external accounts carry).
    """
    if not isinstance(body, dict):
        raise EventParseError("A Stripe event must be a JSON object.")
    if body.get("object", "event") != "event":
        raise EventParseError(f"Expected object 'event', got {body.get('object')!r}.")
    event_id = _required_str(body, "id")
    stripe_type = _required_str(body, "type")
    created = body.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise EventParseError("The event's 'created' must be a unix timestamp.")
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise EventParseError("The event has no 'data.object'.")
    object_id = _optional_str(obj.get("id"))
    object_type = _optional_str(obj.get("object"))
    return ProviderEvent(
        provider=PROVIDER,
        id=event_id,
        provider_type=stripe_type,
        kind=kind_of(stripe_type),
        created=datetime.fromtimestamp(created, UTC),
        object_id=object_id,
        object_type=object_type,
        account=_account(body, obj, object_id, object_type),
        data=obj,
    )


def _account(
    body: dict[str, Any], obj: dict[str, Any], object_id: str | None, object_type: str | None
) -> str | None:
    own = _optional_str(body.get("account"))
    if own is not None:
        return own
    if object_type == "account":
        return object_id
    return _optional_str(obj.get("account"))


def _required_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise EventParseError(f"The event has no '{key}'.")
    if len(value) > 255:
        raise EventParseError(f"The event's '{key}' is longer than 255 characters.")
    return value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
