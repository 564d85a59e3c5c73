"""What the adapter puts on the wire: paths, form parameters, Idempotency-Key, Stripe-Account.

A scripted Stripe records each request and answers with a minimal object of the right kind, so
these tests pin the request side; the sandbox and localstripe suites check the answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from escrowd.providers.base import Capability, PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.types import (
    AccountLinkRequest,
    AccountRequest,
    CancelRequest,
    CaptureRequest,
    CustomerRequest,
    PaymentRequest,
    PayoutRequest,
    PriceRequest,
    ProductRequest,
    RefundRequest,
    SubscriptionRequest,
    TransferRequest,
    TransferReversalRequest,
)
from tests.providers.conftest import Scripted

Make = Callable[..., tuple[StripeProvider, Scripted]]

OBJECTS: dict[str, dict[str, Any]] = {
    "customers": {"id": "cus_1", "object": "customer"},
    "setup_intents": {
        "id": "seti_1",
        "object": "setup_intent",
        "status": "requires_payment_method",
    },
    "payment_methods": {"id": "pm_1", "object": "payment_method", "type": "card"},
    "payment_intents": {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "requires_capture",
        "amount": 5000,
        "currency": "usd",
        "capture_method": "manual",
    },
    "charges": {"id": "ch_1", "object": "charge", "amount": 5000, "currency": "usd"},
    "refunds": {"id": "re_1", "object": "refund", "amount": 100, "currency": "usd"},
    "accounts": {"id": "acct_1", "object": "account"},
    "account_links": {"object": "account_link", "url": "https://x", "expires_at": 1},
    "login_links": {"object": "login_link", "url": "https://x"},
    "transfers": {"id": "tr_1", "object": "transfer", "amount": 100, "currency": "usd"},
    "reversals": {"id": "trr_1", "object": "transfer_reversal", "transfer": "tr_1"},
    "payouts": {"id": "po_1", "object": "payout", "amount": 100, "currency": "usd"},
    "products": {"id": "prod_1", "object": "product", "name": "Pro"},
    "prices": {"id": "price_1", "object": "price", "unit_amount": 900, "currency": "usd"},
    "subscriptions": {"id": "sub_1", "object": "subscription", "customer": "cus_1"},
}


def answer(request: httpx.Request) -> httpx.Response:
    parts = [p for p in request.url.path.split("/") if p]
    kind = next(p for p in reversed(parts) if p in OBJECTS)
    return httpx.Response(200, json=OBJECTS[kind])


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


@pytest.fixture
def stripe(scripted_stripe: Make) -> tuple[StripeProvider, Scripted]:
    return scripted_stripe(answer)


Call = Callable[[StripeProvider], Awaitable[Any]]
MONEY_MOVING: list[tuple[str, str, Call]] = [
    (
        "/v1/customers",
        "k-cus",
        lambda p: p.create_customer(CustomerRequest(idempotency_key="k-cus", email="a@b.test")),
    ),
    (
        "/v1/setup_intents",
        "k-seti",
        lambda p: p.create_setup_intent(customer="cus_1", idempotency_key="k-seti"),
    ),
    (
        "/v1/payment_intents",
        "k-pi",
        lambda p: p.create_payment(
            PaymentRequest(idempotency_key="k-pi", amount=5000, currency="usd")
        ),
    ),
    (
        "/v1/payment_intents/pi_1/confirm",
        "k-confirm",
        lambda p: p.confirm_payment(payment_id="pi_1", idempotency_key="k-confirm"),
    ),
    (
        "/v1/payment_intents/pi_1/capture",
        "k-capture",
        lambda p: p.capture_payment(CaptureRequest(idempotency_key="k-capture", payment_id="pi_1")),
    ),
    (
        "/v1/payment_intents/pi_1/cancel",
        "k-cancel",
        lambda p: p.cancel_payment(CancelRequest(idempotency_key="k-cancel", payment_id="pi_1")),
    ),
    (
        "/v1/refunds",
        "k-refund",
        lambda p: p.create_refund(RefundRequest(idempotency_key="k-refund", payment_id="pi_1")),
    ),
    (
        "/v1/accounts",
        "k-acct",
        lambda p: p.create_account(
            AccountRequest(idempotency_key="k-acct", business_type="individual")
        ),
    ),
    (
        "/v1/transfers",
        "k-tr",
        lambda p: p.create_transfer(
            TransferRequest(idempotency_key="k-tr", amount=100, currency="usd", destination="a")
        ),
    ),
    (
        "/v1/transfers/tr_1/reversals",
        "k-trr",
        lambda p: p.reverse_transfer(
            TransferReversalRequest(idempotency_key="k-trr", transfer_id="tr_1")
        ),
    ),
    (
        "/v1/payouts",
        "k-po",
        lambda p: p.create_payout(
            PayoutRequest(idempotency_key="k-po", amount=100, currency="usd")
        ),
    ),
    (
        "/v1/products",
        "k-prod",
        lambda p: p.create_product(ProductRequest(idempotency_key="k-prod", name="Pro")),
    ),
    (
        "/v1/prices",
        "k-price",
        lambda p: p.create_price(
            PriceRequest(
                idempotency_key="k-price", product_id="prod_1", unit_amount=900, currency="usd"
            )
        ),
    ),
    (
        "/v1/subscriptions",
        "k-sub",
        lambda p: p.create_subscription(
            SubscriptionRequest(idempotency_key="k-sub", customer="cus_1", price_id="price_1")
        ),
    ),
    (
        "/v1/subscriptions/sub_1",
        "k-sub-cancel",
        lambda p: p.cancel_subscription_at_period_end(
            subscription_id="sub_1", idempotency_key="k-sub-cancel"
        ),
    ),
]


@pytest.mark.parametrize(("path", "key", "call"), MONEY_MOVING, ids=[m[0] for m in MONEY_MOVING])
async def test_every_money_moving_call_carries_the_callers_idempotency_key(
    stripe: tuple[StripeProvider, Scripted], path: str, key: str, call: Call
) -> None:
    provider, script = stripe
    await call(provider)
    (request,) = script.requests
    assert (request.method, request.url.path) == ("POST", path)
    assert request.headers["idempotency-key"] == key


def test_the_adapter_is_a_payment_provider_with_every_capability(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, _ = stripe
    assert isinstance(provider, PaymentProvider)
    assert provider.capabilities == frozenset(Capability)


async def test_a_manual_payment_is_confirmed_on_creation_without_redirect_methods(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.create_payment(
        PaymentRequest(
            idempotency_key="k",
            amount=5000,
            currency="usd",
            capture_method="manual",
            customer="cus_1",
            payment_method="pm_1",
            confirm=True,
            transfer_group="esc_1",
            metadata={"escrow": "esc_1"},
        )
    )
    assert form(script.requests[0]) == {
        "amount": "5000",
        "currency": "usd",
        "capture_method": "manual",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "expand[0]": "latest_charge",
        "expand[1]": "latest_charge.balance_transaction",
        "customer": "cus_1",
        "payment_method": "pm_1",
        "confirm": "true",
        "transfer_group": "esc_1",
        "metadata[escrow]": "esc_1",
    }


async def test_a_payment_with_a_return_url_allows_the_3ds_redirect(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.create_payment(
        PaymentRequest(
            idempotency_key="k", amount=5000, currency="usd", return_url="https://e.test/back"
        )
    )
    sent = form(script.requests[0])
    assert sent["return_url"] == "https://e.test/back"
    assert "automatic_payment_methods[allow_redirects]" not in sent


async def test_a_destination_charge_names_the_account_and_the_platform_fee(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.create_payment(
        PaymentRequest(
            idempotency_key="k",
            amount=10000,
            currency="usd",
            destination="acct_9",
            application_fee_amount=1500,
        )
    )
    sent = form(script.requests[0])
    assert sent["transfer_data[destination]"] == "acct_9"
    assert sent["application_fee_amount"] == "1500"


async def test_a_partial_capture_sends_amount_to_capture(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.capture_payment(
        CaptureRequest(idempotency_key="k", payment_id="pi_1", amount=3000)
    )
    assert form(script.requests[0])["amount_to_capture"] == "3000"


async def test_a_destination_refund_can_reverse_the_transfer_and_the_fee(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.create_refund(
        RefundRequest(
            idempotency_key="k",
            payment_id="pi_1",
            amount=2500,
            reason="requested_by_customer",
            reverse_transfer=True,
            refund_application_fee=True,
        )
    )
    assert form(script.requests[0]) == {
        "payment_intent": "pi_1",
        "amount": "2500",
        "reason": "requested_by_customer",
        "reverse_transfer": "true",
        "refund_application_fee": "true",
    }


@pytest.mark.parametrize("business_type", ["individual", "company"])
async def test_a_connected_account_is_express_with_transfers_requested(
    stripe: tuple[StripeProvider, Scripted], business_type: str
) -> None:
    provider, script = stripe
    await provider.create_account(
        AccountRequest(idempotency_key="k", business_type=business_type, email="p@e.test")  # type: ignore[arg-type]
    )
    assert form(script.requests[0]) == {
        "type": "express",
        "country": "US",
        "business_type": business_type,
        "capabilities[transfers][requested]": "true",
        "email": "p@e.test",
    }


async def test_links_are_made_for_the_account(stripe: tuple[StripeProvider, Scripted]) -> None:
    provider, script = stripe
    link = await provider.create_account_link(
        AccountLinkRequest(account_id="acct_1", refresh_url="https://r", return_url="https://b")
    )
    assert link.expires_at is not None
    await provider.create_login_link("acct_1")
    assert form(script.requests[0]) == {
        "account": "acct_1",
        "refresh_url": "https://r",
        "return_url": "https://b",
        "type": "account_onboarding",
    }
    assert script.requests[1].url.path == "/v1/accounts/acct_1/login_links"


async def test_a_transfer_names_its_escrow_group_and_source_charge(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.create_transfer(
        TransferRequest(
            idempotency_key="k",
            amount=8500,
            currency="usd",
            destination="acct_1",
            transfer_group="esc_1",
            source_transaction="ch_1",
        )
    )
    assert form(script.requests[0]) == {
        "amount": "8500",
        "currency": "usd",
        "destination": "acct_1",
        "transfer_group": "esc_1",
        "source_transaction": "ch_1",
    }


async def test_a_payout_of_a_connected_account_is_made_as_that_account(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.create_payout(
        PayoutRequest(idempotency_key="k", amount=100, currency="usd", account_id="acct_1")
    )
    await provider.retrieve_payout("po_1", account_id="acct_1")
    assert [r.headers.get("stripe-account") for r in script.requests] == ["acct_1", "acct_1"]


async def test_a_subscription_starts_incomplete_with_its_invoice_secret_expanded(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.create_subscription(
        SubscriptionRequest(idempotency_key="k", customer="cus_1", price_id="price_1")
    )
    await provider.cancel_subscription_at_period_end(subscription_id="sub_1", idempotency_key="c")
    assert form(script.requests[0]) == {
        "customer": "cus_1",
        "items[0][price]": "price_1",
        "payment_behavior": "default_incomplete",
        "payment_settings[save_default_payment_method]": "on_subscription",
        "expand[0]": "latest_invoice.confirmation_secret",
    }
    assert form(script.requests[1]) == {"cancel_at_period_end": "true"}


async def test_the_charge_is_read_with_its_balance_transaction(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.retrieve_charge("ch_1")
    assert script.requests[0].url.params.get("expand[0]") == "balance_transaction"


async def test_an_id_is_quoted_into_its_path_and_cannot_reach_another_resource(
    stripe: tuple[StripeProvider, Scripted],
) -> None:
    provider, script = stripe
    await provider.retrieve_transfer("tr_1/reversals")
    await provider.retrieve_payment("pi_1?expand[]=customer")
    assert script.requests[0].url.raw_path == b"/v1/transfers/tr_1%2Freversals"
    assert script.requests[1].url.raw_path.startswith(b"/v1/payment_intents/pi_1%3Fexpand")


async def test_an_answer_that_is_not_an_object_is_a_provider_error_to_retry(
    scripted_stripe: Make,
) -> None:
    provider, _ = scripted_stripe(lambda request: httpx.Response(200, json=["pi_1"]))
    with pytest.raises(ProviderError) as caught:
        await provider.retrieve_payment("pi_1")
    assert caught.value.kind is ProviderErrorKind.api
    assert caught.value.retryable
    assert "payment_intents.retrieve" in caught.value.message


async def test_nested_objects_reach_the_mapping_as_plain_values(
    scripted_stripe: Make,
) -> None:
    intent = {
        **OBJECTS["payment_intents"],
        "latest_charge": {
            "id": "ch_1",
            "object": "charge",
            "balance_transaction": {"id": "txn_1", "object": "balance_transaction", "fee": 175},
        },
    }
    provider, _ = scripted_stripe(lambda request: httpx.Response(200, json=intent))
    payment = await provider.retrieve_payment("pi_1")
    assert payment.latest_charge == "ch_1"
    assert payment.fee == 175
