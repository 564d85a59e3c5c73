"""PayPal's webhook envelope → escrowd's neutral :class:`ProviderEvent`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from escrowd.providers.paypal.shapes import WebhookEvent
from escrowd.providers.types import EventKind, ProviderEvent

PROVIDER = "paypal"

KINDS: dict[str, EventKind] = {
    "CHECKOUT.ORDER.APPROVED": EventKind.paypal_order_approved,
    "PAYMENT.AUTHORIZATION.CREATED": EventKind.paypal_authorization_created,
    "PAYMENT.AUTHORIZATION.VOIDED": EventKind.paypal_authorization_voided,
    "PAYMENT.CAPTURE.COMPLETED": EventKind.paypal_capture_completed,
    "PAYMENT.CAPTURE.DENIED": EventKind.paypal_capture_denied,
    "PAYMENT.CAPTURE.REFUNDED": EventKind.paypal_capture_refunded,
    "PAYMENT.CAPTURE.REVERSED": EventKind.paypal_capture_reversed,
    "CUSTOMER.DISPUTE.CREATED": EventKind.paypal_dispute_created,
    "CUSTOMER.DISPUTE.RESOLVED": EventKind.paypal_dispute_resolved,
}
#: Families: every PAYMENT.PAYOUTSBATCH.* and PAYMENT.PAYOUTS-ITEM.* event.
PREFIXES: dict[str, EventKind] = {
    "PAYMENT.PAYOUTSBATCH.": EventKind.paypal_payouts_batch,
    "PAYMENT.PAYOUTS-ITEM.": EventKind.paypal_payouts_item,
}


class EventParseError(ValueError):
    pass


def kind_of(event_type: str) -> EventKind:
    if event_type in KINDS:
        return KINDS[event_type]
    for prefix, kind in PREFIXES.items():
        if event_type.startswith(prefix):
            return kind
    return EventKind.unknown


def _object_id(event: WebhookEvent) -> str | None:
    resource = event.resource
    if event.resource_type == "payouts":
        header = resource.get("batch_header")
        if isinstance(header, dict) and isinstance(header.get("payout_batch_id"), str):
            return str(header["payout_batch_id"])
    for key in ("id", "payout_item_id", "dispute_id"):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    return None


def parse_event(body: Any) -> ProviderEvent:
    try:
        event = WebhookEvent.model_validate(body)
        created = datetime.fromisoformat(event.create_time.replace("Z", "+00:00"))
    except (ValidationError, ValueError) as exc:
        raise EventParseError(f"not a PayPal webhook event ({type(exc).__name__})") from None
    if created.tzinfo is None:
        raise EventParseError("create_time has no time zone")
    return ProviderEvent(
        provider=PROVIDER,
        id=event.id,
        provider_type=event.event_type,
        kind=kind_of(event.event_type),
        created=created,
        object_id=_object_id(event),
        object_type=event.resource_type,
        account=None,
        data=event.resource,
    )
