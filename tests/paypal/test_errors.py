"""PayPal's failures mapped to escrowd's provider errors, at the network edge."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from escrowd.clock import FrozenClock
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal import errors
from escrowd.providers.paypal.client import PayPalClient
from tests.paypal.helpers import order_request


def _response(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def _error(name: str, issue: str | None = None, **detail: str) -> dict[str, object]:
    body: dict[str, object] = {"name": name, "message": "m", "debug_id": "abc123"}
    if issue:
        body["details"] = [{"issue": issue, **detail}]
    return body


def test_rate_limits_are_retryable_after_paypals_delay() -> None:
    err = errors.from_response(_response(429, _error("RATE_LIMIT_REACHED"), **{"Retry-After": "7"}))
    assert err.kind is ProviderErrorKind.rate_limit
    assert err.retryable
    assert err.retry_after == 7


def test_paypal_server_errors_are_retryable_api_errors() -> None:
    err = errors.from_response(_response(503, _error("SERVICE_UNAVAILABLE")))
    assert err.kind is ProviderErrorKind.api
    assert err.retryable
    assert err.to_api_error().http_status == 502


def test_the_debug_id_is_kept_for_support() -> None:
    err = errors.from_response(
        _response(
            422, _error("UNPROCESSABLE_ENTITY", "SOMETHING_NEW", description="PayPal's words")
        )
    )
    assert err.kind is ProviderErrorKind.invalid_request
    assert "PayPal's words" in err.message
    assert "abc123" in err.message
    assert err.code == "something_new"


def test_a_body_that_is_not_paypals_is_still_an_error() -> None:
    err = errors.from_response(httpx.Response(502, content=b"<html>bad gateway</html>"))
    assert err.kind is ProviderErrorKind.api
    assert "HTTP 502" in err.message


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> PayPalClient:
    return PayPalClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        client_id="id",
        client_secret="secret",
        clock=FrozenClock(),
    )


def _token_then(fail: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            return _response(200, {"access_token": "t", "token_type": "Bearer", "expires_in": 60})
        raise fail

    return handler


async def test_a_connection_that_never_opened_is_a_plain_retryable_failure() -> None:
    client = _client(_token_then(httpx.ConnectError("refused")))
    with pytest.raises(ProviderError) as info:
        await client.create_order(order_request(), request_id="net-1")
    assert info.value.kind is ProviderErrorKind.api
    assert not info.value.outcome_unknown


async def test_a_timeout_after_sending_is_an_unknown_outcome() -> None:
    client = _client(_token_then(httpx.ReadTimeout("slow")))
    with pytest.raises(ProviderError) as info:
        await client.create_order(order_request(), request_id="net-2")
    assert info.value.outcome_unknown


async def test_a_2xx_body_that_is_not_the_documented_shape_is_a_provider_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            return _response(200, {"access_token": "t", "token_type": "Bearer", "expires_in": 60})
        return _response(200, {"id": "X", "status": "NOT_A_STATUS"})

    client = _client(handler)
    with pytest.raises(ProviderError) as info:
        await client.get_order("X1")
    assert info.value.kind is ProviderErrorKind.api
    assert "documented shape" in info.value.message


async def test_an_id_that_cannot_be_a_path_segment_is_never_sent() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return _response(500, {})

    client = _client(handler)
    with pytest.raises(ProviderError) as info:
        await client.get_order("../v1/payments/payouts")
    assert info.value.missing
    assert sent == []
