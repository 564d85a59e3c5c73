"""Choosing and building the payment provider from settings.

    ESCROWD_PROVIDER   where the Stripe adapter's calls go            SDK retries
    sandbox (default)  escrowd's own emulator, in process (ASGI)      0
    sandbox + URL      ESCROWD_SANDBOX_URL/sandbox/stripe: the same   0
                       emulator in its own process (HTTP)
    stripe             api.stripe.com with ESCROWD_STRIPE_SECRET_KEY  2
    stripe + API base  ESCROWD_STRIPE_API_BASE (localstripe,          0
                       stripe-mock: they ignore Idempotency-Key)

PayPal is built next to Stripe (``build_paypal_provider``), not instead of it: in sandbox mode
always, against escrowd's PayPal sandbox under ``/sandbox/paypal`` (in process, or at
``ESCROWD_SANDBOX_URL``); otherwise when
``ESCROWD_PAYPAL_CLIENT_ID`` and ``_SECRET`` are set, against ``ESCROWD_PAYPAL_BASE_URL``.

Retries are the SDK's own (connection errors, 409, 5xx; backoff with jitter; Retry-After). They
are safe towards Stripe because every POST carries an Idempotency-Key: a retried payment is the
same payment. Towards an emulator that ignores the key, a retry could move money twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp

from escrowd.clock import Clock
from escrowd.config import (
    PAYPAL_SANDBOX_CLIENT_ID,
    PAYPAL_SANDBOX_CLIENT_SECRET,
    PAYPAL_SANDBOX_PREFIX,
    SANDBOX_PREFIX,
    ProviderMode,
    Settings,
)
from escrowd.providers.base import PaymentProvider
from escrowd.providers.paypal.client import PayPalClient
from escrowd.providers.paypal.provider import PayPalProvider
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.stripe.client import (
    SANDBOX_API_KEY,
    SANDBOX_BASE_URL,
    StripeAiohttpClient,
    make_stripe_client,
)

#: The SDK's retries towards the real Stripe API (its recommended setting).
#: Where the PayPal adapter finds escrowd's PayPal sandbox in process (the host is never
#: resolved: the ASGI transport answers).
PAYPAL_SANDBOX_BASE_URL = f"http://escrowd.internal{PAYPAL_SANDBOX_PREFIX}"
PAYPAL_TIMEOUT_SECONDS = 30.0
STRIPE_MAX_NETWORK_RETRIES = 2


@dataclass(frozen=True, slots=True)
class StripeTarget:
    """Where the Stripe adapter sends its calls, and how."""

    api_key: str
    #: None: Stripe's own hosts.
    api_base: str | None
    max_network_retries: int
    #: Through the ASGI app in process rather than a socket.
    in_process: bool

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return (
            f"StripeTarget(api_base={self.api_base!r}, "
            f"max_network_retries={self.max_network_retries}, in_process={self.in_process})"
        )


def stripe_target(settings: Settings) -> StripeTarget:
    if settings.provider is ProviderMode.sandbox:
        # A sandbox error is a bug to surface, not something to retry; in its own process on
        # loopback too (the bench and the tests count every error).
        if settings.sandbox_url:
            remote = settings.sandbox_url + SANDBOX_PREFIX
            return StripeTarget(SANDBOX_API_KEY, remote, 0, in_process=False)
        return StripeTarget(SANDBOX_API_KEY, SANDBOX_BASE_URL, 0, in_process=True)
    api_base = settings.stripe_api_base or None
    retries = 0 if api_base else STRIPE_MAX_NETWORK_RETRIES
    return StripeTarget(settings.stripe_secret_key, api_base, retries, in_process=False)


def build_provider(
    settings: Settings, *, sandbox: ASGIApp | None = None, clock: Clock | None = None
) -> PaymentProvider:
    """The provider for ``settings``; sandbox mode in process needs the ASGI app that serves
    the sandbox under ``/sandbox/stripe`` (reached in process, no sockets).

    ``clock`` is what webhook signatures are checked against (the sandbox signs with its own).
    """
    return build_stripe_provider(settings, sandbox=sandbox, clock=clock)


def build_stripe_provider(
    settings: Settings, *, sandbox: ASGIApp | None = None, clock: Clock | None = None
) -> StripeProvider:
    target = stripe_target(settings)
    http: httpx.AsyncClient | StripeAiohttpClient
    if target.in_process:
        if sandbox is None:
            raise ValueError(f"sandbox mode needs the ASGI app that serves {SANDBOX_PREFIX}")
        timeout = httpx.Timeout(settings.stripe_timeout_seconds)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), timeout=timeout)
    else:
        # Over the network: aiohttp, a fifth of httpx's CPU per request (stripe/client.py).
        http = StripeAiohttpClient(timeout_seconds=settings.stripe_timeout_seconds)
    client = make_stripe_client(
        api_key=target.api_key,
        http=http,
        api_base=target.api_base,
        max_network_retries=target.max_network_retries,
    )
    return StripeProvider(client, webhook_secrets=settings.webhook_secrets, clock=clock, http=http)


@dataclass(frozen=True, slots=True)
class PayPalTarget:
    """Where the PayPal adapter sends its calls, with which credentials."""

    client_id: str
    client_secret: str
    base_url: str
    #: Through the in-process PayPal sandbox rather than a socket.
    in_process: bool

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"PayPalTarget(base_url={self.base_url!r}, in_process={self.in_process})"


def paypal_target(settings: Settings) -> PayPalTarget | None:
    """None when PayPal is not configured (outside sandbox mode, without credentials)."""
    if settings.provider is ProviderMode.sandbox:
        remote = settings.sandbox_url
        return PayPalTarget(
            PAYPAL_SANDBOX_CLIENT_ID,
            PAYPAL_SANDBOX_CLIENT_SECRET,
            remote + PAYPAL_SANDBOX_PREFIX if remote else PAYPAL_SANDBOX_BASE_URL,
            in_process=not remote,
        )
    if not settings.paypal_enabled:
        return None
    return PayPalTarget(
        settings.paypal_client_id,
        settings.paypal_client_secret.get_secret_value(),
        settings.paypal_base_url,
        in_process=False,
    )


def build_paypal_provider(
    settings: Settings, *, sandbox: ASGIApp | None = None, clock: Clock
) -> PayPalProvider | None:
    """The PayPal provider for ``settings``, or None without PayPal; sandbox mode needs the
    ASGI app that serves the PayPal sandbox under ``/sandbox/paypal``. ``clock`` times the
    cached OAuth token."""
    target = paypal_target(settings)
    if target is None:
        return None
    timeout = httpx.Timeout(PAYPAL_TIMEOUT_SECONDS)
    if target.in_process:
        if sandbox is None:
            raise ValueError(f"sandbox mode needs the ASGI app that serves {PAYPAL_SANDBOX_PREFIX}")
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), timeout=timeout)
    else:
        http = httpx.AsyncClient(timeout=timeout)
    client = PayPalClient(
        http,
        client_id=target.client_id,
        client_secret=target.client_secret,
        clock=clock,
        base_url=target.base_url,
    )
    return PayPalProvider(client)
