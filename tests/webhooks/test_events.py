"""Stripe events → neutral ProviderEvents, on Stripe's own example objects and minimal ones."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from escrowd.providers.stripe.events import KINDS, EventParseError, kind_of, parse_event
from escrowd.providers.types import EventKind
from escrowd.sandbox.spec_check import SKIP_REASON, load_from_env
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

#: Which Stripe resources the events of each neutral family (an EventKind value's part before
#: the dot) carry: what the family's handlers are written to read. Written from Stripe's event
#: reference, not from the type map, so a type mapped into the wrong family is caught.
FAMILY_RESOURCES = {
    "payment": {"payment_intent"},
    "charge": {"charge"},
    "dispute": {"dispute"},
    "account": {
        "account",
        "application",
        "external_account",
        "deleted_external_account",
        "capability",
        "person",
        "deleted_person",
    },
    "transfer": {"transfer"},
    "payout": {"payout"},
    "invoice": {"invoice"},
    "subscription": {"subscription"},
}

#: Types escrowd still maps though current API versions no longer send them (Stripe dropped
#: them in 2017); Stripe's spec does not list them.
LEGACY_TYPES = {"transfer.paid", "transfer.failed"}


def real_event(stripe_type: str, **extra: Any) -> dict[str, Any]:
    """Stripe's example event envelope around Stripe's example object for the type."""
    resources = fixtures()
    body: dict[str, Any] = copy.deepcopy(resources["event"])
    body["type"] = stripe_type
    body["data"] = {"object": copy.deepcopy(resources[RESOURCE_OF[stripe_type]])}
    body.update(extra)
    return body


def test_every_kind_is_reached_by_exactly_one_stripe_type() -> None:
    # PayPal's own kinds are reached by PayPal's types (tests/paypal/test_webhooks.py).
    stripe_kinds = {k for k in EventKind if not k.value.startswith("paypal.")}
    assert set(KINDS.values()) == stripe_kinds - {EventKind.unknown}
    assert len(set(KINDS.values())) == len(KINDS), "two Stripe types collapse into one kind"


@pytest.mark.parametrize("stripe_type", sorted(KINDS))
def test_each_stripe_type_maps_to_the_kind_its_name_and_resource_call_for(
    stripe_type: str,
) -> None:
    """The neutral name says what happened (the Stripe type's last word) to what.

    ``payment_intent.payment_failed`` → ``payment.failed``: the family carries payment intents
    and the action is the type's verb. Where the neutral action names a sub-resource
    (``account.capability_updated``), the Stripe type names it too (``capability.updated``).
    """
    kind = KINDS[stripe_type]
    family, _, action = kind.value.partition(".")
    segments = stripe_type.split(".")
    # A verb that repeats the family's name says it once: payment_intent.payment_failed.
    verb = segments[-1].removeprefix(f"{family}_")
    assert action == verb or (
        action.endswith(f"_{verb}") and action.removesuffix(f"_{verb}") in segments
    ), f"{stripe_type} → {kind.value}: the action does not match the type"
    # Every mapped type is exercised below on Stripe's own example object.
    assert stripe_type in RESOURCE_OF, f"name Stripe's resource for {stripe_type} in RESOURCE_OF"
    assert RESOURCE_OF[stripe_type] in FAMILY_RESOURCES[family]


def test_every_type_escrowd_maps_is_one_stripe_documents() -> None:
    """Checked against Stripe's OpenAPI spec: a misspelt type would never arrive."""
    checker = load_from_env()
    if checker is None:
        pytest.skip(SKIP_REASON)
    endpoints = checker.spec.document["paths"]["/v1/webhook_endpoints"]["post"]
    form = endpoints["requestBody"]["content"]["application/x-www-form-urlencoded"]
    documented = set(form["schema"]["properties"]["enabled_events"]["items"]["enum"])
    assert set(KINDS) - documented == LEGACY_TYPES
    assert set(RESOURCE_OF) - documented == LEGACY_TYPES


@pytest.mark.parametrize("stripe_type", sorted(RESOURCE_OF))
def test_stripes_example_objects_parse_into_their_kind(stripe_type: str) -> None:
    body = real_event(stripe_type)
    obj = body["data"]["object"]
    parsed = parse_event(body)
    assert parsed.provider == "stripe"
    assert parsed.id == body["id"]
    assert parsed.provider_type == stripe_type
    assert parsed.kind is KINDS[stripe_type]
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
