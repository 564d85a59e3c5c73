"""What can go wrong at a payment provider, in escrowd's own words.

    ProviderError                 kind              HTTP   retry?
    ├── card declined / 3DS fail  card              402    no (ask for another card)
    ├── rate limited              rate_limit        429    yes, after Retry-After
    ├── invalid request           invalid_request   400    no
    ├── authentication            authentication    500    no ("payment system error")
    ├── provider error / network  api               502    yes, same idempotency key
    └── outcome unknown (timeout) unknown_outcome   502    the janitor asks the provider

A timeout after the request left is *not* a failure: the money may have moved. It is raised
as ``unknown_outcome`` and recorded as such; a janitor later retrieves the provider's object.
"""

from __future__ import annotations

from enum import StrEnum

from escrowd.errors import (
    ApiError,
    CardError,
    EscrowdError,
    InvalidRequestError,
    RateLimitError,
)


class ProviderErrorKind(StrEnum):
    card = "card"
    rate_limit = "rate_limit"
    invalid_request = "invalid_request"
    authentication = "authentication"
    api = "api"
    unknown_outcome = "unknown_outcome"


class ProviderError(Exception):
    """A provider call failed. ``retryable`` says whether the same call may be retried."""

    def __init__(
        self,
        kind: ProviderErrorKind,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        raw_code: str | None = None,
        param: str | None = None,
        http_status: int | None = None,
        retry_after: int | None = None,
        provider: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        self.decline_code = decline_code
        self.raw_code = raw_code
        self.param = param
        self.http_status = http_status
        self.retry_after = retry_after
        self.provider = provider

    @property
    def retryable(self) -> bool:
        return self.kind in (ProviderErrorKind.rate_limit, ProviderErrorKind.api)

    @property
    def outcome_unknown(self) -> bool:
        return self.kind is ProviderErrorKind.unknown_outcome

    @property
    def missing(self) -> bool:
        """The provider has no such object (Stripe: 404 ``resource_missing``), or none the
        platform may reach any more (Stripe: ``account_invalid``, an account that disconnected
        from the platform)."""
        if "account_invalid" in (self.code, self.raw_code):
            return True
        return self.kind is ProviderErrorKind.invalid_request and (
            self.http_status == 404 or "resource_missing" in (self.code, self.raw_code)
        )

    def to_api_error(self) -> EscrowdError:
        """The error escrowd's own API returns for this failure."""
        code = self.decline_code or self.code
        if self.kind is ProviderErrorKind.card:
            return CardError(self.message, code=code or "card_declined", param=self.param)
        if self.kind is ProviderErrorKind.rate_limit:
            headers = {"Retry-After": str(self.retry_after or 1)}
            return RateLimitError(
                "The payment provider is busy; retry shortly with the same Idempotency-Key.",
                code="provider_rate_limited",
                headers=headers,
            )
        if self.kind is ProviderErrorKind.invalid_request:
            return InvalidRequestError(
                self.message, code=code or "provider_invalid_request", param=self.param
            )
        if self.kind is ProviderErrorKind.authentication:
            return ApiError(
                "Payment system error: escrowd could not authenticate with the payment "
                "provider. The operator has been alerted.",
                code="payment_system_error",
            )
        if self.kind is ProviderErrorKind.unknown_outcome:
            return ApiError(
                "The payment provider did not answer in time; the outcome is being checked. "
                "Retry with the same Idempotency-Key to see the result.",
                code="provider_outcome_unknown",
                status=502,
            )
        return ApiError(
            "The payment provider failed; retry with the same Idempotency-Key.",
            code="provider_error",
            status=502,
        )


def unsupported(provider: str, what: str, *, label: str | None = None) -> ProviderError:
    """A call the provider has no counterpart for: a bug in the caller (it should have checked
    ``capabilities``), so an invalid request that no retry can fix. ``label`` names the
    provider for people ("PayPal")."""
    return ProviderError(
        ProviderErrorKind.invalid_request,
        f"{label or provider} does not support {what}.",
        code="unsupported_by_provider",
        provider=provider,
    )
