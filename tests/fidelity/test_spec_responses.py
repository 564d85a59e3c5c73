"""Responses against Stripe's spec, using Stripe's own example objects (fixtures3.json)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from escrowd.sandbox.spec_check import SpecChecker

PI = "/v1/payment_intents"


@pytest.fixture
def intent(stripe_objects: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = copy.deepcopy(stripe_objects["payment_intent"])
    return found


def test_stripes_example_payment_intent_passes(
    checker: SpecChecker, intent: dict[str, Any]
) -> None:
    assert checker.check_response("POST", PI, 200, intent) == []
    assert checker.check_response("GET", f"{PI}/{intent['id']}", 200, intent) == []


# Resources escrowd's adapter reads whose 2026 example still fits the 2023-08-16 spec. (Left out
# because Stripe changed them since: account — settings.bacs_debit_payments.display_name became
# nullable; customer — discount.coupon; subscription — current_period_* moved to its items.)
@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ("charge", "/v1/charges/ch_1"),
        ("refund", "/v1/refunds/re_1"),
        ("transfer", "/v1/transfers/tr_1"),
        ("transfer_reversal", "/v1/transfers/tr_1/reversals/trr_1"),
        ("payout", "/v1/payouts/po_1"),
        ("setup_intent", "/v1/setup_intents/seti_1"),
        ("payment_method", "/v1/payment_methods/pm_1"),
        ("balance_transaction", "/v1/balance_transactions/txn_1"),
        ("product", "/v1/products/prod_1"),
        ("price", "/v1/prices/price_1"),
        ("event", "/v1/events/evt_1"),
    ],
)
def test_stripes_example_objects_pass_on_their_retrieve_path(
    checker: SpecChecker, stripe_objects: dict[str, Any], resource: str, path: str
) -> None:
    body = stripe_objects[resource]
    if resource == "product":
        # Stripe's 2026 example lacks `features`, required by the 2023 spec (since renamed).
        body = {**body, "features": []}
    assert checker.check_response("GET", path, 200, body) == []


def test_a_wrong_typed_field_is_named(checker: SpecChecker, intent: dict[str, Any]) -> None:
    intent["amount"] = "1099"
    assert checker.check_response("POST", PI, 200, intent) == [
        "POST /v1/payment_intents → 200: field 'amount'='1099' is not integer"
    ]


def test_a_boolean_is_not_an_integer(checker: SpecChecker, intent: dict[str, Any]) -> None:
    intent["amount"] = True
    assert checker.check_response("POST", PI, 200, intent) == [
        "POST /v1/payment_intents → 200: field 'amount'=true is not integer"
    ]


def test_a_status_outside_the_enum_is_named(checker: SpecChecker, intent: dict[str, Any]) -> None:
    intent["status"] = "done"
    [message] = checker.check_response("POST", PI, 200, intent)
    assert message.startswith(
        "POST /v1/payment_intents → 200: field 'status'='done' not in enum [canceled, processing,"
    )


def test_the_object_name_must_be_the_resources(
    checker: SpecChecker, intent: dict[str, Any]
) -> None:
    intent["object"] = "charge"
    assert checker.check_response("POST", PI, 200, intent) == [
        "POST /v1/payment_intents → 200: field 'object'='charge' not in enum [payment_intent]"
    ]


def test_a_missing_required_field_is_named(checker: SpecChecker, intent: dict[str, Any]) -> None:
    del intent["currency"]
    assert checker.check_response("POST", PI, 200, intent) == [
        "POST /v1/payment_intents → 200: missing required field 'currency'"
    ]


def test_null_is_accepted_only_where_nullable(checker: SpecChecker, intent: dict[str, Any]) -> None:
    intent["customer"] = None
    assert checker.check_response("POST", PI, 200, intent) == []
    intent["amount"] = None
    assert checker.check_response("POST", PI, 200, intent) == [
        "POST /v1/payment_intents → 200: field 'amount' is null but not nullable"
    ]


def test_an_expandable_field_may_be_an_id_or_the_expanded_object(
    checker: SpecChecker, intent: dict[str, Any], stripe_objects: dict[str, Any]
) -> None:
    intent["latest_charge"] = "ch_1"
    assert checker.check_response("POST", PI, 200, intent) == []
    charge = copy.deepcopy(stripe_objects["charge"])
    intent["latest_charge"] = charge
    assert checker.check_response("POST", PI, 200, intent) == []
    charge["amount_captured"] = "all"
    assert checker.check_response("POST", PI, 200, intent) == [
        "POST /v1/payment_intents → 200: field 'latest_charge.amount_captured'='all' is not integer"
    ]
    intent["latest_charge"] = 42
    [message] = checker.check_response("POST", PI, 200, intent)
    assert message.startswith("POST /v1/payment_intents → 200: field 'latest_charge'=42 matches")


def test_metadata_values_must_be_strings(checker: SpecChecker, intent: dict[str, Any]) -> None:
    intent["metadata"] = {"escrow_id": "esc_1", "count": 5}
    assert checker.check_response("POST", PI, 200, intent) == [
        "POST /v1/payment_intents → 200: field 'metadata.count'=5 is not string"
    ]


def test_fields_newer_than_the_spec_are_tolerated(
    checker: SpecChecker, intent: dict[str, Any]
) -> None:
    intent["a_field_from_2027"] = {"x": 1}
    assert checker.check_response("POST", PI, 200, intent) == []


def test_a_list_is_checked_item_by_item_and_its_url_against_the_pattern(
    checker: SpecChecker, intent: dict[str, Any]
) -> None:
    page = {"object": "list", "data": [intent], "has_more": False, "url": PI}
    assert checker.check_response("GET", PI, 200, page) == []
    broken = copy.deepcopy(intent)
    broken["currency"] = 840
    page = {"object": "list", "data": [intent, broken], "has_more": False, "url": "/v1/charges"}
    assert checker.check_response("GET", PI, 200, page) == [
        "GET /v1/payment_intents → 200: field 'data[1].currency'=840 is not string",
        "GET /v1/payment_intents → 200: field 'url'='/v1/charges' does not match "
        "'^/v1/payment_intents'",
    ]


def test_an_error_response_is_checked_against_stripes_error_object(
    checker: SpecChecker,
) -> None:
    declined = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "param": "payment_method",
        }
    }
    assert checker.check_response("POST", f"{PI}/pi_1/confirm", 402, declined) == []
    assert checker.check_response("POST", PI, 400, {"error": {"type": "oops"}}) == [
        "POST /v1/payment_intents → 400: field 'error.type'='oops' not in enum "
        "[api_error, card_error, idempotency_error, invalid_request_error]"
    ]
    assert checker.check_response("POST", PI, 400, {"message": "no"}) == [
        "POST /v1/payment_intents → 400: missing required field 'error'"
    ]


def test_a_deleted_object_matches_the_delete_operation(checker: SpecChecker) -> None:
    deleted = {"id": "cus_1", "object": "customer", "deleted": True}
    assert checker.check_response("DELETE", "/v1/customers/cus_1", 200, deleted) == []
    assert checker.check_response("DELETE", "/v1/customers/cus_1", 200, {"id": "cus_1"}) == [
        "DELETE /v1/customers/cus_1 → 200: missing required field 'deleted'",
        "DELETE /v1/customers/cus_1 → 200: missing required field 'object'",
    ]


def test_an_unknown_operation_is_left_to_the_request_check(checker: SpecChecker) -> None:
    assert checker.check_response("POST", "/v1/nowhere", 200, {}) == []


def test_an_object_outside_a_response_is_checked_by_its_object_name(
    checker: SpecChecker, intent: dict[str, Any]
) -> None:
    # What the sandbox puts in a webhook event's data.object.
    assert checker.check_object(intent) == []
    assert checker.check_object({"id": "cus_1", "object": "customer", "deleted": True}) == []
    intent["capture_method"] = "later"
    [message] = checker.check_object(intent)
    assert message.startswith(
        f"object payment_intent {intent['id']}: field 'capture_method'='later' not in enum"
    )
    assert checker.check_object({"object": "escrow"}) == [
        "object escrow: no object named 'escrow' in Stripe's spec"
    ]
