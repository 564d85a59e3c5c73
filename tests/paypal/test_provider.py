"""``PayPalProvider`` behind the PaymentProvider interface, built by the normal bootstrap.

The container comes from ``escrowd.bootstrap.build`` in sandbox mode: its ``providers["paypal"]``
talks to the in-process PayPal sandbox, the payer approves on the sandbox's hosted page, and
what reached the sandbox is read back from its own tables.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from ulid import ULID

from escrowd.bootstrap import Container
from escrowd.config import ConfigError, ProviderMode, Settings
from escrowd.errors import CardError
from escrowd.providers.base import Capability, PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal.provider import PayPalProvider
from escrowd.providers.registry import build_paypal_provider, paypal_target
from escrowd.providers.types import (
    CancelRequest,
    CaptureRequest,
    CustomerRequest,
    Payment,
    PaymentRequest,
    PaymentStatus,
    PayoutRequest,
    RefundRequest,
    TimeRange,
    TransferRequest,
)
from escrowd.sandbox.stripe import models
from tests.paypal.conftest import RETURN_URL, Wire, make_client, shift


def key(label: str) -> str:
    return f"{label}-{ULID()}"


def paypal_of(container: Container) -> PaymentProvider:
    provider = container.paypal
    assert provider is not None
    return provider


async def rows(container: Container, type_: str) -> int:
    """How many objects of a PayPal type the sandbox holds."""
    async with container.db.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(models.objects)
            .where(models.objects.c.type == f"paypal.{type_}")
        )
    return int(count or 0)


async def request_id_seen(container: Container, request_id: str) -> bool:
    """Whether the sandbox stored an answer for this PayPal-Request-Id."""
    async with container.db.engine.connect() as conn:
        found = await conn.scalar(
            select(func.count())
            .select_from(models.idempotency)
            .where(models.idempotency.c.scope == "paypal", models.idempotency.c.key == request_id)
        )
    return bool(found)


async def approve(raw: httpx.AsyncClient, payment: Payment, *, funding: str = "balance") -> None:
    """The payer follows the payment's next action to PayPal's page and approves."""
    assert payment.status is PaymentStatus.requires_action
    assert payment.next_action_url is not None
    path = httpx.URL(payment.next_action_url).raw_path.decode().removeprefix("/sandbox/paypal")
    shown = await raw.get(path)
    assert shown.status_code == 200, shown.text
    assert payment.id in shown.text
    r = await raw.post(f"/checkoutnow/{payment.id}", data={"action": "approve", "funding": funding})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(RETURN_URL)


async def new_payment(
    provider: PaymentProvider, *, manual: bool = True, amount: int = 10000, label: str = "pay"
) -> tuple[Payment, str]:
    idem = key(label)
    payment = await provider.create_payment(
        PaymentRequest(
            idempotency_key=idem,
            amount=amount,
            currency="usd",
            capture_method="manual" if manual else "automatic",
            confirm=True,
            return_url=RETURN_URL,
            description="Logo design",
            transfer_group="esc_test",
        )
    )
    return payment, idem


# --- the container ---------------------------------------------------------------------------


async def test_bootstrap_builds_paypal_next_to_the_default_provider(container: Container) -> None:
    assert container.providers["stripe"] is container.provider
    assert container.provider_named(None) is container.provider
    paypal = container.provider_named("paypal")
    assert paypal is container.paypal
    assert isinstance(paypal, PayPalProvider)
    assert isinstance(paypal, PaymentProvider)
    assert paypal.capabilities == {Capability.payments, Capability.refunds, Capability.payouts}
    with pytest.raises(ConfigError, match="'adyen' is not configured"):
        container.provider_named("adyen")


# --- payments --------------------------------------------------------------------------------


async def test_authorize_approve_confirm_partial_capture_and_partial_refund(
    container: Container, raw: httpx.AsyncClient, sandbox_clock: None
) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="auth-flow")
    assert payment.status is PaymentStatus.requires_action
    assert payment.capture_method == "manual"
    assert (payment.amount, payment.currency) == (10000, "usd")
    assert payment.transfer_group == "esc_test"
    assert await request_id_seen(container, idem)

    await approve(raw, payment)
    approved = await paypal.retrieve_payment(payment.id)
    assert approved.status is PaymentStatus.requires_confirmation
    assert approved.next_action_url is None

    confirmed = await paypal.confirm_payment(
        payment_id=payment.id, idempotency_key=idem + ":confirm"
    )
    assert confirmed.status is PaymentStatus.requires_capture
    assert confirmed.amount_capturable == 10000
    assert confirmed.amount_received == 0
    # The authorization's 29 days, from when it was made (the frozen clock: the order's time).
    assert confirmed.created is not None
    assert confirmed.capture_before == confirmed.created + timedelta(days=29)
    assert await request_id_seen(container, idem + ":confirm")

    captured = await paypal.capture_payment(
        CaptureRequest(idempotency_key=idem + ":capture", payment_id=payment.id, amount=6000)
    )
    # final_capture (the default) closes the authorization: the rest is released.
    assert captured.status is PaymentStatus.succeeded
    assert captured.amount_received == 6000
    assert captured.amount_capturable == 0
    assert captured.latest_charge is not None
    with pytest.raises(ProviderError) as info:
        await paypal.capture_payment(
            CaptureRequest(idempotency_key=idem + ":capture2", payment_id=payment.id, amount=100)
        )
    assert info.value.raw_code == "AUTHORIZATION_ALREADY_CAPTURED"

    refund = await paypal.create_refund(
        RefundRequest(idempotency_key=idem + ":refund", payment_id=payment.id, amount=2500)
    )
    assert (refund.amount, refund.currency, refund.status) == (2500, "usd", "succeeded")
    assert refund.payment_id == payment.id
    assert refund.charge_id == captured.latest_charge
    assert await request_id_seen(container, idem + ":refund")
    again = await paypal.retrieve_refund(refund.id)
    assert (again.id, again.amount, again.payment_id, again.charge_id) == (
        refund.id,
        2500,
        payment.id,
        captured.latest_charge,
    )
    # What is left of the capture can be refunded, no more.
    with pytest.raises(ProviderError) as info:
        await paypal.create_refund(
            RefundRequest(idempotency_key=idem + ":refund2", payment_id=payment.id, amount=3501)
        )
    assert info.value.raw_code == "REFUND_AMOUNT_EXCEEDED"
    rest = await paypal.create_refund(
        RefundRequest(idempotency_key=idem + ":refund3", payment_id=payment.id)
    )
    assert rest.amount == 3500


async def test_a_non_final_capture_keeps_the_rest_capturable(
    container: Container, raw: httpx.AsyncClient
) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="multi-capture")
    await approve(raw, payment)
    await paypal.confirm_payment(payment_id=payment.id, idempotency_key=idem + ":confirm")
    first = await paypal.capture_payment(
        CaptureRequest(
            idempotency_key=idem + ":c1", payment_id=payment.id, amount=4000, final_capture=False
        )
    )
    assert first.status is PaymentStatus.requires_capture
    assert (first.amount_received, first.amount_capturable) == (4000, 6000)
    last = await paypal.capture_payment(
        CaptureRequest(idempotency_key=idem + ":c2", payment_id=payment.id)
    )
    assert last.status is PaymentStatus.succeeded
    assert last.amount_received == 10000


async def test_an_order_is_read_back_for_reconciliation_with_its_captures_fee_and_refunds(
    container: Container, raw: httpx.AsyncClient
) -> None:
    """``retrieve_payment_record``: the order's completed captures summed as one charge with
    PayPal's fee summed over them; ``list_refunds(payment_id=…)``: the order's refunds."""
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="reconcile-read")
    await approve(raw, payment)
    confirmed = await paypal.confirm_payment(
        payment_id=payment.id, idempotency_key=idem + ":confirm"
    )
    # Authorized, nothing captured: no charge, nothing received, not succeeded.
    record = await paypal.retrieve_payment_record(payment.id)
    assert (record.charge, record.payment.status) == (None, confirmed.status)
    assert record.payment.amount_received == 0
    assert record.payment.transfer_group == "esc_test"
    await paypal.capture_payment(
        CaptureRequest(
            idempotency_key=idem + ":c1", payment_id=payment.id, amount=4000, final_capture=False
        )
    )
    await paypal.capture_payment(
        CaptureRequest(idempotency_key=idem + ":c2", payment_id=payment.id)
    )
    refund = await paypal.create_refund(
        RefundRequest(idempotency_key=idem + ":r1", payment_id=payment.id, amount=1500)
    )
    record = await paypal.retrieve_payment_record(payment.id)
    assert record.payment.status is PaymentStatus.succeeded
    assert record.charge is not None
    # 3.49 % + 0.49 on each capture: 40.00 → 1.89, 60.00 → 2.58 (rounded half up).
    assert (record.charge.amount_captured, record.charge.fee) == (10000, 189 + 258)
    assert record.charge.payment_intent == payment.id
    listed = [r async for r in paypal.list_refunds(payment_id=payment.id)]
    assert [(r.id, r.amount, r.status, r.payment_id) for r in listed] == [
        (refund.id, 1500, "succeeded", payment.id)
    ]
    assert listed[0].charge_id == refund.charge_id
    with pytest.raises(ProviderError) as info:
        await paypal.retrieve_payment_record("NOSUCHORDER1")
    assert info.value.missing


async def test_capture_intent_takes_the_money_on_confirm(
    container: Container, raw: httpx.AsyncClient
) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, manual=False, amount=2599, label="capture-flow")
    assert payment.capture_method == "automatic"
    await approve(raw, payment)
    paid = await paypal.confirm_payment(payment_id=payment.id, idempotency_key=idem + ":confirm")
    assert paid.status is PaymentStatus.succeeded
    assert paid.amount_received == 2599
    assert paid.capture_before is None
    # Nothing is authorized, so nothing can be captured or voided: refund instead.
    with pytest.raises(ProviderError, match="no authorization to capture"):
        await paypal.capture_payment(
            CaptureRequest(idempotency_key=idem + ":capture", payment_id=payment.id)
        )
    with pytest.raises(ProviderError, match="Refund it instead"):
        await paypal.cancel_payment(
            CancelRequest(idempotency_key=idem + ":void", payment_id=payment.id)
        )
    refund = await paypal.create_refund(
        RefundRequest(idempotency_key=idem + ":refund", payment_id=payment.id)
    )
    assert refund.amount == 2599


async def test_confirming_before_the_payer_approved_is_refused(container: Container) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="unapproved")
    with pytest.raises(ProviderError) as info:
        await paypal.confirm_payment(payment_id=payment.id, idempotency_key=idem + ":confirm")
    assert info.value.kind is ProviderErrorKind.invalid_request
    assert info.value.raw_code == "ORDER_NOT_APPROVED"
    assert "not approved" in info.value.message


async def test_void_releases_the_authorization(
    container: Container, raw: httpx.AsyncClient
) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="void")
    await approve(raw, payment)
    await paypal.confirm_payment(payment_id=payment.id, idempotency_key=idem + ":confirm")
    voided = await paypal.cancel_payment(
        CancelRequest(idempotency_key=idem + ":void", payment_id=payment.id, reason="abandoned")
    )
    assert voided.status is PaymentStatus.canceled
    assert voided.amount_capturable == 0
    assert await request_id_seen(container, idem + ":void")
    assert (await paypal.retrieve_payment(payment.id)).status is PaymentStatus.canceled
    with pytest.raises(ProviderError) as info:
        await paypal.capture_payment(
            CaptureRequest(idempotency_key=idem + ":capture", payment_id=payment.id)
        )
    assert info.value.raw_code == "AUTHORIZATION_VOIDED"


async def test_canceling_an_unconfirmed_payment_moves_nothing(container: Container) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="cancel-early")
    canceled = await paypal.cancel_payment(
        CancelRequest(idempotency_key=idem + ":void", payment_id=payment.id)
    )
    assert canceled.status is PaymentStatus.canceled
    assert canceled.next_action_url is None
    # No call was made: nothing was held at PayPal to release.
    assert not await request_id_seen(container, idem + ":void")


async def test_a_declined_funding_source_is_a_card_decline(
    container: Container, raw: httpx.AsyncClient
) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="declined")
    await approve(raw, payment, funding="declined")
    with pytest.raises(ProviderError) as info:
        await paypal.confirm_payment(payment_id=payment.id, idempotency_key=idem + ":confirm")
    err = info.value
    assert err.kind is ProviderErrorKind.card
    assert err.decline_code == "instrument_declined"
    assert err.provider == "paypal"
    api = err.to_api_error()
    assert isinstance(api, CardError)
    assert api.http_status == 402
    assert "another funding source" in api.message
    # Still waiting for a working approval: nothing was authorized.
    assert (await paypal.retrieve_payment(payment.id)).status is (
        PaymentStatus.requires_confirmation
    )


async def test_an_expired_authorization_is_canceled_and_cannot_be_captured(
    container: Container, raw: httpx.AsyncClient, sandbox_clock: None
) -> None:
    paypal = paypal_of(container)
    payment, idem = await new_payment(paypal, label="expiry")
    await approve(raw, payment)
    await paypal.confirm_payment(payment_id=payment.id, idempotency_key=idem + ":confirm")
    await shift(container, days=29)
    assert (await paypal.retrieve_payment(payment.id)).status is PaymentStatus.canceled
    with pytest.raises(ProviderError) as info:
        await paypal.capture_payment(
            CaptureRequest(idempotency_key=idem + ":capture", payment_id=payment.id)
        )
    assert info.value.raw_code == "AUTHORIZATION_EXPIRED"


# --- idempotency -----------------------------------------------------------------------------


async def test_the_same_key_twice_is_one_order_one_capture_one_payout(
    container: Container, raw: httpx.AsyncClient
) -> None:
    paypal = paypal_of(container)
    idem = key("twice")
    req = PaymentRequest(idempotency_key=idem, amount=5000, currency="usd", capture_method="manual")
    orders = await rows(container, "order")
    first = await paypal.create_payment(req)
    second = await paypal.create_payment(req)
    assert second.id == first.id
    assert await rows(container, "order") == orders + 1

    await approve_without_return(raw, first)
    await paypal.confirm_payment(payment_id=first.id, idempotency_key=idem + ":confirm")
    auths = await rows(container, "authorization")
    again = await paypal.confirm_payment(payment_id=first.id, idempotency_key=idem + ":confirm")
    assert again.status is PaymentStatus.requires_capture
    assert await rows(container, "authorization") == auths

    captures = await rows(container, "capture")
    cap = CaptureRequest(idempotency_key=idem + ":capture", payment_id=first.id, amount=1000)
    one = await paypal.capture_payment(cap)
    two = await paypal.capture_payment(cap)
    assert one.latest_charge == two.latest_charge
    assert two.amount_received == 1000
    assert await rows(container, "capture") == captures + 1

    batches = await rows(container, "payout_batch")
    payout = PayoutRequest(
        idempotency_key=idem + ":payout",
        amount=700,
        currency="usd",
        receiver_email="payee@example.com",
    )
    p1 = await paypal.create_payout(payout)
    p2 = await paypal.create_payout(payout)
    assert p1.id == p2.id
    assert await rows(container, "payout_batch") == batches + 1


async def approve_without_return(raw: httpx.AsyncClient, payment: Payment) -> None:
    """An order made without a return URL: PayPal's plain approve link, no redirect after."""
    assert payment.next_action_url is not None
    r = await raw.post(f"/checkoutnow/{payment.id}", data={"action": "approve"})
    assert r.status_code == 200, r.text
    assert "Approved" in r.text


# --- payouts ---------------------------------------------------------------------------------


async def test_a_payout_to_an_email_is_paid(container: Container) -> None:
    paypal = paypal_of(container)
    idem = key("payout")
    payout = await paypal.create_payout(
        PayoutRequest(
            idempotency_key=idem,
            amount=1234,
            currency="usd",
            receiver_email="payee@example.com",
            description="Escrow release",
        )
    )
    assert (payout.amount, payout.currency, payout.status) == (1234, "usd", "paid")
    assert payout.arrival_date is not None
    assert await request_id_seen(container, idem)
    read = await paypal.retrieve_payout(payout.id)
    assert (read.id, read.status) == (payout.id, "paid")


async def test_an_unclaimed_payout_is_returned_after_30_days(
    container: Container, sandbox_clock: None
) -> None:
    paypal = paypal_of(container)
    payout = await paypal.create_payout(
        PayoutRequest(
            idempotency_key=key("unclaimed"),
            amount=900,
            currency="usd",
            receiver_email="nobody+unclaimed@example.com",
        )
    )
    assert payout.status == "in_transit"
    assert payout.failure_code is None
    await shift(container, days=29)
    assert (await paypal.retrieve_payout(payout.id)).status == "in_transit"
    await shift(container, days=1.1)
    returned = await paypal.retrieve_payout(payout.id)
    assert returned.status == "failed"
    assert returned.failure_code == "returned"
    assert returned.failure_message is not None
    assert "30 days" in returned.failure_message


async def test_a_payout_needs_a_receiver_email_not_an_account(container: Container) -> None:
    paypal = paypal_of(container)
    with pytest.raises(ProviderError) as info:
        await paypal.create_payout(
            PayoutRequest(idempotency_key=key("no-email"), amount=100, currency="usd")
        )
    assert info.value.param == "receiver_email"
    with pytest.raises(ProviderError, match="PayPal does not support payouts from a connected"):
        await paypal.create_payout(
            PayoutRequest(
                idempotency_key=key("acct"),
                amount=100,
                currency="usd",
                account_id="acct_1",
                receiver_email="payee@example.com",
            )
        )


# --- what PayPal does not do -----------------------------------------------------------------


async def test_unsupported_calls_say_paypal_does_not_support_them(container: Container) -> None:
    paypal = paypal_of(container)
    day = TimeRange(gte=container.clock.now() - timedelta(days=1), lt=container.clock.now())
    calls: list[tuple[Callable[[], Awaitable[object]], str]] = [
        (lambda: paypal.create_customer(CustomerRequest(idempotency_key="k")), "customers"),
        (lambda: paypal.retrieve_account("acct_1"), "connected accounts"),
        (
            lambda: paypal.create_transfer(
                TransferRequest(idempotency_key="k", amount=1, currency="usd", destination="a")
            ),
            "transfers",
        ),
        (lambda: paypal.retrieve_subscription("sub_1"), "subscriptions"),
        (lambda: paypal.retrieve_invoice("in_1"), "invoices"),
    ]
    for call, what in calls:
        with pytest.raises(ProviderError) as info:
            await call()
        assert info.value.kind is ProviderErrorKind.invalid_request
        assert info.value.code == "unsupported_by_provider"
        assert info.value.message.startswith("PayPal does not support")
        assert what in info.value.message
    # Listing raises when called, before anything is iterated.
    with pytest.raises(ProviderError, match="PayPal does not support listing payments"):
        paypal.list_payments(day)
    # Refunds are read per order; by creation time would be Transaction Search, not used.
    with pytest.raises(ProviderError, match="PayPal does not support listing refunds by"):
        paypal.list_refunds(created=day)
    with pytest.raises(ProviderError, match="PayPal does not support"):
        paypal.parse_webhook(b"{}", {})


async def test_stripe_only_payment_fields_are_refused_before_any_call(
    container: Container,
) -> None:
    paypal = paypal_of(container)
    orders = await rows(container, "order")
    for req in [
        PaymentRequest(idempotency_key="k", amount=100, currency="usd", payment_method="pm_1"),
        PaymentRequest(idempotency_key="k", amount=100, currency="usd", destination="acct_1"),
    ]:
        with pytest.raises(ProviderError, match="PayPal does not support"):
            await paypal.create_payment(req)
    assert await rows(container, "order") == orders


async def test_the_stripe_adapter_refuses_what_only_paypal_does(container: Container) -> None:
    with pytest.raises(ProviderError, match="Stripe does not support captures that keep"):
        await container.provider.capture_payment(
            CaptureRequest(idempotency_key="k", payment_id="pi_1", final_capture=False)
        )
    with pytest.raises(ProviderError, match="Stripe does not support payouts to an email"):
        await container.provider.create_payout(
            PayoutRequest(
                idempotency_key="k", amount=100, currency="usd", receiver_email="a@example.com"
            )
        )


# --- settings --------------------------------------------------------------------------------


def test_without_paypal_credentials_outside_sandbox_mode_there_is_no_paypal() -> None:
    settings = Settings(provider=ProviderMode.stripe, stripe_secret_key="sk_test_x")
    assert paypal_target(settings) is None


async def test_with_credentials_paypal_targets_the_configured_server(container: Container) -> None:
    settings = Settings(
        provider=ProviderMode.stripe,
        stripe_secret_key="sk_test_x",
        paypal_client_id="client-id",
        paypal_client_secret="very-secret-value",
        paypal_base_url="sandbox",
    )
    target = paypal_target(settings)
    assert target is not None
    assert target.base_url == "https://api-m.sandbox.paypal.com"
    assert not target.in_process
    assert "very-secret-value" not in repr(target)
    assert "very-secret-value" not in repr(settings)
    provider = build_paypal_provider(settings, clock=container.clock)
    assert isinstance(provider, PayPalProvider)
    await provider.aclose()


def test_half_a_paypal_credential_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        Settings(
            provider=ProviderMode.stripe,
            stripe_secret_key="sk_test_x",
            paypal_client_secret="very-secret-value",
        )
    message = str(info.value)
    assert "ESCROWD_PAYPAL_CLIENT_SECRET is set but ESCROWD_PAYPAL_CLIENT_ID is empty" in message
    assert "very-secret-value" not in message


def test_a_bad_paypal_base_url_names_the_variable_and_hides_a_password() -> None:
    with pytest.raises(ConfigError) as info:
        Settings(paypal_base_url="https://user:hunter2@api-m.paypal.com")
    message = str(info.value)
    assert message.startswith("ESCROWD_PAYPAL_BASE_URL is ")
    assert "hunter2" not in message
    assert Settings(paypal_base_url="live").paypal_base_url == "https://api-m.paypal.com"
    assert Settings(paypal_base_url="http://127.0.0.1:9000/").paypal_base_url == (
        "http://127.0.0.1:9000"
    )


# --- on the wire -----------------------------------------------------------------------------


async def test_every_call_fits_paypals_shapes_and_moves_money_under_the_callers_key(
    container: Container, raw: httpx.AsyncClient, wire: Wire
) -> None:
    """The provider over a recorded client: the ``wire`` fixture validates every exchange
    against the shapes afterwards; here, each money-moving POST's PayPal-Request-Id."""
    paypal = PayPalProvider(make_client(wire, container))
    try:
        payment, idem = await new_payment(paypal, label="wire")
        await approve(raw, payment)
        await paypal.confirm_payment(payment_id=payment.id, idempotency_key=idem + ":confirm")
        await paypal.capture_payment(
            CaptureRequest(idempotency_key=idem + ":capture", payment_id=payment.id, amount=5000)
        )
        await paypal.create_refund(
            RefundRequest(idempotency_key=idem + ":refund", payment_id=payment.id, amount=100)
        )
        other, other_idem = await new_payment(paypal, label="wire-void")
        await approve(raw, other)
        await paypal.confirm_payment(payment_id=other.id, idempotency_key=other_idem + ":confirm")
        await paypal.cancel_payment(
            CancelRequest(idempotency_key=other_idem + ":void", payment_id=other.id)
        )
        await paypal.create_payout(
            PayoutRequest(
                idempotency_key=idem + ":payout",
                amount=100,
                currency="usd",
                receiver_email="payee@example.com",
            )
        )
    finally:
        await paypal.aclose()
    posts = [
        (e.path.rsplit("/", 1)[-1], e.headers.get("paypal-request-id"))
        for e in wire.seen
        if e.method == "POST" and e.path != "/v1/oauth2/token"
    ]
    assert posts == [
        ("orders", idem),
        ("authorize", idem + ":confirm"),
        ("capture", idem + ":capture"),
        ("refund", idem + ":refund"),
        ("orders", other_idem),
        ("authorize", other_idem + ":confirm"),
        ("void", other_idem + ":void"),
        ("payouts", idem + ":payout"),
    ]
    payout_post = next(e for e in wire.seen if e.method == "POST" and e.path.endswith("payouts"))
    assert json.loads(payout_post.body)["sender_batch_header"]["sender_batch_id"] == (
        idem + ":payout"
    )
