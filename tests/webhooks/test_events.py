"""Stripe events → neutral ProviderEvents, on Stripe's own example objects and minimal ones."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from escrowd.providers.stripe.events import KINDS, EventParseError, kind_of, parse_event
from escrowd.providers.types import EventKind
from tests.webhooks.conftest import event, fixtures

#: Which of Stripe's example resources each event type carries in ``data.object``.
RESOURCE_OF = {
    "payment_intent.succeeded": "payment_intent",
    "payment_intent.payment_failed": "payment_intent",
    "payment_intent.canceled": "payment_intent",
    "payment_intent.processing": "payment_intent",
    "payment_intent.amount_capturable_updated": "payment_intent",
    "payment_intent.requires_action": "payment_intent",
    "charge.captured": "charge",
    "charge.refunded": "charge",
    "charge.expired": "charge",
    "charge.dispute.created": "dispute",
    "charge.dispute.closed": "dispute",
    "account.updated": "account",
    "account.application.authorized": "application",
    "account.application.deauthorized": "application",
    "account.external_account.created": "external_account",
    "account.external_account.deleted": "deleted_external_account",
    "capability.updated": "capability",
    "person.updated": "person",
    "person.deleted": "deleted_person",
    "transfer.created": "transfer",
    "transfer.reversed": "transfer",
    "transfer.paid": "transfer",
    "transfer.failed": "transfer",
    "payout.paid": "payout",
    "payout.failed": "payout",
    "invoice.paid": "invoice",
    "invoice.payment_failed": "invoice",
    "customer.subscription.updated": "subscription",
    "customer.subscription.deleted": "subscription",
}

EXPECTED_KIND = {
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
    "transfer.paid": EventKind.transfer_paid,
    "transfer.failed": EventKind.transfer_failed,
    "payout.paid": EventKind.payout_paid,
    "payout.failed": EventKind.payout_failed,
    "invoice.paid": EventKind.invoice_paid,
    "invoice.payment_failed": EventKind.invoice_payment_failed,
    "customer.subscription.updated": EventKind.subscription_updated,
    "customer.subscription.deleted": EventKind.subscription_deleted,
}


def real_event(stripe_type: str, **extra: Any) -> dict[str, Any]:
    """Stripe's example event envelope around Stripe's example object for the type."""
    resources = fixtures()
    body: dict[str, Any] = copy.deepcopy(resources["event"])
    body["type"] = stripe_type
    body["data"] = {"object": copy.deepcopy(resources[RESOURCE_OF[stripe_type]])}
    body.update(extra)
    return body


def test_every_event_type_the_seeds_name_has_a_kind() -> None:
    assert KINDS == EXPECTED_KIND
    assert set(KINDS.values()) == set(EventKind) - {EventKind.unknown}


@pytest.mark.parametrize("stripe_type", sorted(EXPECTED_KIND))
def test_stripes_example_objects_parse_into_the_right_kind(stripe_type: str) -> None:
    body = real_event(stripe_type)
    obj = body["data"]["object"]
    parsed = parse_event(body)
    assert parsed.provider == "stripe"
    assert parsed.id == body["id"]
    assert parsed.provider_type == stripe_type
    assert parsed.kind is EXPECTED_KIND[stripe_type]
    assert parsed.created == datetime.fromtimestamp(body["created"], UTC)
    assert parsed.object_id == obj["id"]
    assert parsed.object_type == obj["object"]
    assert parsed.data == obj


def test_the_example_event_itself_is_an_unknown_kind() -> None:
    body = fixtures()["event"]
    assert body["type"] == "plan.created"
    parsed = parse_event(body)
    assert parsed.kind is EventKind.unknown
    assert parsed.object_id == body["data"]["object"]["id"]


def test_account_events_name_the_account_they_concern() -> None:
    resources = fixtures()
    acct = resources["account"]["id"]
    assert parse_event(real_event("account.updated")).account == acct
    assert parse_event(real_event("capability.updated")).account == acct
    assert parse_event(real_event("person.updated")).account == acct


def test_a_connect_delivery_is_attributed_to_its_connected_account() -> None:
    body = real_event("payment_intent.succeeded", account="acct_connected")
    assert parse_event(body).account == "acct_connected"
    body = real_event("account.external_account.created", account="acct_connected")
    assert parse_event(body).account == "acct_connected"


def test_a_platform_payment_event_has_no_account() -> None:
    assert parse_event(real_event("payment_intent.succeeded")).account is None


def test_a_minimal_hand_built_event_parses() -> None:
    body = {
        "id": "evt_min",
        "type": "charge.expired",
        "created": 1_700_000_000,
        "data": {"object": {"id": "ch_1", "object": "charge"}},
    }
    parsed = parse_event(body)
    assert parsed.kind is EventKind.charge_expired
    assert parsed.object_id == "ch_1"
    assert parsed.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_unknown_and_future_types_become_unknown() -> None:
    assert kind_of("radar.early_fraud_warning.created") is EventKind.unknown
    assert parse_event(event("v2.something.new")).kind is EventKind.unknown


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ("evt_1", "JSON object"),
        ({"object": "payment_intent", "id": "pi_1"}, "Expected object 'event'"),
        ({"type": "charge.expired", "created": 1, "data": {"object": {}}}, "'id'"),
        ({"id": "evt_1", "created": 1, "data": {"object": {}}}, "'type'"),
        ({"id": "", "type": "x", "created": 1, "data": {"object": {}}}, "'id'"),
        ({"id": 5, "type": "x", "created": 1, "data": {"object": {}}}, "'id'"),
        ({"id": "evt_1", "type": "x", "data": {"object": {}}}, "'created'"),
        ({"id": "evt_1", "type": "x", "created": "1", "data": {"object": {}}}, "'created'"),
        ({"id": "evt_1", "type": "x", "created": True, "data": {"object": {}}}, "'created'"),
        ({"id": "evt_1", "type": "x", "created": 1}, "data.object"),
        ({"id": "evt_1", "type": "x", "created": 1, "data": {"object": "pi"}}, "data.object"),
        ({"id": "evt_" + "x" * 300, "type": "x", "created": 1, "data": {"object": {}}}, "255"),
    ],
)
def test_malformed_bodies_are_refused_with_a_clear_error(body: Any, message: str) -> None:
    with pytest.raises(EventParseError, match=message):
        parse_event(body)
