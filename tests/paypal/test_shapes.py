"""The typed shapes themselves: what they accept from PayPal and refuse to send."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import money
from escrowd.providers.paypal.mapping import record_from_order, refunds_of_order

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


# A captured, partly refunded order as PayPal's Orders v2 reference shows GET
# /v2/checkout/orders/{id} (ids made up): the purchase unit's payment collection lists its
# captures, with seller_receivable_breakdown, and its refunds, each linking ``up`` to its
# capture. Reconciliation reads PayPal escrows from exactly this.
ORDER_WITH_REFUND = {
    "id": "5O190127TN364715T",
    "status": "COMPLETED",
    "intent": "CAPTURE",
    "purchase_units": [
        {
            "reference_id": "default",
            "amount": {"currency_code": "USD", "value": "100.00"},
            "custom_id": "esc_01HZX",
            "payments": {
                "captures": [
                    {
                        "id": "3C679366HH908993F",
                        "status": "PARTIALLY_REFUNDED",
                        "amount": {"currency_code": "USD", "value": "100.00"},
                        "final_capture": True,
                        "seller_protection": {"status": "ELIGIBLE"},
                        "seller_receivable_breakdown": {
                            "gross_amount": {"currency_code": "USD", "value": "100.00"},
                            "paypal_fee": {"currency_code": "USD", "value": "3.98"},
                            "net_amount": {"currency_code": "USD", "value": "96.02"},
                        },
                        "create_time": "2026-02-27T18:10:40Z",
                        "update_time": "2026-02-27T18:12:02Z",
                    }
                ],
                "refunds": [
                    {
                        "id": "1JU08902781691411",
                        "status": "COMPLETED",
                        "amount": {"currency_code": "USD", "value": "15.00"},
                        "seller_payable_breakdown": {
                            "gross_amount": {"currency_code": "USD", "value": "15.00"},
                            "net_amount": {"currency_code": "USD", "value": "15.00"},
                        },
                        "create_time": "2026-02-27T18:12:02Z",
                        "links": [
                            {
                                "href": "https://api.paypal.com/v2/payments/refunds/1JU08902781691411",
                                "rel": "self",
                                "method": "GET",
                            },
                            {
                                "href": "https://api.paypal.com/v2/payments/captures/3C679366HH908993F",
                                "rel": "up",
                                "method": "GET",
                            },
                        ],
                    }
                ],
            },
        }
    ],
    "create_time": "2026-02-27T18:09:11Z",
}


def test_an_order_with_its_captures_and_refunds_reads_as_reconciliation_needs() -> None:
    order = shapes.Order.model_validate(ORDER_WITH_REFUND)
    record = record_from_order(order)
    assert record.charge is not None
    assert (record.charge.amount_captured, record.charge.fee) == (10000, 398)
    assert (record.payment.status.value, record.payment.transfer_group) == (
        "succeeded",
        "esc_01HZX",
    )
    [refund] = refunds_of_order(order)
    assert (refund.id, refund.amount, refund.status) == ("1JU08902781691411", 1500, "succeeded")
    assert (refund.payment_id, refund.charge_id) == (order.id, "3C679366HH908993F")
    # A refund's status outside PayPal's enum is refused, as a capture's is.
    bad = ORDER_WITH_REFUND["purchase_units"][0]["payments"]["refunds"][0]  # type: ignore[index]
    with pytest.raises(ValidationError):
        shapes.Refund.model_validate({**bad, "status": "DONE"})
