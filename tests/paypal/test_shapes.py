"""The typed shapes themselves: what they accept from PayPal and refuse to send."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import money

# The envelope of a PAYMENT.CAPTURE.COMPLETED event, in the shape PayPal's webhook reference
# shows (ids made up).
EVENT = {
    "id": "WH-58D329510W468432D-8HN650336L201105X",
    "create_time": "2026-02-27T18:10:40.193Z",
    "resource_type": "capture",
    "event_type": "PAYMENT.CAPTURE.COMPLETED",
    "summary": "Payment completed for $ 2.51 USD",
    "event_version": "1.0",
    "resource_version": "2.0",
    "resource": {
        "id": "42311647XV020574X",
        "status": "COMPLETED",
        "amount": {"currency_code": "USD", "value": "2.51"},
        "final_capture": True,
        "seller_protection": {"status": "ELIGIBLE"},
        "links": [
            {
                "href": "https://api.paypal.com/v2/payments/captures/42311647XV020574X",
                "rel": "self",
                "method": "GET",
            }
        ],
    },
    "links": [
        {
            "href": "https://api.paypal.com/v1/notifications/webhooks-events/WH-58D3",
            "rel": "self",
            "method": "GET",
        }
    ],
}


def test_a_webhook_event_envelope_and_its_resource_parse() -> None:
    event = shapes.WebhookEvent.model_validate(EVENT)
    assert event.event_type == "PAYMENT.CAPTURE.COMPLETED"
    capture = shapes.Capture.model_validate(event.resource)
    assert capture.amount.value == "2.51"
    assert capture.final_capture is True


def test_an_event_without_its_id_or_resource_is_refused() -> None:
    for missing in ("id", "resource", "event_type"):
        with pytest.raises(ValidationError):
            shapes.WebhookEvent.model_validate({k: v for k, v in EVENT.items() if k != missing})


def test_statuses_outside_paypals_enums_are_refused() -> None:
    with pytest.raises(ValidationError):
        shapes.Authorization.model_validate(
            {"id": "A", "status": "AUTHORIZED", "amount": {"currency_code": "USD", "value": "1"}}
        )
    with pytest.raises(ValidationError):
        shapes.PayoutItem.model_validate(
            {
                "payout_item_id": "I",
                "transaction_status": "CLAIMED",
                "payout_batch_id": "B",
                "payout_item": {
                    "amount": {"currency": "USD", "value": "1.00"},
                    "receiver": "a@example.com",
                },
            }
        )


def test_requests_refuse_fields_paypal_would_not_expect_from_us() -> None:
    with pytest.raises(ValidationError):
        shapes.CaptureAuthorizationRequest.model_validate(
            {"amount": {"currency_code": "USD", "value": "1.00"}, "final": True}
        )
    with pytest.raises(ValidationError):
        shapes.OrderRequest.model_validate({"intent": "SALE", "purchase_units": []})


def test_the_approval_url_prefers_payer_action() -> None:
    links = [
        shapes.Link(href="https://x/self", rel="self"),
        shapes.Link(href="https://x/approve", rel="approve"),
        shapes.Link(href="https://x/payer", rel="payer-action"),
    ]
    order = shapes.Order(id="O", status="PAYER_ACTION_REQUIRED", links=links)
    assert order.approval_url == "https://x/payer"
    assert shapes.Order(id="O", status="CREATED", links=links[:2]).approval_url == (
        "https://x/approve"
    )


def test_capture_requests_serialise_amounts_as_strings() -> None:
    req = shapes.CaptureAuthorizationRequest(amount=money(1999, "usd"), final_capture=True)
    assert req.model_dump_json(exclude_none=True) == (
        '{"amount":{"currency_code":"USD","value":"19.99"},"final_capture":true}'
    )
