"""Orders v2 through the adapter and the sandbox: approval, authorize, capture, decline."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from escrowd.errors import CardError
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal.amounts import from_money
from escrowd.providers.paypal.client import PayPalClient
from tests.paypal.conftest import CANCEL_URL, RETURN_URL, Wire
from tests.paypal.helpers import approved_order, order_request, payer


async def test_an_order_waits_for_the_payer_on_the_approval_link(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await paypal.create_order(order_request(), request_id="ord-create-1")
    assert order.status == "PAYER_ACTION_REQUIRED"
    assert order.intent == "AUTHORIZE"
    assert order.approval_url is not None
    assert order.approval_url.endswith(f"/sandbox/paypal/checkoutnow?token={order.id}")
    r = await payer(raw, order)
    assert r.status_code == 303
    target = httpx.URL(r.headers["location"])
    assert str(target.copy_with(query=None)) == RETURN_URL
    assert target.params["token"] == order.id
    assert target.params["PayerID"]
    assert (await paypal.get_order(order.id)).status == "APPROVED"


async def test_a_cancelled_approval_returns_to_the_cancel_url_and_cannot_be_authorized(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await paypal.create_order(order_request(), request_id="ord-cancel-1")
    r = await payer(raw, order, action="cancel")
    assert r.status_code == 303
    assert r.headers["location"] == f"{CANCEL_URL}?token={order.id}"
    with pytest.raises(ProviderError) as info:
        await paypal.authorize_order(order.id, request_id="ord-cancel-1-auth")
    assert info.value.kind is ProviderErrorKind.invalid_request
    assert info.value.raw_code == "ORDER_NOT_APPROVED"
    assert "not approved" in info.value.message
    assert (await paypal.get_order(order.id)).status == "PAYER_ACTION_REQUIRED"


async def test_authorizing_an_order_holds_the_amount_for_29_days(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await approved_order(paypal, raw, order_request(amount=12345), key="ord-auth-1")
    done = await paypal.authorize_order(order.id, request_id="ord-auth-1-auth")
    assert done.status == "COMPLETED"
    payments = done.purchase_units[0].payments
    assert payments is not None
    (auth,) = payments.authorizations
    assert auth.status == "CREATED"
    assert from_money(auth.amount).amount == 12345
    assert auth.invoice_id == "esc_1"
    assert auth.create_time is not None
    assert auth.expiration_time is not None
    created = datetime.fromisoformat(auth.create_time)
    assert datetime.fromisoformat(auth.expiration_time) - created == timedelta(days=29)
    with pytest.raises(ProviderError) as again:
        await paypal.authorize_order(order.id, request_id="ord-auth-1-auth-again")
    assert again.value.raw_code == "ORDER_ALREADY_AUTHORIZED"


async def test_a_capture_order_is_captured_in_full_at_once(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await approved_order(paypal, raw, order_request("CAPTURE", 2500), key="ord-cap-1")
    done = await paypal.capture_order(order.id, request_id="ord-cap-1-capture")
    assert done.status == "COMPLETED"
    payments = done.purchase_units[0].payments
    assert payments is not None
    (capture,) = payments.captures
    assert capture.status == "COMPLETED"
    assert capture.final_capture is True
    assert from_money(capture.amount).amount == 2500
    assert (await paypal.get_capture(capture.id)).status == "COMPLETED"


async def test_the_wrong_action_for_the_intent_is_refused(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await approved_order(paypal, raw, order_request("CAPTURE"), key="ord-intent-1")
    with pytest.raises(ProviderError) as info:
        await paypal.authorize_order(order.id, request_id="ord-intent-1-auth")
    assert info.value.raw_code == "ACTION_DOES_NOT_MATCH_INTENT"
    assert info.value.http_status == 422


async def test_a_declined_funding_source_is_a_card_error_with_a_human_message(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await approved_order(paypal, raw, key="ord-decline-1", funding="declined")
    with pytest.raises(ProviderError) as info:
        await paypal.authorize_order(order.id, request_id="ord-decline-1-auth")
    err = info.value
    assert err.kind is ProviderErrorKind.card
    assert err.decline_code == "instrument_declined"
    assert err.provider == "paypal"
    assert "declined" in err.message
    assert "another funding source" in err.message
    api = err.to_api_error()
    assert isinstance(api, CardError)
    assert api.http_status == 402
    # Nothing was authorized: the order waits for a new approval.
    assert (await paypal.get_order(order.id)).status == "APPROVED"
    again = await payer(raw, order)
    assert again.status_code == 303
    done = await paypal.authorize_order(order.id, request_id="ord-decline-1-auth-2")
    assert done.status == "COMPLETED"


async def test_jpy_orders_carry_whole_yen(paypal: PayPalClient, raw: httpx.AsyncClient) -> None:
    order = await paypal.create_order(order_request(amount=1500, currency="jpy"), request_id="j1")
    unit = order.purchase_units[0]
    assert unit.amount is not None
    assert unit.amount.model_dump() == {"currency_code": "JPY", "value": "1500"}


async def test_an_unknown_order_is_missing(paypal: PayPalClient) -> None:
    with pytest.raises(ProviderError) as info:
        await paypal.get_order("0ABCDEFGHIJKLMNOP")
    assert info.value.missing
    assert info.value.http_status == 404


async def test_every_money_moving_call_carried_its_request_id(
    paypal: PayPalClient, raw: httpx.AsyncClient, wire: Wire
) -> None:
    order = await approved_order(paypal, raw, key="ord-ids-1")
    await paypal.authorize_order(order.id, request_id="ord-ids-1-auth")
    sent = [(e.path, e.headers.get("paypal-request-id")) for e in wire.seen if e.method == "POST"]
    assert ("/v2/checkout/orders", "ord-ids-1") in sent
    assert (f"/v2/checkout/orders/{order.id}/authorize", "ord-ids-1-auth") in sent
