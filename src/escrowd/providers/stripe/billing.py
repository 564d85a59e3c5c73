"""Billing: products, recurring prices and subscriptions (memberships, seed 000 §6)."""

from __future__ import annotations

from stripe.params import (
    InvoiceRetrieveParams,
    PriceCreateParams,
    ProductCreateParams,
    SubscriptionCreateParams,
    SubscriptionRetrieveParams,
    SubscriptionUpdateParams,
)

from escrowd.providers.stripe import mapping
from escrowd.providers.stripe.core import StripeCore, options, path
from escrowd.providers.types import (
    CatalogItem,
    Invoice,
    PriceRequest,
    ProductRequest,
    Subscription,
    SubscriptionRequest,
)

# The first invoice comes back expanded so its client secret reaches the payer, who confirms
# it. ``confirmation_secret`` is where current API versions (the SDK's, 2025-03-31 and later)
# put it; they refuse the older ``latest_invoice.payment_intent``.
_EXPAND_INVOICE = ["latest_invoice.confirmation_secret"]
#: Current API versions name an invoice's PaymentIntent and charge only in its ``payments``,
#: shown when expanded (older ones name them on the invoice itself).
INVOICE_PAYMENTS = ["payments"]


class BillingMixin(StripeCore):
    async def create_product(self, req: ProductRequest) -> CatalogItem:
        params: ProductCreateParams = {"name": req.name}
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "products.create",
            "post",
            "/v1/products",
            params,
            options(req.idempotency_key),
        )
        return mapping.product(obj)

    async def create_price(self, req: PriceRequest) -> CatalogItem:
        params: PriceCreateParams = {
            "product": req.product_id,
            "unit_amount": req.unit_amount,
            "currency": req.currency,
            "recurring": {"interval": req.interval},
        }
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "prices.create",
            "post",
            "/v1/prices",
            params,
            options(req.idempotency_key),
        )
        return mapping.price(obj)

    async def create_subscription(self, req: SubscriptionRequest) -> Subscription:
        # ``default_incomplete``: the subscription waits (status ``incomplete``) until the payer
        # confirms the first invoice's payment, 3-D Secure included, instead of failing.
        params: SubscriptionCreateParams = {
            "customer": req.customer,
            "items": [{"price": req.price_id}],
            "payment_behavior": "default_incomplete",
            # The card that pays the first invoice pays the next ones.
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": _EXPAND_INVOICE,
        }
        if req.default_payment_method:
            params["default_payment_method"] = req.default_payment_method
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "subscriptions.create",
            "post",
            "/v1/subscriptions",
            params,
            options(req.idempotency_key),
        )
        return mapping.subscription(obj)

    async def cancel_subscription_at_period_end(
        self, *, subscription_id: str, idempotency_key: str
    ) -> Subscription:
        # The member keeps what they paid for until the period ends; no proration, no refund.
        params: SubscriptionUpdateParams = {"cancel_at_period_end": True}
        return await self._update_subscription(subscription_id, params, idempotency_key)

    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        params: SubscriptionRetrieveParams = {"expand": _EXPAND_INVOICE}
        obj = await self._fetch(
            "subscriptions.retrieve",
            "get",
            path("/v1/subscriptions/{}", subscription_id),
            params,
        )
        return mapping.subscription(obj)

    async def change_subscription_price(
        self, *, subscription_id: str, item_id: str, price_id: str, idempotency_key: str
    ) -> Subscription:
        # The new price bills from the next period: no proration, so an upgrade charges
        # nothing now and a downgrade refunds nothing (docs/subscriptions.md).
        params: SubscriptionUpdateParams = {
            "items": [{"id": item_id, "price": price_id}],
            "proration_behavior": "none",
            "expand": _EXPAND_INVOICE,
        }
        return await self._update_subscription(subscription_id, params, idempotency_key)

    async def _update_subscription(
        self, subscription_id: str, params: SubscriptionUpdateParams, idempotency_key: str
    ) -> Subscription:
        obj = await self._fetch(
            "subscriptions.update",
            "post",
            path("/v1/subscriptions/{}", subscription_id),
            params,
            options(idempotency_key),
        )
        return mapping.subscription(obj)

    async def retrieve_invoice(self, invoice_id: str) -> Invoice:
        params: InvoiceRetrieveParams = {"expand": INVOICE_PAYMENTS}
        obj = await self._fetch(
            "invoices.retrieve",
            "get",
            path("/v1/invoices/{}", invoice_id),
            params,
        )
        return mapping.invoice(obj)
