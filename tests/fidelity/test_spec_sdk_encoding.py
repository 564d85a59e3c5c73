"""Real calls through the official `stripe` SDK, captured at the HTTP edge and checked.

The SDK's own encoder (`stripe._encode._api_encode`, used by `_api_requestor`) writes every
request; `decode_form` must give back exactly the parameters passed, and the spec checker must
find nothing wrong with calls that Stripe accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

from escrowd.sandbox.spec_check import SpecChecker, decode_form


class CapturingHTTPClient(stripe.HTTPClient):
    """The network edge: records each request and answers with a minimal Stripe object."""

    name = "capturing"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, str]] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        raw = post_data if method == "post" else parts.query
        self.sent.append((method.upper(), parts.path, raw or ""))
        return json.dumps({"id": "obj_1", "object": "unknown"}), 200, {"request-id": "req_1"}

    def close(self) -> None:
        pass


def as_form_values(value: Any) -> Any:
    """What Stripe's encoding turns SDK params into: strings, None dropped, lists kept."""
    if isinstance(value, Mapping):
        return {k: as_form_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [as_form_values(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


Call = Callable[[stripe.StripeClient], object]
CALLS: list[tuple[str, Call, dict[str, Any]]] = []


def call(name: str, params: dict[str, Any]) -> Callable[[Callable[..., object]], None]:
    def register(fn: Callable[..., object]) -> None:
        CALLS.append((name, lambda client: fn(client, params), params))

    return register


@call("customer", {"email": "b@example.com", "name": "Bea", "metadata": {"escrowd_user": "u1"}})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.customers.create(p)


@call(
    "setup intent", {"customer": "cus_1", "usage": "off_session", "payment_method_types": ["card"]}
)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.setup_intents.create(p)


@call("attach payment method", {"customer": "cus_1"})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_methods.attach("pm_1", p)


@call("default payment method", {"invoice_settings": {"default_payment_method": "pm_1"}})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.customers.update("cus_1", p)


MANUAL_CAPTURE = {
    "amount": 2000,
    "currency": "usd",
    "customer": "cus_1",
    "payment_method": "pm_1",
    "payment_method_types": ["card"],
    "capture_method": "manual",
    "confirm": True,
    "off_session": False,
    "transfer_group": "esc_01J",
    "description": None,
    "metadata": {"escrow_id": "esc_01J", "payment_id": "pay_01J"},
    "expand": ["latest_charge", "latest_charge.balance_transaction"],
}


@call("payment intent, manual capture", MANUAL_CAPTURE)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_intents.create(p)


DESTINATION_CHARGE = {
    "amount": 5000,
    "currency": "eur",
    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
    "application_fee_amount": 250,
    "transfer_data": {"destination": "acct_1"},
    "on_behalf_of": "acct_1",
}


@call("payment intent, destination charge", DESTINATION_CHARGE)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_intents.create(p)


@call("confirm", {"payment_method": "pm_1", "return_url": "https://e.test/return"})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_intents.confirm("pi_1", p)


@call("partial capture", {"amount_to_capture": 1500, "expand": ["latest_charge"]})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_intents.capture("pi_1", p)


@call("cancel", {"cancellation_reason": "requested_by_customer"})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_intents.cancel("pi_1", p)


@call("unset metadata key", {"metadata": {"stale": ""}, "description": ""})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_intents.update("pi_1", p)


REFUND = {
    "payment_intent": "pi_1",
    "amount": 500,
    "reason": "requested_by_customer",
    "reverse_transfer": True,
    "refund_application_fee": True,
}


@call("partial refund of a destination charge", REFUND)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.refunds.create(p)


EXPRESS_ACCOUNT = {
    "type": "express",
    "country": "US",
    "email": "seller@example.com",
    "business_type": "company",
    "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
    "metadata": {"org_id": "org_1"},
}


@call("express account", EXPRESS_ACCOUNT)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.accounts.create(p)


ACCOUNT_LINK = {
    "account": "acct_1",
    "refresh_url": "https://e.test/refresh",
    "return_url": "https://e.test/return",
    "type": "account_onboarding",
}


@call("account link", ACCOUNT_LINK)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.account_links.create(p)


@call("login link", {})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.accounts.login_links.create("acct_1", p)


@call("account status", {"expand": ["external_accounts"]})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.accounts.retrieve("acct_1", p)


TRANSFER = {
    "amount": 1800,
    "currency": "usd",
    "destination": "acct_1",
    "transfer_group": "esc_01J",
    "source_transaction": "ch_1",
    "metadata": {"escrow_id": "esc_01J"},
}


@call("transfer", TRANSFER)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.transfers.create(p)


@call("transfer reversal", {"amount": 300, "refund_application_fee": False})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.transfers.reversals.create("tr_1", p)


@call("payout", {"amount": 1800, "currency": "usd", "method": "standard"})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payouts.create(p, {"stripe_account": "acct_1"})


@call("product", {"name": "Pro plan", "metadata": {"plan": "pro"}})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.products.create(p)


PRICE = {
    "product": "prod_1",
    "unit_amount": 1500,
    "currency": "usd",
    "recurring": {"interval": "month"},
}


@call("price", PRICE)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.prices.create(p)


SUBSCRIPTION = {
    "customer": "cus_1",
    "items": [{"price": "price_1", "quantity": 2}, {"price": "price_2"}],
    "payment_behavior": "default_incomplete",
    "payment_settings": {"save_default_payment_method": "on_subscription"},
    "expand": ["latest_invoice.payment_intent"],
}


@call("subscription", SUBSCRIPTION)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.subscriptions.create(p)


@call("cancel at period end", {"cancel_at_period_end": True})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.subscriptions.update("sub_1", p)


@call("cancel subscription now (DELETE with a query)", {"invoice_now": True, "prorate": False})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.subscriptions.cancel("sub_1", p)


LIST = {"limit": 3, "created": {"gte": 1_700_000_000}, "expand": ["data.latest_charge"]}


@call("list payment intents (GET with a query)", LIST)
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.payment_intents.list(p)


@call("search customers", {"query": "email:'b@example.com'", "limit": 1})
def _(c: stripe.StripeClient, p: Any) -> object:
    return c.v1.customers.search(p)


@pytest.fixture
def sdk() -> tuple[stripe.StripeClient, CapturingHTTPClient]:
    edge = CapturingHTTPClient()
    client = stripe.StripeClient("sk_test_fidelity", http_client=edge, max_network_retries=0)
    return client, edge


@pytest.mark.parametrize(
    ("make_call", "params"), [(c[1], c[2]) for c in CALLS], ids=[c[0] for c in CALLS]
)
def test_sdk_encoded_calls_decode_to_their_params_and_pass_the_spec(
    checker: SpecChecker,
    sdk: tuple[stripe.StripeClient, CapturingHTTPClient],
    make_call: Call,
    params: dict[str, Any],
) -> None:
    client, edge = sdk
    make_call(client)
    [(method, path, raw)] = edge.sent
    assert decode_form(raw) == as_form_values(params)
    assert checker.check_request(method, path, decode_form(raw)) == []


def test_the_sdk_writes_lists_with_indices_which_decode_as_lists(
    sdk: tuple[stripe.StripeClient, CapturingHTTPClient],
) -> None:
    client, edge = sdk
    client.v1.subscriptions.create(SUBSCRIPTION)  # type: ignore[arg-type]
    [(_, _, raw)] = edge.sent
    assert "items[0][price]=price_1" in raw
    assert "expand[0]=latest_invoice.payment_intent" in raw
    assert decode_form(raw)["items"] == [
        {"price": "price_1", "quantity": "2"},
        {"price": "price_2"},
    ]


def test_a_mistyped_sdk_call_is_caught(
    checker: SpecChecker, sdk: tuple[stripe.StripeClient, CapturingHTTPClient]
) -> None:
    client, edge = sdk
    client.v1.payment_intents.create({"amount": 100, "currency": "usd", "amout": 1})  # type: ignore[typeddict-unknown-key]
    [(method, path, raw)] = edge.sent
    assert checker.check_request(method, path, decode_form(raw)) == [
        "POST /v1/payment_intents: unknown parameter 'amout'"
    ]
