"""The adapter against localstripe: an independent Stripe emulator, written by others.

Scope (see ../shared/notes/localstripe.md): customers, payment methods, SetupIntents,
PaymentIntents (confirm, 3-D Secure, manual and partial capture, cancel), refunds, products,
subscriptions on plans, signed webhooks, error mapping. What localstripe lacks is checked
against escrowd's sandbox instead; production code is not bent to fit it:

- It refuses ``automatic_payment_methods`` (Stripe's default since 2023-08-16, which the
  adapter sends so a payment confirms without a return URL), ``return_url``, ``description``,
  ``transfer_group`` and Connect. So the PaymentIntent itself is created here through the SDK
  with the parameters localstripe knows, and every later step goes through the adapter.
- No Prices (plans only), no ``payment_settings``: subscriptions are created the same way.
- It ignores Idempotency-Key: no idempotency test here (the sandbox suite has them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from escrowd.config import Environment, ProviderMode, Settings
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.registry import build_stripe_provider
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.types import (
    CancelRequest,
    CaptureRequest,
    CustomerRequest,
    EventKind,
    PaymentStatus,
    ProductRequest,
    ProviderEvent,
    RefundRequest,
)
from tests.providers.conftest import _free_port

DECLINED_ON_CHARGE = "4000000000000341"  # the one card localstripe declines when charged
THREE_D_SECURE = "4000002500003155"
WEBHOOK_SECRET = "whsec_localstripe_test"


async def customer_with_card(
    provider: StripeProvider, card: str = "pm_card_visa"
) -> tuple[str, str]:
    cus = await provider.create_customer(CustomerRequest(idempotency_key="k", email="c@e.test"))
    pm = await provider.attach_payment_method(payment_method=card, customer=cus.id)
    return cus.id, pm.id


async def raw_card(provider: StripeProvider, number: str) -> str:
    # Raw card numbers reach only localstripe; escrowd takes cards on its hosted form.
    pm = await provider.client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return pm.id


async def payment_intent(
    provider: StripeProvider, *, payment_method: str, customer: str | None = None, manual: bool
) -> str:
    params: dict[str, Any] = {
        "amount": 5000,
        "currency": "usd",
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "capture_method": "manual" if manual else "automatic",
    }
    if customer:
        params["customer"] = customer
    pi = await provider.client.v1.payment_intents.create_async(params)  # type: ignore[arg-type]
    return pi.id


async def test_a_customer_gets_a_card_attached_and_made_default(
    localstripe: StripeProvider,
) -> None:
    cus = await localstripe.create_customer(
        CustomerRequest(idempotency_key="k", email="c@e.test", name="C", metadata={"user": "u1"})
    )
    assert cus.email == "c@e.test"
    assert cus.id.startswith("cus_")
    pm = await localstripe.attach_payment_method(payment_method="pm_card_visa", customer=cus.id)
    assert (pm.customer, pm.type, pm.card_brand, pm.card_last4) == (cus.id, "card", "visa", "4242")
    updated = await localstripe.set_default_payment_method(customer=cus.id, payment_method=pm.id)
    assert updated.default_payment_method == pm.id


async def test_a_setup_intent_returns_its_client_secret(localstripe: StripeProvider) -> None:
    cus, _ = await customer_with_card(localstripe)
    si = await localstripe.create_setup_intent(customer=cus, idempotency_key="k")
    assert si.customer == cus
    assert si.status == "requires_payment_method"
    assert si.client_secret
    assert si.client_secret.startswith(si.id)


async def test_a_manual_payment_is_confirmed_then_partly_captured(
    localstripe: StripeProvider,
) -> None:
    cus, pm = await customer_with_card(localstripe)
    pi = await payment_intent(localstripe, payment_method=pm, customer=cus, manual=True)
    held = await localstripe.confirm_payment(payment_id=pi, idempotency_key="c")
    assert held.status is PaymentStatus.requires_capture
    assert held.latest_charge
    assert held.customer == cus
    captured = await localstripe.capture_payment(
        CaptureRequest(idempotency_key="cap", payment_id=pi, amount=3000)
    )
    assert captured.status is PaymentStatus.succeeded
    charge = await localstripe.retrieve_charge(captured.latest_charge or "")
    assert charge.captured
    assert charge.payment_intent == pi
    assert charge.fee == 0  # localstripe charges no fee; the sandbox has Stripe's


async def test_an_automatic_payment_succeeds_on_confirmation(localstripe: StripeProvider) -> None:
    cus, pm = await customer_with_card(localstripe)
    pi = await payment_intent(localstripe, payment_method=pm, customer=cus, manual=False)
    paid = await localstripe.confirm_payment(payment_id=pi, idempotency_key="c")
    assert paid.status is PaymentStatus.succeeded
    assert (await localstripe.retrieve_payment(pi)).status is PaymentStatus.succeeded


async def test_a_held_payment_is_canceled(localstripe: StripeProvider) -> None:
    cus, pm = await customer_with_card(localstripe)
    pi = await payment_intent(localstripe, payment_method=pm, customer=cus, manual=True)
    await localstripe.confirm_payment(payment_id=pi, idempotency_key="c")
    canceled = await localstripe.cancel_payment(CancelRequest(idempotency_key="x", payment_id=pi))
    assert canceled.status is PaymentStatus.canceled


async def test_a_payment_is_refunded_in_two_parts(localstripe: StripeProvider) -> None:
    cus, pm = await customer_with_card(localstripe)
    pi = await payment_intent(localstripe, payment_method=pm, customer=cus, manual=False)
    await localstripe.confirm_payment(payment_id=pi, idempotency_key="c")
    first = await localstripe.create_refund(
        RefundRequest(idempotency_key="r1", payment_id=pi, amount=2000)
    )
    # The rest by amount: localstripe refunds the whole charge again when none is given.
    rest = await localstripe.create_refund(
        RefundRequest(idempotency_key="r2", payment_id=pi, amount=3000)
    )
    assert (first.amount, first.status, first.payment_id) == (2000, "succeeded", pi)
    assert rest.amount == 3000
    charge = await localstripe.retrieve_charge(first.charge_id or "")
    assert charge.amount_refunded == 5000


async def test_a_declined_charge_is_a_card_error_with_the_seed_message(
    localstripe: StripeProvider,
) -> None:
    cus, _ = await customer_with_card(localstripe)
    pm = await raw_card(localstripe, DECLINED_ON_CHARGE)
    await localstripe.attach_payment_method(payment_method=pm, customer=cus)
    pi = await payment_intent(localstripe, payment_method=pm, customer=cus, manual=False)
    with pytest.raises(ProviderError) as caught:
        await localstripe.confirm_payment(payment_id=pi, idempotency_key="c")
    assert caught.value.kind is ProviderErrorKind.card
    assert caught.value.message == "Your card was declined. Please use a different payment method."
    after = await localstripe.retrieve_payment(pi)
    assert after.status is PaymentStatus.requires_payment_method
    assert after.last_error is not None
    assert after.last_error.code == "card_declined"


async def test_a_card_declined_when_attached_is_a_card_error(localstripe: StripeProvider) -> None:
    cus = await localstripe.create_customer(CustomerRequest(idempotency_key="k"))
    with pytest.raises(ProviderError) as caught:
        await localstripe.attach_payment_method(
            payment_method="pm_card_visa_chargeDeclined", customer=cus.id
        )
    assert caught.value.kind is ProviderErrorKind.card


async def test_3ds_requires_action_until_the_payer_authenticates(
    localstripe: StripeProvider, localstripe_url: str
) -> None:
    pm = await raw_card(localstripe, THREE_D_SECURE)
    pi = await payment_intent(localstripe, payment_method=pm, manual=True)
    pending = await localstripe.confirm_payment(payment_id=pi, idempotency_key="c")
    assert pending.status is PaymentStatus.requires_action
    assert pending.client_secret
    # localstripe's Stripe.js completes 3-D Secure on this private route; do as it does.
    async with httpx.AsyncClient(base_url=localstripe_url) as browser:
        r = await browser.post(
            f"/v1/payment_intents/{pi}/_authenticate",
            data={"client_secret": pending.client_secret, "success": "true", "key": "pk_test_x"},
        )
        r.raise_for_status()
    assert (await localstripe.retrieve_payment(pi)).status is PaymentStatus.requires_capture


async def test_a_subscription_is_set_to_cancel_at_period_end(localstripe: StripeProvider) -> None:
    cus, pm = await customer_with_card(localstripe)
    await localstripe.set_default_payment_method(customer=cus, payment_method=pm)
    product = await localstripe.create_product(ProductRequest(idempotency_key="p", name="Pro"))
    assert product.name == "Pro"
    plan = await localstripe.client.v1.plans.create_async(
        {"product": product.id, "amount": 900, "currency": "usd", "interval": "month"}
    )
    sub = await localstripe.client.v1.subscriptions.create_async(
        {"customer": cus, "items": [{"plan": plan.id}]}
    )
    ending = await localstripe.cancel_subscription_at_period_end(
        subscription_id=sub.id, idempotency_key="x"
    )
    assert ending.cancel_at_period_end
    assert (ending.status, ending.customer, ending.price_id) == ("active", cus, plan.id)
    assert ending.current_period_end is not None
    assert ending.latest_invoice


async def test_an_unknown_object_is_an_invalid_request(localstripe: StripeProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await localstripe.retrieve_payment("pi_missing")
    assert caught.value.kind is ProviderErrorKind.invalid_request


async def test_a_key_localstripe_refuses_is_a_payment_system_error(localstripe_url: str) -> None:
    provider = build_stripe_provider(
        Settings(
            env=Environment.test,
            provider=ProviderMode.stripe,
            stripe_secret_key="rk_not_a_secret_key",
            stripe_api_base=localstripe_url,
        )
    )
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.retrieve_payment("pi_any")
    finally:
        await provider.aclose()
    assert caught.value.kind is ProviderErrorKind.authentication
    assert "rk_not_a_secret_key" not in str(caught.value)


# --- webhooks: localstripe signs, the adapter verifies -------------------------------------


@pytest.fixture
async def webhook_inbox(localstripe_url: str) -> AsyncIterator[asyncio.Queue[tuple[bytes, Any]]]:
    """A receiver registered with localstripe; yields what it delivers (body, headers)."""
    inbox: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await inbox.put((await request.read(), dict(request.headers)))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with httpx.AsyncClient(base_url=localstripe_url) as config:
        hook = {"url": f"http://127.0.0.1:{port}/hook", "secret": WEBHOOK_SECRET}
        (await config.post("/_config/webhooks/escrowd", data=hook)).raise_for_status()
        try:
            yield inbox
        finally:
            # Registrations survive a data reset and cannot be deleted: narrow this one to an
            # event that never happens, so later tests send nothing to a closed port.
            off = {**hook, "events[]": "escrowd.never"}
            (await config.post("/_config/webhooks/escrowd", data=off)).raise_for_status()
            await runner.cleanup()


async def test_a_webhook_signed_by_localstripe_parses_into_a_neutral_event(
    localstripe_url: str, webhook_inbox: asyncio.Queue[tuple[bytes, Any]]
) -> None:
    provider = build_stripe_provider(
        Settings(
            env=Environment.test,
            provider=ProviderMode.stripe,
            stripe_secret_key="sk_test_localstripe",
            stripe_api_base=localstripe_url,
            stripe_webhook_secrets=f"whsec_old_one,{WEBHOOK_SECRET}",
        )
    )
    try:
        cus, pm = await customer_with_card(provider)
        pi = await payment_intent(provider, payment_method=pm, customer=cus, manual=False)
        await provider.confirm_payment(payment_id=pi, idempotency_key="c")
        # Earlier tests' events (sent a second late) may arrive first: all must verify.
        events: list[ProviderEvent] = []
        while not any(e.object_id == pi for e in events):
            body, headers = await asyncio.wait_for(webhook_inbox.get(), timeout=10)
            events.append(provider.parse_webhook(body, headers))
    finally:
        await provider.aclose()
    ours = [e for e in events if e.object_id == pi]
    assert [(e.provider, e.kind, e.provider_type) for e in ours] == [
        ("stripe", EventKind.payment_succeeded, "payment_intent.succeeded")
    ]
