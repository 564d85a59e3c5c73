"""The registry points the one Stripe adapter at the sandbox, at Stripe, or at an emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from escrowd.clock import FrozenClock, unix
from escrowd.config import SANDBOX_WEBHOOK_SECRET, Environment, ProviderMode, Settings
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.registry import build_provider, build_stripe_provider, stripe_target
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.stripe.events import EventParseError
from escrowd.providers.stripe.signature import SignatureError, sign
from escrowd.providers.types import EventKind


def settings(**overrides: Any) -> Settings:
    return Settings(env=Environment.test, **overrides)


class RecordingApp:
    """A bare ASGI app that answers every request with one Stripe-shaped reply."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.seen.append(dict(scope))
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


async def test_sandbox_mode_reaches_the_app_in_process_under_sandbox_stripe() -> None:
    app = RecordingApp(200, b'{"id": "cus_1", "object": "customer"}')
    provider = build_provider(settings(), sandbox=app)
    assert isinstance(provider, StripeProvider)
    try:
        customer = await provider.client.v1.customers.retrieve_async("cus_1")
    finally:
        await provider.aclose()
    assert customer.id == "cus_1"
    (scope,) = app.seen
    assert scope["path"] == "/sandbox/stripe/v1/customers/cus_1"
    assert dict(scope["headers"])[b"authorization"] == b"Bearer sk_test_sandbox"


async def test_sandbox_mode_does_not_retry_a_failing_sandbox() -> None:
    app = RecordingApp(500, b'{"error": {"type": "api_error", "message": "bug"}}')
    provider = build_stripe_provider(settings(), sandbox=app)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.retrieve_payment("pi_1")
    finally:
        await provider.aclose()
    assert caught.value.kind is ProviderErrorKind.api
    assert len(app.seen) == 1


def test_sandbox_mode_needs_the_app() -> None:
    with pytest.raises(ValueError, match="ASGI app"):
        build_provider(settings())


def test_stripe_mode_uses_the_secret_key_stripes_hosts_and_sdk_retries() -> None:
    target = stripe_target(settings(provider=ProviderMode.stripe, stripe_secret_key="sk_live_x"))
    assert (target.api_key, target.api_base, target.max_network_retries) == ("sk_live_x", None, 2)
    assert not target.in_process
    assert "sk_live_x" not in repr(target)


def test_an_api_base_points_at_an_emulator_without_retries() -> None:
    target = stripe_target(
        settings(
            provider=ProviderMode.stripe,
            stripe_secret_key="sk_test_x",
            stripe_api_base="http://127.0.0.1:8420",
        )
    )
    assert (target.api_base, target.max_network_retries) == ("http://127.0.0.1:8420", 0)


EVENT = (
    b'{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", '
    b'"created": 1700000000, "data": {"object": {"id": "pi_1", "object": "payment_intent"}}}'
)


async def test_the_sandbox_provider_accepts_webhooks_signed_with_the_sandbox_secret(
    clock: FrozenClock,
) -> None:
    provider = build_stripe_provider(settings(), sandbox=RecordingApp(200, b"{}"), clock=clock)
    header = sign(EVENT, SANDBOX_WEBHOOK_SECRET, unix(clock.now()))
    try:
        event = provider.parse_webhook(EVENT, {"stripe-signature": header})
        with pytest.raises(SignatureError):
            provider.parse_webhook(EVENT.replace(b"pi_1", b"pi_2"), {"stripe-signature": header})
        clock.advance(timedelta(minutes=6))
        with pytest.raises(SignatureError):
            provider.parse_webhook(EVENT, {"stripe-signature": header})
    finally:
        await provider.aclose()
    assert (event.provider, event.kind, event.object_id) == (
        "stripe",
        EventKind.payment_succeeded,
        "pi_1",
    )


async def test_a_webhook_body_that_is_not_json_is_refused_after_its_signature(
    clock: FrozenClock,
) -> None:
    provider = build_stripe_provider(settings(), sandbox=RecordingApp(200, b"{}"), clock=clock)
    body = b"not json"
    try:
        with pytest.raises(EventParseError):
            provider.parse_webhook(
                body, {"Stripe-Signature": sign(body, SANDBOX_WEBHOOK_SECRET, unix(clock.now()))}
            )
    finally:
        await provider.aclose()


def test_a_sandbox_url_points_both_adapters_at_the_sandbox_process_over_http() -> None:
    from escrowd.config import PAYPAL_SANDBOX_CLIENT_ID
    from escrowd.providers.registry import paypal_target

    s = settings(sandbox_url="http://127.0.0.1:8100")
    stripe = stripe_target(s)
    assert (stripe.api_key, stripe.api_base) == (
        "sk_test_sandbox",
        "http://127.0.0.1:8100/sandbox/stripe",
    )
    assert (stripe.max_network_retries, stripe.in_process) == (0, False)
    paypal = paypal_target(s)
    assert paypal is not None
    assert (paypal.client_id, paypal.base_url) == (
        PAYPAL_SANDBOX_CLIENT_ID,
        "http://127.0.0.1:8100/sandbox/paypal",
    )
    assert not paypal.in_process


async def test_with_a_sandbox_url_escrowd_neither_builds_nor_serves_the_sandbox() -> None:
    from escrowd.app import create_app
    from escrowd.bootstrap import build

    container = build(settings(sandbox_url="http://127.0.0.1:8100"))
    try:
        assert container.sandbox is None
        assert container.paypal is not None
        transport = httpx.ASGITransport(app=create_app(container, background=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
            answer = await c.get(
                "/sandbox/stripe/v1/balance", headers={"Authorization": "Bearer sk_test_sandbox"}
            )
        assert answer.status_code == 404, answer.text
    finally:
        await container.close()
