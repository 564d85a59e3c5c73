"""Payments v2: partial capture with final_capture, void, expiry, refunds, idempotent retries."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import from_money, money
from escrowd.providers.paypal.client import PayPalClient
from tests.paypal.conftest import Wire, shift
from tests.paypal.helpers import authorization, order_request

Cap = shapes.CaptureAuthorizationRequest


async def test_partial_captures_until_final_capture(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-partial-1", amount=10000)
    first = await paypal.capture_authorization(
        auth.id, Cap(amount=money(4000, "usd"), final_capture=False), request_id="pp1-c1"
    )
    assert first.status == "COMPLETED"
    assert first.final_capture is False
    assert from_money(first.amount).amount == 4000
    assert (await paypal.get_authorization(auth.id)).status == "PARTIALLY_CAPTURED"
    second = await paypal.capture_authorization(
        auth.id, Cap(amount=money(1000, "usd"), final_capture=True), request_id="pp1-c2"
    )
    assert second.final_capture is True
    # final_capture closes the authorization even though 5,000 of 10,000 were captured.
    assert (await paypal.get_authorization(auth.id)).status == "CAPTURED"
    with pytest.raises(ProviderError) as info:
        await paypal.capture_authorization(
            auth.id, Cap(amount=money(100, "usd")), request_id="pp1-c3"
        )
    assert info.value.raw_code == "AUTHORIZATION_ALREADY_CAPTURED"
    assert info.value.kind is ProviderErrorKind.invalid_request


async def test_captures_without_an_amount_take_what_remains(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-rest-1", amount=10000)
    await paypal.capture_authorization(auth.id, Cap(amount=money(2500, "usd")), request_id="pr1-c1")
    rest = await paypal.capture_authorization(auth.id, Cap(), request_id="pr1-c2")
    assert from_money(rest.amount).amount == 7500
    assert (await paypal.get_authorization(auth.id)).status == "CAPTURED"


async def test_over_capture_beyond_paypals_ceiling_is_refused(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-over-1", amount=10000)
    with pytest.raises(ProviderError) as info:
        # 115 % of 100.00 is 115.00; one cent more is too much.
        await paypal.capture_authorization(
            auth.id, Cap(amount=money(11501, "usd")), request_id="po1-c1"
        )
    assert info.value.raw_code == "MAX_CAPTURE_AMOUNT_EXCEEDED"
    assert info.value.param == "/amount/value"
    ok = await paypal.capture_authorization(
        auth.id, Cap(amount=money(11500, "usd"), final_capture=True), request_id="po1-c2"
    )
    assert from_money(ok.amount).amount == 11500


async def test_a_capture_in_another_currency_is_refused(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-cur-1")
    with pytest.raises(ProviderError) as info:
        await paypal.capture_authorization(
            auth.id, Cap(amount=money(100, "eur")), request_id="pc1-c1"
        )
    assert info.value.raw_code == "CURRENCY_MISMATCH"


async def test_void_releases_the_authorization(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-void-1")
    voided = await paypal.void_authorization(auth.id, request_id="pv1-void")
    assert voided.status == "VOIDED"
    with pytest.raises(ProviderError) as info:
        await paypal.capture_authorization(auth.id, Cap(), request_id="pv1-c1")
    assert info.value.raw_code == "AUTHORIZATION_VOIDED"
    assert "voided" in info.value.message


async def test_a_partly_captured_authorization_cannot_be_voided(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-void-2")
    await paypal.capture_authorization(auth.id, Cap(amount=money(100, "usd")), request_id="pv2")
    with pytest.raises(ProviderError) as info:
        await paypal.void_authorization(auth.id, request_id="pv2-void")
    assert info.value.raw_code == "PREVIOUSLY_CAPTURED"
    assert (await paypal.get_authorization(auth.id)).status == "PARTIALLY_CAPTURED"


async def test_an_authorization_expires_after_29_days_on_the_sandbox_clock(
    paypal: PayPalClient, raw: httpx.AsyncClient, container: Container
) -> None:
    auth = await authorization(paypal, raw, key="pay-exp-1")
    await shift(container, days=28.9)
    assert (await paypal.get_authorization(auth.id)).status == "CREATED"
    await shift(container, days=0.2)
    assert (await paypal.get_authorization(auth.id)).status == "EXPIRED"
    with pytest.raises(ProviderError) as info:
        await paypal.capture_authorization(auth.id, Cap(), request_id="pe1-c1")
    assert info.value.raw_code == "AUTHORIZATION_EXPIRED"
    assert "29 days" in info.value.message


async def test_a_retried_capture_with_the_same_request_id_captures_once(
    paypal: PayPalClient, raw: httpx.AsyncClient, wire: Wire
) -> None:
    auth = await authorization(paypal, raw, key="pay-idem-1", amount=10000)
    req = Cap(amount=money(3000, "usd"))
    first = await paypal.capture_authorization(auth.id, req, request_id="pi1-c1")
    again = await paypal.capture_authorization(auth.id, req, request_id="pi1-c1")
    assert again.id == first.id
    assert again.model_dump() == first.model_dump()
    posts = [e for e in wire.seen if e.path.endswith(f"{auth.id}/capture")]
    assert len(posts) == 2
    assert {e.headers["paypal-request-id"] for e in posts} == {"pi1-c1"}
    assert posts[0].response == posts[1].response
    # Only 3,000 was captured: the rest (7,000) is still there to take.
    rest = await paypal.capture_authorization(auth.id, Cap(), request_id="pi1-c2")
    assert from_money(rest.amount).amount == 7000


async def test_the_same_request_id_for_a_different_request_is_refused(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-idem-2")
    await paypal.capture_authorization(auth.id, Cap(amount=money(100, "usd")), request_id="pi2")
    with pytest.raises(ProviderError) as info:
        await paypal.capture_authorization(auth.id, Cap(amount=money(200, "usd")), request_id="pi2")
    assert info.value.raw_code == "DUPLICATE_REQUEST_ID"


async def test_a_retried_order_creation_returns_the_same_order(paypal: PayPalClient) -> None:
    first = await paypal.create_order(order_request(), request_id="pay-idem-order")
    again = await paypal.create_order(order_request(), request_id="pay-idem-order")
    assert again.id == first.id


async def test_partial_refunds_then_the_rest(paypal: PayPalClient, raw: httpx.AsyncClient) -> None:
    auth = await authorization(paypal, raw, key="pay-ref-1", amount=10000)
    capture = await paypal.capture_authorization(
        auth.id, Cap(final_capture=True), request_id="pf1-c"
    )
    part = await paypal.refund_capture(
        capture.id,
        shapes.RefundRequest(amount=money(2550, "usd"), note_to_payer="Partial"),
        request_id="pf1-r1",
    )
    assert part.status == "COMPLETED"
    assert part.amount.value == "25.50"
    assert (await paypal.get_capture(capture.id)).status == "PARTIALLY_REFUNDED"
    assert (await paypal.get_refund(part.id)).id == part.id
    with pytest.raises(ProviderError) as info:
        await paypal.refund_capture(
            capture.id, shapes.RefundRequest(amount=money(7451, "usd")), request_id="pf1-r2"
        )
    assert info.value.raw_code == "REFUND_AMOUNT_EXCEEDED"
    rest = await paypal.refund_capture(capture.id, shapes.RefundRequest(), request_id="pf1-r3")
    assert from_money(rest.amount).amount == 7450
    assert (await paypal.get_capture(capture.id)).status == "REFUNDED"
    with pytest.raises(ProviderError) as done:
        await paypal.refund_capture(capture.id, shapes.RefundRequest(), request_id="pf1-r4")
    assert done.value.raw_code == "CAPTURE_FULLY_REFUNDED"


async def test_the_order_shows_its_payments_as_they_are_now(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-view-1")
    await paypal.void_authorization(auth.id, request_id="pvw-void")
    assert auth.supplementary_data is not None
    related = auth.supplementary_data.related_ids
    assert related is not None
    assert related.order_id is not None
    order = await paypal.get_order(related.order_id)
    payments = order.purchase_units[0].payments
    assert payments is not None
    assert [a.status for a in payments.authorizations] == ["VOIDED"]


async def test_two_racing_retries_with_one_request_id_capture_once(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="pay-race-1", amount=10000)
    req = Cap(amount=money(1000, "usd"))
    first, second = await asyncio.gather(
        paypal.capture_authorization(auth.id, req, request_id="race-c1"),
        paypal.capture_authorization(auth.id, req, request_id="race-c1"),
    )
    assert first.id == second.id
    rest = await paypal.capture_authorization(auth.id, Cap(), request_id="race-c2")
    assert from_money(rest.amount).amount == 9000
