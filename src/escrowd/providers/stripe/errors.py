"""Stripe's exceptions in escrowd's words (``ProviderError``).

    stripe exception                    ProviderErrorKind   notes
    CardError (402)                     card                human message by decline_code, code
    RateLimitError (429)                rate_limit          Retry-After kept
    IdempotencyError                    invalid_request     our bug: one key, two requests
    InvalidRequestError (400, 404)      invalid_request     Stripe's message and param kept
    AuthenticationError (401),
    PermissionError (403)               authentication      logged without the key or message;
                                                            but ``account_invalid`` (an account
                                                            that disconnected): invalid_request
    APIConnectionError, before sending  api                 nothing happened; retry
    APIConnectionError, after sending   unknown_outcome     POST only: the money may have moved
    APIError (5xx, 409, bad body)       api                 unknown_outcome if an earlier
                                                            attempt may have been delivered

A read (GET) that times out is just an ``api`` error: retrying it is harmless and nothing moved.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Literal

import stripe

from escrowd.logging import get_logger
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.client import NetworkError
from escrowd.providers.stripe.messages import (
    PAYMENT_SYSTEM_ERROR,
    RATE_LIMIT_MESSAGE,
    card_message,
)

log = get_logger(__name__)

PROVIDER = "stripe"
HttpMethod = Literal["get", "post", "delete"]

_UNKNOWN_OUTCOME_MESSAGE = (
    "Stripe did not answer; the request may or may not have been carried out."
)
_API_MESSAGE = "Stripe failed to process the request."


def map_error(
    exc: stripe.StripeError, *, operation: str, method: HttpMethod, maybe_delivered: bool
) -> ProviderError:
    """The ``ProviderError`` for a failed SDK call.

    ``maybe_delivered`` says whether any attempt of the call may have reached Stripe (see
    ``client.track_delivery``); it turns a final network or server failure of a POST into an
    unknown outcome instead of a plain, retryable failure.
    """
    status = exc.http_status
    # The SDK leaves ``code`` unset on some statuses (a 403's ``account_invalid``, say); the
    # error object parsed from the body still has it.
    raw = exc.code or (exc.error.code if exc.error is not None else None)
    request_id = exc.request_id
    if isinstance(exc, stripe.CardError):
        decline_code = exc.error.decline_code if exc.error is not None else None
        err = ProviderError(
            ProviderErrorKind.card,
            card_message(decline_code=decline_code, code=exc.code),
            code=exc.code or "card_declined",
            decline_code=decline_code,
            raw_code=raw,
            param=exc.param or None,
            http_status=status,
            provider=PROVIDER,
        )
    elif isinstance(exc, stripe.RateLimitError):
        err = ProviderError(
            ProviderErrorKind.rate_limit,
            RATE_LIMIT_MESSAGE,
            code="rate_limit",
            raw_code=raw,
            http_status=status,
            retry_after=retry_after_seconds(exc.headers),
            provider=PROVIDER,
        )
    elif isinstance(exc, stripe.IdempotencyError):
        err = ProviderError(
            ProviderErrorKind.invalid_request,
            "Stripe refused an idempotency key reused with different parameters.",
            code="idempotency_error",
            raw_code=raw,
            http_status=status,
            provider=PROVIDER,
        )
    elif isinstance(exc, stripe.InvalidRequestError):
        err = ProviderError(
            ProviderErrorKind.invalid_request,
            exc.user_message or "Stripe refused the request.",
            code=exc.code or "invalid_request",
            raw_code=raw,
            param=exc.param or None,
            http_status=status,
            provider=PROVIDER,
        )
    elif isinstance(exc, stripe.PermissionError) and raw == "account_invalid":
        # Not a bad key: a connected account that disconnected from the platform (or was
        # never its). Callers treat it as gone (``ProviderError.missing``).
        err = ProviderError(
            ProviderErrorKind.invalid_request,
            "The connected account is no longer reachable by the platform.",
            code="account_invalid",
            raw_code=raw,
            http_status=status,
            provider=PROVIDER,
        )
    elif isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        # Stripe's message for a bad key quotes part of it ("sk_test_****1234"): neither the
        # message nor the request is logged, only what the operator needs to find the cause.
        log.error(
            "stripe_authentication_failed",
            operation=operation,
            http_status=status,
            code=raw,
            request_id=request_id,
        )
        return ProviderError(
            ProviderErrorKind.authentication,
            PAYMENT_SYSTEM_ERROR,
            code="authentication_failed",
            raw_code=raw,
            http_status=status,
            provider=PROVIDER,
        )
    elif isinstance(exc, stripe.APIConnectionError):
        # An APIConnectionError from anywhere but our client cannot tell: assume it was sent.
        sent = exc.may_have_reached if isinstance(exc, NetworkError) else True
        err = _unreachable(method=method, reached=maybe_delivered or sent, status=status)
    else:
        # APIError: a 5xx, a 409 (same key in flight), or a body that is not Stripe's JSON.
        err = (
            _unreachable(method=method, reached=True, status=status)
            if maybe_delivered
            else ProviderError(
                ProviderErrorKind.api,
                _API_MESSAGE,
                code="api_error",
                raw_code=raw,
                http_status=status,
                provider=PROVIDER,
            )
        )
    log.warning(
        "stripe_call_failed",
        operation=operation,
        kind=str(err.kind),
        code=err.code,
        decline_code=err.decline_code,
        param=err.param,
        http_status=status,
        request_id=request_id,
    )
    return err


def _unreachable(*, method: HttpMethod, reached: bool, status: int | None) -> ProviderError:
    if reached and method != "get":
        return ProviderError(
            ProviderErrorKind.unknown_outcome,
            _UNKNOWN_OUTCOME_MESSAGE,
            code="outcome_unknown",
            http_status=status,
            provider=PROVIDER,
        )
    return ProviderError(
        ProviderErrorKind.api,
        "Could not reach Stripe.",
        code="api_connection_error",
        http_status=status,
        provider=PROVIDER,
    )


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> int | None:
    """``Retry-After`` in whole seconds (delta or HTTP date), or None when absent or unreadable."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return max(0, int(delta + 0.999))
