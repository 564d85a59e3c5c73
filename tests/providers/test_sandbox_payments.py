"""The adapter against escrowd's sandbox: customers, payments, 3-D Secure, captures, refunds.

The adapter is the one create_app builds in sandbox mode; its requests go through escrowd's
app to /sandbox/stripe in process. With ESCROWD_STRIPE_OPENAPI set, each of them is also
checked against Stripe's OpenAPI spec (the root conftest fails a test that leaves mismatches).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from structlog.testing import capture_logs
from ulid import ULID

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.stripe.client import SANDBOX_BASE_URL, make_stripe_client
from escrowd.providers.types import (
    CancelRequest,
    CaptureRequest,
    CustomerRequest,
    EventKind,
    PaymentRequest,
    PaymentStatus,
    ProviderEvent,
    RefundRequest,
)
from escrowd.sandbox.stripe.app import deliver_pending
from tests.providers.conftest import Browser


def key(label: str) -> str:
    """A unique idempotency key: the sandbox's databases are shared across tests."""
    return f"test:{ULID()}:{label}"


def payment(card: str = "pm_card_visa", **fields: object) -> PaymentRequest:
    values: dict[str, object] = {
        "idempotency_key": key("pay"),
        "amount": 5000,
        "currency": "usd",
        "capture_method": "manual",
        "payment_method": card,
        "confirm": True,
    }
    values.update(fields)
    return PaymentRequest(**values)  # type: ignore[arg-type]


def fee(amount: int) -> int:
    """The sandbox's card fee, Stripe's US list price: 2.9 % + 30¢, rounded half up."""
    return (amount * 29 + 500) // 1000 + 30


async def test_a_customer_saves_a_card_as_default_and_gets_a_setup_intent(
    sandbox: StripeProvider,
) -> None:
    cus = await sandbox.create_customer(
        CustomerRequest(idempotency_key=key("cus"), email="payer@e.test", name="Payer")
    )
    assert cus.email == "payer@e.test"
    assert cus.default_payment_method is None
    pm = await sandbox.attach_payment_method(payment_method="pm_card_visa", customer=cus.id)
    assert (pm.customer, pm.card_brand, pm.card_last4) == (cus.id, "visa", "4242")
    assert pm.id.startswith("pm_")
    assert (await sandbox.set_default_payment_method(customer=cus.id, payment_method=pm.id)) == (
        cus.__class__(id=cus.id, email="payer@e.test", default_payment_method=pm.id)
    )
    si = await sandbox.create_setup_intent(customer=cus.id, idempotency_key=key("seti"))
    assert (si.customer, si.status) == (cus.id, "requires_payment_method")
    assert si.client_secret
    assert si.client_secret.startswith(si.id)


async def test_a_held_payment_is_partly_captured_and_the_rest_released(
    sandbox: StripeProvider, clock: FrozenClock
) -> None:
    cus = await sandbox.create_customer(CustomerRequest(idempotency_key=key("cus")))
    pm = await sandbox.attach_payment_method(payment_method="pm_card_visa", customer=cus.id)
    held = await sandbox.create_payment(
        payment(pm.id, customer=cus.id, transfer_group="esc_1", metadata={"escrow": "esc_1"})
    )
    assert held.status is PaymentStatus.requires_capture
    assert (held.amount, held.amount_capturable, held.amount_received) == (5000, 5000, 0)
    assert (held.customer, held.payment_method, held.transfer_group) == (cus.id, pm.id, "esc_1")
    assert held.metadata == {"escrow": "esc_1"}
    assert held.latest_charge
    # A card authorization holds for about 7 days; the charge says until when.
    assert held.capture_before is not None
    assert timedelta(days=6) < held.capture_before - clock.now() <= timedelta(days=7)

    captured = await sandbox.capture_payment(
        CaptureRequest(idempotency_key=key("cap"), payment_id=held.id, amount=3000)
    )
    assert captured.status is PaymentStatus.succeeded
    assert (captured.amount_received, captured.amount_capturable) == (3000, 0)
    charge = await sandbox.retrieve_charge(captured.latest_charge or "")
    assert (charge.amount, charge.amount_captured, charge.captured) == (5000, 3000, True)
    assert (charge.fee, charge.net) == (fee(3000), 3000 - fee(3000))
    assert charge.payment_intent == held.id


async def test_an_automatic_payment_succeeds_with_stripes_fee(sandbox: StripeProvider) -> None:
    paid = await sandbox.create_payment(payment(capture_method="automatic", amount=10000))
    assert paid.status is PaymentStatus.succeeded
    assert paid.amount_received == 10000
    charge = await sandbox.retrieve_charge(paid.latest_charge or "")
    assert (charge.fee, charge.net) == (fee(10000), 10000 - fee(10000))
    assert charge.balance_transaction


async def test_a_payment_is_created_first_and_confirmed_later(sandbox: StripeProvider) -> None:
    created = await sandbox.create_payment(payment(payment_method=None, confirm=False))
    assert created.status is PaymentStatus.requires_payment_method
    assert created.client_secret
    confirmed = await sandbox.confirm_payment(
        payment_id=created.id, idempotency_key=key("confirm"), payment_method="pm_card_visa"
    )
    assert confirmed.status is PaymentStatus.requires_capture
    assert (await sandbox.retrieve_payment(created.id)).status is PaymentStatus.requires_capture


async def test_a_held_payment_is_canceled_and_can_no_longer_be_captured(
    sandbox: StripeProvider,
) -> None:
    held = await sandbox.create_payment(payment())
    canceled = await sandbox.cancel_payment(
        CancelRequest(idempotency_key=key("cancel"), payment_id=held.id, reason="abandoned")
    )
    assert canceled.status is PaymentStatus.canceled
    with pytest.raises(ProviderError) as caught:
        await sandbox.capture_payment(
            CaptureRequest(idempotency_key=key("cap"), payment_id=held.id)
        )
    assert caught.value.kind is ProviderErrorKind.invalid_request


SEED = {
    "declined": "Your card was declined. Please use a different payment method.",
    "insufficient": "Your card has insufficient funds.",
    "expired": "Your card has expired. Please update your payment method.",
    "cvc": "Your card's security code is incorrect.",
    "processing": "An error occurred while processing your card.",
}


@pytest.mark.parametrize(
    ("card", "code", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline", SEED["declined"]),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
            SEED["insufficient"],
        ),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card", SEED["expired"]),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc", SEED["cvc"]),
        (
            "pm_card_chargeDeclinedProcessingError",
            "processing_error",
            "processing_error",
            SEED["processing"],
        ),
        # The payer is not told the card was reported lost: the generic decline.
        ("pm_card_chargeDeclinedLostCard", "card_declined", "lost_card", SEED["declined"]),
    ],
)
async def test_a_declined_card_is_a_card_error_with_the_seed_message(
    sandbox: StripeProvider, card: str, code: str, decline_code: str, message: str
) -> None:
    request = payment(card)
    with pytest.raises(ProviderError) as caught:
        await sandbox.create_payment(request)
    err = caught.value
    assert (err.kind, err.code, err.decline_code, err.message) == (
        ProviderErrorKind.card,
        code,
        decline_code,
        message,
    )
    assert err.to_api_error().http_status == 402


async def test_a_declined_payment_keeps_the_decline_on_the_payment(
    sandbox: StripeProvider,
) -> None:
    created = await sandbox.create_payment(payment(payment_method=None, confirm=False))
    with pytest.raises(ProviderError):
        await sandbox.confirm_payment(
            payment_id=created.id,
            idempotency_key=key("confirm"),
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
        )
    after = await sandbox.retrieve_payment(created.id)
    assert after.status is PaymentStatus.requires_payment_method
    assert after.last_error is not None
    assert after.last_error.decline_code == "insufficient_funds"
    assert after.last_error.message == SEED["insufficient"]


async def test_3ds_returns_the_hosted_page_and_completes_there(
    sandbox: StripeProvider, browser: Browser
) -> None:
    pending = await sandbox.create_payment(
        payment("pm_card_threeDSecureRequired", return_url="https://shop.test/back")
    )
    assert pending.status is PaymentStatus.requires_action
    assert pending.client_secret
    assert pending.next_action_url
    done = await browser.complete_3ds(pending.next_action_url)
    assert done.status_code == 303
    assert done.headers["location"].startswith("https://shop.test/back?")
    assert "redirect_status=succeeded" in done.headers["location"]
    assert (await sandbox.retrieve_payment(pending.id)).status is PaymentStatus.requires_capture


async def test_3ds_failed_on_the_hosted_page_asks_for_another_card(
    sandbox: StripeProvider, browser: Browser
) -> None:
    pending = await sandbox.create_payment(
        payment("pm_card_threeDSecureRequired", return_url="https://shop.test/back")
    )
    assert pending.next_action_url
    await browser.complete_3ds(pending.next_action_url, outcome="fail")
    after = await sandbox.retrieve_payment(pending.id)
    assert after.status is PaymentStatus.requires_payment_method
    assert after.last_error is not None
    assert after.last_error.code == "payment_intent_authentication_failure"
    assert after.last_error.message.startswith("We could not verify this payment")


async def test_a_payment_is_refunded_in_parts_but_never_beyond_what_was_paid(
    sandbox: StripeProvider,
) -> None:
    paid = await sandbox.create_payment(payment(capture_method="automatic"))
    first = await sandbox.create_refund(
        RefundRequest(
            idempotency_key=key("r1"),
            payment_id=paid.id,
            amount=2000,
            reason="requested_by_customer",
        )
    )
    assert (first.amount, first.status, first.payment_id) == (2000, "succeeded", paid.id)
    assert first.charge_id == paid.latest_charge
    with pytest.raises(ProviderError) as caught:
        await sandbox.create_refund(
            RefundRequest(idempotency_key=key("r2"), payment_id=paid.id, amount=3001)
        )
    assert caught.value.kind is ProviderErrorKind.invalid_request
    rest = await sandbox.create_refund(RefundRequest(idempotency_key=key("r3"), payment_id=paid.id))
    assert rest.amount == 3000
    charge = await sandbox.retrieve_charge(paid.latest_charge or "")
    assert charge.amount_refunded == 5000


async def test_the_same_key_twice_makes_one_payment(sandbox: StripeProvider) -> None:
    request = payment()
    first = await sandbox.create_payment(request)
    again = await sandbox.create_payment(request)
    assert again.id == first.id
    captured = CaptureRequest(idempotency_key=key("cap"), payment_id=first.id, amount=1000)
    once = await sandbox.capture_payment(captured)
    twice = await sandbox.capture_payment(captured)
    assert (once.amount_received, twice.amount_received) == (1000, 1000)


async def test_the_same_key_with_other_parameters_is_refused(sandbox: StripeProvider) -> None:
    request = payment()
    await sandbox.create_payment(request)
    with pytest.raises(ProviderError) as caught:
        await sandbox.create_payment(payment(idempotency_key=request.idempotency_key, amount=6000))
    assert (caught.value.kind, caught.value.code) == (
        ProviderErrorKind.invalid_request,
        "idempotency_error",
    )


async def test_an_amount_below_stripes_minimum_is_an_invalid_request_naming_the_param(
    sandbox: StripeProvider,
) -> None:
    with pytest.raises(ProviderError) as caught:
        await sandbox.create_payment(payment(amount=49))
    assert (caught.value.kind, caught.value.param) == (ProviderErrorKind.invalid_request, "amount")


async def test_an_unknown_payment_is_an_invalid_request(sandbox: StripeProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await sandbox.retrieve_payment("pi_doesnotexist")
    assert (caught.value.kind, caught.value.code) == (
        ProviderErrorKind.invalid_request,
        "resource_missing",
    )


async def test_a_key_the_sandbox_refuses_is_a_payment_system_error_that_hides_the_key(
    sandbox: StripeProvider, container: Container
) -> None:
    live_key = "sk_live_51NotForTheSandbox0123456789abcd"
    assert container.sandbox is not None
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=container.sandbox))
    wrong = StripeProvider(
        make_stripe_client(api_key=live_key, http=http, api_base=SANDBOX_BASE_URL), http=http
    )
    try:
        with capture_logs() as logs, pytest.raises(ProviderError) as caught:
            await wrong.create_payment(payment())
    finally:
        await wrong.aclose()
    err = caught.value
    assert err.kind is ProviderErrorKind.authentication
    assert err.to_api_error().http_status == 500
    shown = f"{err} {err.message} {logs}"
    assert live_key not in shown
    assert live_key[-4:] not in shown


async def test_the_sandboxs_signed_webhooks_parse_into_neutral_events(
    sandbox: StripeProvider, container: Container
) -> None:
    paid = await sandbox.create_payment(payment(capture_method="automatic"))
    received: list[tuple[bytes, dict[str, str]]] = []

    async def capture(path: str, body: bytes, headers: dict[str, str]) -> int:
        assert path == "/v1/webhooks/stripe"
        received.append((body, headers))
        return 200

    # Earlier tests' events may still be pending in the shared database: all must verify.
    events: list[ProviderEvent] = []
    while not any(e.kind is EventKind.payment_succeeded and e.object_id == paid.id for e in events):
        assert await deliver_pending(container, send=capture), "no event for the payment"
        events = [sandbox.parse_webhook(body, headers) for body, headers in received]
    ours = {e.provider_type for e in events if e.object_id in (paid.id, paid.latest_charge)}
    assert {"payment_intent.succeeded", "charge.succeeded"} <= ours
