"""PayPal orders as escrowd payments, step by step through the sandbox."""

from __future__ import annotations

from datetime import timedelta

import httpx

from escrowd.bootstrap import Container
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import money
from escrowd.providers.paypal.client import PayPalClient
from escrowd.providers.paypal.mapping import (
    charge_from_capture,
    honor_period_end,
    order_of,
    payment_from_order,
    refund_from_paypal,
    when,
)
from escrowd.providers.types import Payment, PaymentStatus
from tests.paypal.conftest import shift
from tests.paypal.helpers import approved_order, authorization, order_request, payer

Cap = shapes.CaptureAuthorizationRequest


async def _payment_of(paypal: PayPalClient, auth: shapes.Authorization) -> Payment:
    assert auth.supplementary_data is not None
    related = auth.supplementary_data.related_ids
    assert related is not None
    assert related.order_id is not None
    return payment_from_order(await paypal.get_order(related.order_id))


async def test_an_order_moves_from_approval_to_capture(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await paypal.create_order(order_request(amount=10000), request_id="map-1")
    p = payment_from_order(order)
    assert p.status is PaymentStatus.requires_action
    assert p.next_action_url == order.approval_url
    assert (p.amount, p.currency, p.capture_method) == (10000, "usd", "manual")
    await payer(raw, order)
    p = payment_from_order(await paypal.get_order(order.id))
    assert p.status is PaymentStatus.requires_confirmation
    assert p.next_action_url is None
    done = await paypal.authorize_order(order.id, request_id="map-1-auth")
    p = payment_from_order(done)
    assert p.status is PaymentStatus.requires_capture
    assert p.amount_capturable == 10000
    assert p.amount_received == 0
    payments = done.purchase_units[0].payments
    assert payments is not None
    auth = payments.authorizations[0]
    created = when(auth.create_time)
    assert created is not None
    assert p.capture_before == created + timedelta(days=29)
    assert honor_period_end(auth) == created + timedelta(days=3)
    await paypal.capture_authorization(auth.id, Cap(amount=money(4000, "usd")), request_id="m1")
    p = payment_from_order(await paypal.get_order(order.id))
    assert p.status is PaymentStatus.requires_capture
    assert (p.amount_capturable, p.amount_received) == (6000, 4000)
    last = await paypal.capture_authorization(auth.id, Cap(final_capture=True), request_id="m2")
    p = payment_from_order(await paypal.get_order(order.id))
    assert p.status is PaymentStatus.succeeded
    assert (p.amount_capturable, p.amount_received) == (0, 10000)
    assert p.latest_charge == last.id


async def test_void_and_expiry_cancel_the_payment(
    paypal: PayPalClient, raw: httpx.AsyncClient, container: Container
) -> None:
    voided = await authorization(paypal, raw, key="map-2")
    await paypal.void_authorization(voided.id, request_id="map-2-void")
    assert (await _payment_of(paypal, voided)).status is PaymentStatus.canceled
    expiring = await authorization(paypal, raw, key="map-3")
    await shift(container, days=30)
    assert (await _payment_of(paypal, expiring)).status is PaymentStatus.canceled


async def test_a_capture_order_is_succeeded_and_refunds_map(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await approved_order(paypal, raw, order_request("CAPTURE", 500, "jpy"), key="map-4")
    done = await paypal.capture_order(order.id, request_id="map-4-cap")
    p = payment_from_order(done)
    assert p.status is PaymentStatus.succeeded
    assert (p.amount, p.currency, p.amount_received) == (500, "jpy", 500)
    assert p.capture_method == "automatic"
    assert p.latest_charge is not None
    refund = await paypal.refund_capture(
        p.latest_charge, shapes.RefundRequest(amount=money(120, "jpy")), request_id="map-4-r"
    )
    mapped = refund_from_paypal(refund, capture_id=p.latest_charge)
    assert (mapped.amount, mapped.currency, mapped.status) == (120, "jpy", "succeeded")
    assert mapped.charge_id == p.latest_charge


async def test_a_capture_is_a_charge_with_paypal_s_fee(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="map-fee", amount=20000)
    capture = await paypal.capture_authorization(
        auth.id, Cap(amount=money(5000, "usd"), final_capture=False), request_id="map-fee-c"
    )
    breakdown = capture.seller_receivable_breakdown
    assert breakdown is not None
    assert breakdown.gross_amount.value == "50.00"
    charge = charge_from_capture(capture)
    # 3.49 % of 50.00 = 1.745, half up 1.75, + 0.49.
    assert (charge.id, charge.amount, charge.currency) == (capture.id, 5000, "usd")
    assert (charge.fee, charge.net) == (224, 5000 - 224)
    assert charge.payment_intent == order_of(auth)
    assert charge.captured
    assert charge.paid
    pending = capture.model_copy(update={"status": "PENDING", "seller_receivable_breakdown": None})
    assert (charge_from_capture(pending).fee, charge_from_capture(pending).captured) == (
        None,
        False,
    )
