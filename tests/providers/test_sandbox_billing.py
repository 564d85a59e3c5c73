"""The adapter against escrowd's sandbox: membership products, prices and subscriptions."""

from __future__ import annotations

from datetime import timedelta

from ulid import ULID

from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.types import (
    CustomerRequest,
    PriceRequest,
    ProductRequest,
    SubscriptionRequest,
    TimeRange,
)


def key(label: str) -> str:
    return f"test:{ULID()}:{label}"


async def membership(sandbox: StripeProvider) -> str:
    product = await sandbox.create_product(
        ProductRequest(idempotency_key=key("prod"), name="Pro tester", metadata={"tier": "pro"})
    )
    assert (product.name, product.id[:5]) == ("Pro tester", "prod_")
    price = await sandbox.create_price(
        PriceRequest(
            idempotency_key=key("price"),
            product_id=product.id,
            unit_amount=2900,
            currency="usd",
            interval="month",
        )
    )
    assert (price.unit_amount, price.currency) == (2900, "usd")
    return price.id


async def test_a_subscription_starts_incomplete_with_a_secret_for_the_payer(
    sandbox: StripeProvider,
) -> None:
    price = await membership(sandbox)
    cus = await sandbox.create_customer(CustomerRequest(idempotency_key=key("cus")))
    sub = await sandbox.create_subscription(
        SubscriptionRequest(idempotency_key=key("sub"), customer=cus.id, price_id=price)
    )
    assert (sub.status, sub.customer, sub.price_id) == ("incomplete", cus.id, price)
    assert sub.latest_invoice
    assert sub.client_secret
    assert sub.current_period_end is not None
    assert not sub.cancel_at_period_end


async def test_a_subscription_paid_by_a_saved_card_is_canceled_at_period_end(
    sandbox: StripeProvider,
) -> None:
    price = await membership(sandbox)
    cus = await sandbox.create_customer(CustomerRequest(idempotency_key=key("cus")))
    pm = await sandbox.attach_payment_method(payment_method="pm_card_visa", customer=cus.id)
    sub = await sandbox.create_subscription(
        SubscriptionRequest(
            idempotency_key=key("sub"),
            customer=cus.id,
            price_id=price,
            default_payment_method=pm.id,
        )
    )
    ending = await sandbox.cancel_subscription_at_period_end(
        subscription_id=sub.id, idempotency_key=key("cancel")
    )
    assert ending.cancel_at_period_end
    assert ending.status == sub.status
    again = await sandbox.retrieve_subscription(sub.id)
    assert again.cancel_at_period_end
    assert again.current_period_end == sub.current_period_end


async def test_a_paid_invoice_names_its_payment_when_retrieved_and_listed(
    sandbox: StripeProvider,
) -> None:
    price = await membership(sandbox)
    cus = await sandbox.create_customer(CustomerRequest(idempotency_key=key("cus")))
    pm = await sandbox.attach_payment_method(payment_method="pm_card_visa", customer=cus.id)
    sub = await sandbox.create_subscription(
        SubscriptionRequest(
            idempotency_key=key("sub"),
            customer=cus.id,
            price_id=price,
            default_payment_method=pm.id,
        )
    )
    try:
        assert sub.latest_invoice is not None
        # As the payer's browser would: the first invoice is paid with the saved card.
        await sandbox._client.v1.invoices.pay_async(sub.latest_invoice, {"payment_method": pm.id})
        invoice = await sandbox.retrieve_invoice(sub.latest_invoice)
        assert (invoice.status, invoice.amount_paid) == ("paid", 2900)
        assert invoice.payment_id is not None
        assert invoice.created is not None
        record = await sandbox.retrieve_payment_record(invoice.payment_id)
        assert record.charge is not None
        assert record.charge.id == invoice.charge_id
        assert record.invoice_id == invoice.id
        # Current API versions name the payment only in the invoice's expanded ``payments``.
        raw = await sandbox._client.v1.invoices.retrieve_async(invoice.id, {"expand": ["payments"]})
        [paid] = raw.to_dict()["payments"]["data"]
        assert (paid["status"], paid["payment"]["payment_intent"]) == ("paid", invoice.payment_id)
        window = TimeRange(invoice.created, invoice.created + timedelta(seconds=1))
        listed = [i async for i in sandbox.list_invoices(window) if i.id == invoice.id]
        assert [i.payment_id for i in listed] == [invoice.payment_id]
    finally:
        await sandbox.cancel_subscription_at_period_end(
            subscription_id=sub.id, idempotency_key=key("cancel")
        )
