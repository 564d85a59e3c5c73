"""The error tree. Every error a client can see maps to Stripe's envelope.

    EscrowdError                      type                   status
    ├── InvalidRequestError           invalid_request_error  400
    │   ├── ValidationFailed                                 400
    │   ├── NotFoundError                                    404
    │   └── ConflictError (state)                            409
    ├── AuthenticationError           authentication_error   401
    ├── PermissionDeniedError         permission_error       403
    ├── IdempotencyError              idempotency_error      422 (409 while in flight)
    ├── CardError                     card_error             402
    ├── RateLimitError                rate_limit_error       429
    └── ApiError                      api_error              500

The envelope is ``{"error": {"type", "code", "message", "param"}}``; ``message`` is for a
person, ``code`` and ``param`` are for a program.
"""

from __future__ import annotations

from typing import Any, ClassVar


class EscrowdError(Exception):
    type: ClassVar[str] = "api_error"
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.http_status = status or self.status
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "type": self.type,
                "code": self.code,
                "message": self.message,
                "param": self.param,
            }
        }


class InvalidRequestError(EscrowdError):
    type = "invalid_request_error"
    status = 400
    default_code = "parameter_invalid"


class NotFoundError(InvalidRequestError):
    status = 404
    default_code = "resource_missing"


class ConflictError(InvalidRequestError):
    status = 409
    default_code = "state_conflict"


class AuthenticationError(EscrowdError):
    type = "authentication_error"
    status = 401
    default_code = "authentication_required"


class PermissionDeniedError(EscrowdError):
    type = "permission_error"
    status = 403
    default_code = "permission_denied"


def person_required(who: str) -> PermissionDeniedError:
    """Refusing an API key where only a person (a user token) may act; ``who`` names who does
    ("Jobs are posted by their client")."""
    return PermissionDeniedError(
        f"{who}, people with a user token; an API key cannot.", code="user_token_required"
    )


class IdempotencyError(EscrowdError):
    type = "idempotency_error"
    status = 422
    default_code = "idempotency_key_reused"


class CardError(EscrowdError):
    type = "card_error"
    status = 402
    default_code = "card_declined"


class RateLimitError(EscrowdError):
    type = "rate_limit_error"
    status = 429
    default_code = "rate_limited"


class ApiError(EscrowdError):
    pass
