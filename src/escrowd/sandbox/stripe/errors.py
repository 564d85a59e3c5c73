"""Stripe's error objects: ``{"error": {"type", "code", "decline_code", "message", "param"}}``.

Statuses as Stripe sends them: 400 invalid request, 401 bad key, 402 card error, 403 no
access to an account, 404 missing object or URL, 409 idempotency key in use. A card error
raised after the request changed state (the failed charge, the intent's last error) carries
``commit=True``: the state is kept and the response stored for idempotent replays.
"""

from __future__ import annotations

from typing import Any


def attempt_error(
    type: str,
    code: str,
    message: str,
    payment_method: dict[str, Any],
    *,
    decline_code: str | None = None,
) -> dict[str, Any]:
    """The error a PaymentIntent or SetupIntent keeps after a failed attempt.

    Stripe's ``last_payment_error`` / ``last_setup_error``: the API error's fields plus the
    payment method that failed, so a client can show which card to replace.
    """
    error: dict[str, Any] = {"type": type, "code": code}
    if decline_code is not None:
        error["decline_code"] = decline_code
    error.update(doc_url=doc_url(code), message=message, payment_method=payment_method)
    return error


def doc_url(code: str) -> str:
    return f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


class StripeError(Exception):
    status: int = 400
    type: str = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        commit: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.http_status = status or self.status
        self.decline_code = decline_code
        self.extra = extra or {}
        self.commit = commit
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = doc_url(self.code)
        if self.decline_code:
            err["decline_code"] = self.decline_code
        if self.param:
            err["param"] = self.param
        err.update(self.extra)
        return {"error": err}


class InvalidRequestError(StripeError):
    pass


class NotFoundError(StripeError):
    status = 404

    def __init__(self, message: str, *, param: str | None = "id") -> None:
        super().__init__(message, code="resource_missing", param=param)


class CardError(StripeError):
    status = 402
    type = "card_error"


class AuthError(StripeError):
    status = 401


class IdempotencyError(StripeError):
    type = "idempotency_error"


class ApiError(StripeError):
    status = 500
    type = "api_error"


#: Names Stripe uses in "No such …" messages.
_NAMES = {
    "payment_intent": "PaymentIntent",
    "setup_intent": "SetupIntent",
    "payment_method": "PaymentMethod",
    "balance_transaction": "balance transaction",
    "transfer_reversal": "transfer reversal",
    "application_fee": "application fee",
}


def no_such(kind: str, obj_id: str, *, param: str | None = "id") -> NotFoundError:
    return NotFoundError(f"No such {_NAMES.get(kind, kind)}: '{obj_id}'", param=param)


def unexpected_state(
    kind: str,
    action: str,
    status: str,
    allowed: list[str],
    *,
    obj: dict[str, Any] | None = None,
) -> InvalidRequestError:
    name = _NAMES.get(kind, kind)
    joined = ", ".join(allowed)
    return InvalidRequestError(
        f"This {name} could not be {action} because it has a status of {status}. Only a "
        f"{name} with one of the following statuses may be {action}: {joined}.",
        code=f"{kind}_unexpected_state",
        extra={kind: obj} if obj is not None else None,
    )
