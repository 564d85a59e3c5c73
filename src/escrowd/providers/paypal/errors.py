"""PayPal's failures in escrowd's words (``ProviderError``), with messages a person can act on.

PayPal's error object names a class of failure (``name``: INVALID_REQUEST, UNPROCESSABLE_ENTITY,
RESOURCE_NOT_FOUND, …) and, in ``details[].issue``, the precise cause. The issue decides the
kind: a declined funding source is the payer's problem (``card``, as a Stripe decline), an
expired or voided authorization or an over-capture is a request that cannot succeed as sent
(``invalid_request``), PayPal's own failures may be retried with the same PayPal-Request-Id.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal import shapes

PROVIDER = "paypal"

#: Issues that are the payer's funding source saying no: ask for another way to pay.
DECLINES = frozenset(
    {
        "INSTRUMENT_DECLINED",
        "PAYER_CANNOT_PAY",
        "TRANSACTION_REFUSED",
        "PAYER_ACCOUNT_RESTRICTED",
        "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
    }
)

_MESSAGES = {
    "INSTRUMENT_DECLINED": "The payer's PayPal funding source was declined. Ask the payer to "
    "approve the payment again with another funding source.",
    "PAYER_CANNOT_PAY": "PayPal will not let this payer pay with the chosen funding source.",
    "TRANSACTION_REFUSED": "PayPal refused the transaction.",
    "AUTHORIZATION_EXPIRED": "The PayPal authorization has expired (PayPal holds funds for 29 "
    "days); the payer must approve a new payment.",
    "AUTHORIZATION_VOIDED": "The PayPal authorization was voided; nothing more can be "
    "captured from it.",
    "AUTHORIZATION_ALREADY_CAPTURED": "The PayPal authorization is already fully captured.",
    "PREVIOUSLY_CAPTURED": "The PayPal authorization has captures, so it can no longer be voided.",
    "PREVIOUSLY_VOIDED": "The PayPal authorization was already voided.",
    "MAX_CAPTURE_AMOUNT_EXCEEDED": "The capture is larger than PayPal allows for this "
    "authorization.",
    "CURRENCY_MISMATCH": "The amount's currency differs from the PayPal payment's currency.",
    "REFUND_AMOUNT_EXCEEDED": "The refund is larger than what remains of the PayPal capture.",
    "CAPTURE_FULLY_REFUNDED": "The PayPal capture is already fully refunded.",
    "ORDER_NOT_APPROVED": "The payer has not approved the PayPal order yet.",
    "ORDER_ALREADY_CAPTURED": "The PayPal order was already captured.",
    "ORDER_ALREADY_AUTHORIZED": "The PayPal order was already authorized.",
    "ACTION_DOES_NOT_MATCH_INTENT": "The PayPal order's intent does not allow this action "
    "(capture an AUTHORIZE order through its authorization, not the order).",
}


class DuplicateBatchError(ProviderError):
    """PayPal refused a payout batch whose ``sender_batch_id`` it has already seen; the
    original batch's id comes from the refusal's link."""

    def __init__(self, message: str, *, payout_batch_id: str) -> None:
        super().__init__(
            ProviderErrorKind.invalid_request,
            message,
            code="sender_batch_id_already_used",
            raw_code="USER_BUSINESS_ERROR",
            param="sender_batch_header.sender_batch_id",
            http_status=400,
            provider=PROVIDER,
        )
        self.payout_batch_id = payout_batch_id


def _duplicate_batch(error: shapes.Error) -> DuplicateBatchError | None:
    if error.name != "USER_BUSINESS_ERROR":
        return None
    if not any((d.field or "").upper() == "SENDER_BATCH_ID" for d in error.details):
        return None
    for item in error.links:
        _head, sep, tail = item.href.rstrip("/").rpartition("/v1/payments/payouts/")
        if sep and tail and "/" not in tail:
            return DuplicateBatchError(
                "A PayPal payout batch with this sender_batch_id already exists.",
                payout_batch_id=tail,
            )
    return None


def _kind(status: int, name: str, issue: str | None) -> ProviderErrorKind:
    if issue in DECLINES:
        return ProviderErrorKind.card
    if status in (401, 403):
        return ProviderErrorKind.authentication
    if status == 429 or name == "RATE_LIMIT_REACHED":
        return ProviderErrorKind.rate_limit
    if status >= 500 or status == 409:
        return ProviderErrorKind.api
    return ProviderErrorKind.invalid_request


def from_response(response: httpx.Response) -> ProviderError:
    """The ``ProviderError`` for a non-2xx PayPal answer (PayPal's error object or OAuth's)."""
    status = response.status_code
    retry_after = response.headers.get("retry-after")
    try:
        error = shapes.Error.model_validate_json(response.content)
    except ValidationError:
        return _oauth_or_unparsed(response)
    duplicate = _duplicate_batch(error)
    if duplicate is not None:
        return duplicate
    detail = error.details[0] if error.details else None
    issue = detail.issue if detail else None
    kind = _kind(status, error.name, issue)
    message = _MESSAGES.get(issue or "") or (detail.description if detail else None)
    message = message or error.message
    if kind is ProviderErrorKind.authentication:
        message = "PayPal refused escrowd's credentials or permissions: " + error.message
    return ProviderError(
        kind,
        f"{message} (PayPal debug id {error.debug_id})",
        code=(issue or error.name).lower(),
        decline_code=issue.lower() if kind is ProviderErrorKind.card and issue else None,
        raw_code=issue or error.name,
        param=detail.field if detail else None,
        http_status=status,
        retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
        provider=PROVIDER,
    )


def _oauth_or_unparsed(response: httpx.Response) -> ProviderError:
    status = response.status_code
    try:
        oauth = shapes.OAuthError.model_validate_json(response.content)
    except ValidationError:
        kind = _kind(status, "", None)
        return ProviderError(
            kind,
            f"PayPal answered HTTP {status} with a body escrowd does not understand.",
            http_status=status,
            provider=PROVIDER,
        )
    return ProviderError(
        ProviderErrorKind.authentication if status in (400, 401, 403) else _kind(status, "", None),
        "PayPal refused escrowd's client id or secret "
        f"({oauth.error}: {oauth.error_description or 'no description'}).",
        code=oauth.error,
        raw_code=oauth.error,
        http_status=status,
        provider=PROVIDER,
    )


def network(exc: httpx.RequestError, *, may_have_reached: bool) -> ProviderError:
    """A transport failure: retryable when nothing was sent, otherwise an unknown outcome."""
    kind = ProviderErrorKind.unknown_outcome if may_have_reached else ProviderErrorKind.api
    return ProviderError(
        kind,
        f"Network error talking to PayPal ({type(exc).__name__}).",
        provider=PROVIDER,
    )


def malformed(what: str, exc: ValidationError) -> ProviderError:
    """PayPal answered 2xx with a body that is not the documented shape."""
    return ProviderError(
        ProviderErrorKind.api,
        f"PayPal's {what} did not have the documented shape ({exc.error_count()} problems).",
        provider=PROVIDER,
    )
