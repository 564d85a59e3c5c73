"""Stripe's failures, answered by a scripted Stripe, come out as escrowd's ProviderError.

The bodies are Stripe's error objects; the network failures are httpx's own exceptions raised
by the transport, as a real socket would raise them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.stripe.messages import CARD_MESSAGES, GENERIC_CARD_MESSAGE
from escrowd.providers.types import CaptureRequest, PaymentRequest
from tests.providers.conftest import SECRET_KEY, Scripted

Make = Callable[..., tuple[StripeProvider, Scripted]]
PAYMENT = PaymentRequest(
    idempotency_key="esc_1:fund:1", amount=5000, currency="usd", payment_method="pm_x", confirm=True
)
PI = {
    "id": "pi_1",
    "object": "payment_intent",
    "status": "requires_capture",
    "amount": 5000,
    "currency": "usd",
    "amount_capturable": 5000,
    "amount_received": 0,
    "capture_method": "manual",
}


def error(status: int, headers: dict[str, str] | None = None, **err: Any) -> Callable[..., Any]:
    return lambda _request: httpx.Response(status, json={"error": err}, headers=headers)


async def fail(provider: StripeProvider) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.create_payment(PAYMENT)
    return caught.value


# --- card errors (402) ---------------------------------------------------------------------

SEED_MESSAGES = {
    "card_declined": "Your card was declined. Please use a different payment method.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired. Please update your payment method.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card.",
}


@pytest.mark.parametrize(
    ("code", "decline_code", "expected"),
    [
        ("card_declined", "generic_decline", SEED_MESSAGES["card_declined"]),
        ("card_declined", "insufficient_funds", SEED_MESSAGES["insufficient_funds"]),
        ("expired_card", "expired_card", SEED_MESSAGES["expired_card"]),
        ("incorrect_cvc", "incorrect_cvc", SEED_MESSAGES["incorrect_cvc"]),
        ("processing_error", None, SEED_MESSAGES["processing_error"]),
        # A fraud suspicion is not told to the payer: the generic decline instead.
        ("card_declined", "stolen_card", SEED_MESSAGES["card_declined"]),
        ("card_declined", "fraudulent", SEED_MESSAGES["card_declined"]),
        ("card_declined", "card_velocity_exceeded", CARD_MESSAGES["card_velocity_exceeded"]),
        ("something_new", None, GENERIC_CARD_MESSAGE),
    ],
)
async def test_a_card_error_carries_the_seed_message_chosen_by_decline_code_then_code(
    scripted_stripe: Make, code: str, decline_code: str | None, expected: str
) -> None:
    body: dict[str, Any] = {"type": "card_error", "code": code, "message": "Stripe's words"}
    if decline_code:
        body["decline_code"] = decline_code
    provider, _ = scripted_stripe(error(402, **body, param=""))
    err = await fail(provider)
    assert err.kind is ProviderErrorKind.card
    assert err.message == expected
    assert (err.code, err.decline_code, err.raw_code) == (code, decline_code, code)
    assert err.param is None
    assert not err.retryable
    api = err.to_api_error()
    assert api.http_status == 402
    assert api.message == expected
    assert api.code == (decline_code or code)


def test_the_seed_messages_are_kept_word_for_word() -> None:
    for code, text in SEED_MESSAGES.items():
        assert CARD_MESSAGES[code] == text


# --- rate limits, invalid requests, idempotency --------------------------------------------


async def test_a_rate_limit_keeps_retry_after(scripted_stripe: Make) -> None:
    provider, _ = scripted_stripe(
        error(429, {"Retry-After": "7"}, type="invalid_request_error", code="rate_limit")
    )
    err = await fail(provider)
    assert err.kind is ProviderErrorKind.rate_limit
    assert err.retry_after == 7
    assert err.retryable
    assert err.message == "Too many requests. Please try again later."
    api = err.to_api_error()
    assert (api.http_status, api.headers["Retry-After"]) == (429, "7")


async def test_a_rate_limit_with_an_http_date_retry_after_is_read_as_seconds(
    scripted_stripe: Make,
) -> None:
    provider, _ = scripted_stripe(
        error(429, {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, type="rate_limit_error")
    )
    err = await fail(provider)
    assert err.kind is ProviderErrorKind.rate_limit
    assert err.retry_after is not None
    assert err.retry_after > 0


async def test_a_rate_limit_without_retry_after_leaves_it_unknown(scripted_stripe: Make) -> None:
    provider, _ = scripted_stripe(error(429, type="invalid_request_error", code="rate_limit"))
    err = await fail(provider)
    assert (err.kind, err.retry_after) == (ProviderErrorKind.rate_limit, None)


async def test_an_invalid_request_keeps_stripes_message_code_and_param(
    scripted_stripe: Make,
) -> None:
    provider, _ = scripted_stripe(
        error(
            400,
            type="invalid_request_error",
            code="amount_too_small",
            param="amount",
            message="Amount must be at least $0.50 usd",
        )
    )
    err = await fail(provider)
    assert err.kind is ProviderErrorKind.invalid_request
    assert (err.code, err.param, err.http_status) == ("amount_too_small", "amount", 400)
    assert err.message == "Amount must be at least $0.50 usd"
    assert not err.retryable
    assert err.to_api_error().http_status == 400


async def test_a_missing_object_is_an_invalid_request(scripted_stripe: Make) -> None:
    provider, _ = scripted_stripe(
        error(404, type="invalid_request_error", code="resource_missing", param="intent")
    )
    with pytest.raises(ProviderError) as caught:
        await provider.retrieve_payment("pi_missing")
    assert caught.value.kind is ProviderErrorKind.invalid_request
    assert (caught.value.code, caught.value.http_status) == ("resource_missing", 404)


async def test_a_key_reused_with_other_parameters_is_an_invalid_request(
    scripted_stripe: Make,
) -> None:
    provider, _ = scripted_stripe(error(400, type="idempotency_error", message="Keys..."))
    err = await fail(provider)
    assert (err.kind, err.code) == (ProviderErrorKind.invalid_request, "idempotency_error")


# --- authentication: the key never shows ---------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [(401, "authentication"), (403, "permission")])
async def test_an_authentication_failure_is_a_payment_system_error_that_never_shows_the_key(
    scripted_stripe: Make,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    status: int,
    kind: str,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything any standard logger emits, the SDK's included
    # Stripe quotes part of the key back; this script quotes all of it, the worst case.
    provider, script = scripted_stripe(
        error(
            status, type="invalid_request_error", message=f"Invalid API Key provided: {SECRET_KEY}"
        )
    )
    with capture_logs() as logs:
        err = await fail(provider)
    assert script.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert err.kind is ProviderErrorKind.authentication
    assert err.message == "Payment system error."
    api = err.to_api_error()
    assert api.http_status == 500
    assert "Payment system error" in api.message
    assert logs == [
        {
            "event": "stripe_authentication_failed",
            "log_level": "error",
            "operation": "payment_intents.create",
            "http_status": status,
            "code": None,
            "request_id": None,
        }
    ]
    shown = " ".join(
        [
            str(err),
            repr(err),
            api.message,
            str(logs),
            "".join(traceback.format_exception(err)),
            caplog.text,
            *capsys.readouterr(),
        ]
    )
    assert SECRET_KEY not in shown
    assert SECRET_KEY[-4:] not in shown
    assert err.__cause__ is None
    assert err.__context__ is None


# --- server errors and the network ---------------------------------------------------------


async def test_a_server_error_is_a_retryable_api_error(scripted_stripe: Make) -> None:
    provider, _ = scripted_stripe(error(500, type="api_error", message="Something broke"))
    err = await fail(provider)
    assert (err.kind, err.http_status, err.retryable) == (ProviderErrorKind.api, 500, True)
    assert err.to_api_error().http_status == 502


async def test_a_body_that_is_not_stripes_json_is_an_api_error(scripted_stripe: Make) -> None:
    provider, _ = scripted_stripe(lambda _r: httpx.Response(502, text="<html>Bad gateway</html>"))
    err = await fail(provider)
    assert err.kind is ProviderErrorKind.api


def raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.WriteTimeout("timed out"),
        httpx.ReadError("Connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["read-timeout", "write-timeout", "connection-reset", "disconnected"],
)
async def test_a_post_that_may_have_reached_stripe_has_an_unknown_outcome(
    scripted_stripe: Make, exc: Exception
) -> None:
    provider, _ = scripted_stripe(raising(exc))
    err = await fail(provider)
    assert err.kind is ProviderErrorKind.unknown_outcome
    assert err.outcome_unknown
    assert not err.retryable
    assert err.to_api_error().code == "provider_outcome_unknown"


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("Connection refused"), httpx.ConnectTimeout("timed out")],
    ids=["refused", "connect-timeout"],
)
async def test_a_request_that_never_left_is_a_retryable_api_error(
    scripted_stripe: Make, exc: Exception
) -> None:
    provider, _ = scripted_stripe(raising(exc))
    err = await fail(provider)
    assert (err.kind, err.code, err.retryable) == (
        ProviderErrorKind.api,
        "api_connection_error",
        True,
    )


async def test_a_read_that_times_out_is_only_a_retryable_error(scripted_stripe: Make) -> None:
    provider, _ = scripted_stripe(raising(httpx.ReadTimeout("timed out")))
    with pytest.raises(ProviderError) as caught:
        await provider.retrieve_payment("pi_1")
    assert caught.value.kind is ProviderErrorKind.api


async def test_an_earlier_attempt_that_timed_out_keeps_the_outcome_unknown(
    scripted_stripe: Make,
) -> None:
    # The SDK retries once: the first attempt times out after sending, the retry cannot
    # connect. The last error alone says "never sent"; the first attempt may have moved money.
    answers: list[Exception] = [httpx.ReadTimeout("timed out"), httpx.ConnectError("refused")]

    def handler(request: httpx.Request) -> httpx.Response:
        raise answers.pop(0)

    provider, script = scripted_stripe(handler, retries=1)
    err = await fail(provider)
    assert err.kind is ProviderErrorKind.unknown_outcome
    keys = {r.headers["idempotency-key"] for r in script.requests}
    assert keys == {"esc_1:fund:1"}
    assert len(script.requests) == 2


async def test_a_retry_after_a_timeout_reuses_the_key_and_returns_stripes_answer(
    scripted_stripe: Make,
) -> None:
    answers: list[Any] = [httpx.ReadTimeout("timed out"), PI]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json=answer)

    provider, script = scripted_stripe(handler, retries=1)
    payment = await provider.create_payment(PAYMENT)
    assert payment.id == "pi_1"
    assert [r.headers["idempotency-key"] for r in script.requests] == ["esc_1:fund:1"] * 2


async def test_a_key_still_in_flight_after_a_timeout_leaves_the_outcome_unknown(
    scripted_stripe: Make,
) -> None:
    answers: list[Any] = [
        httpx.ReadTimeout("timed out"),
        httpx.Response(
            409,
            json={"error": {"type": "idempotency_error", "code": "idempotency_key_in_use"}},
            headers={"Stripe-Should-Retry": "false"},
        ),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer

    provider, _ = scripted_stripe(handler, retries=1)
    with pytest.raises(ProviderError) as caught:
        await provider.capture_payment(CaptureRequest(idempotency_key="k", payment_id="pi_1"))
    assert caught.value.kind is ProviderErrorKind.unknown_outcome


async def test_the_network_error_names_no_url_or_header(scripted_stripe: Make) -> None:
    provider, _ = scripted_stripe(raising(httpx.ReadTimeout("timed out")))
    err = await fail(provider)
    assert SECRET_KEY not in str(err)
    assert "stripe.test" not in str(err)
