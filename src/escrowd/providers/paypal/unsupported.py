"""The PaymentProvider calls PayPal has no counterpart for, each refused with a clear error.

PayPal (as escrowd uses it) has no stored customers or payment methods, no connected accounts
or transfers between them, no subscriptions billed through this interface, and no listing of
payments by creation time (that is PayPal's Transaction Search, not used: reconciliation reads
each PayPal escrow's order by id, ``provider.py``).
Each call raises ``ProviderError`` ``unsupported_by_provider`` naming what is not supported;
the ``list_*`` calls raise when called, not when first iterated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from escrowd.providers.errors import ProviderError, unsupported
from escrowd.providers.paypal.errors import PROVIDER
from escrowd.providers.types import (
    AccountLinkRequest,
    AccountRequest,
    CatalogItem,
    ConnectedAccount,
    Customer,
    CustomerRequest,
    Invoice,
    Link,
    PaymentMethod,
    PaymentRecord,
    PriceRequest,
    ProductRequest,
    SetupIntent,
    Subscription,
    SubscriptionRequest,
    TimeRange,
    Transfer,
    TransferRequest,
    TransferReversal,
    TransferReversalRequest,
)


def refuse(what: str) -> ProviderError:
    return unsupported(PROVIDER, what, label="PayPal")


class UnsupportedMixin:
    # --- customers and payment methods ---------------------------------------------------

    async def create_customer(self, req: CustomerRequest) -> Customer:
        raise refuse("customers (create_customer)")

    async def create_setup_intent(
        self, *, customer: str, idempotency_key: str, return_url: str | None = None
    ) -> SetupIntent:
        raise refuse("saving payment methods (create_setup_intent)")

    async def attach_payment_method(self, *, payment_method: str, customer: str) -> PaymentMethod:
        raise refuse("saved payment methods (attach_payment_method)")

    async def set_default_payment_method(self, *, customer: str, payment_method: str) -> Customer:
        raise refuse("saved payment methods (set_default_payment_method)")

    async def detach_payment_method(
        self, *, payment_method: str, idempotency_key: str
    ) -> PaymentMethod:
        raise refuse("saved payment methods (detach_payment_method)")

    async def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntent:
        raise refuse("saving payment methods (retrieve_setup_intent)")

    # --- charges ----------------------------------------------------------------------

    # --- connected accounts --------------------------------------------------------------

    async def create_account(self, req: AccountRequest) -> ConnectedAccount:
        raise refuse("connected accounts (create_account)")

    async def retrieve_account(self, account_id: str) -> ConnectedAccount:
        raise refuse("connected accounts (retrieve_account)")

    async def create_account_link(self, req: AccountLinkRequest) -> Link:
        raise refuse("connected accounts (create_account_link)")

    async def create_login_link(self, account_id: str) -> Link:
        raise refuse("connected accounts (create_login_link)")

    # --- transfers -----------------------------------------------------------------------

    async def create_transfer(self, req: TransferRequest) -> Transfer:
        raise refuse("transfers to connected accounts (create_transfer)")

    async def retrieve_transfer(self, transfer_id: str) -> Transfer:
        raise refuse("transfers to connected accounts (retrieve_transfer)")

    async def reverse_transfer(self, req: TransferReversalRequest) -> TransferReversal:
        raise refuse("transfers to connected accounts (reverse_transfer)")

    # --- subscriptions -------------------------------------------------------------------

    async def create_product(self, req: ProductRequest) -> CatalogItem:
        raise refuse("subscriptions (create_product)")

    async def create_price(self, req: PriceRequest) -> CatalogItem:
        raise refuse("subscriptions (create_price)")

    async def create_subscription(self, req: SubscriptionRequest) -> Subscription:
        raise refuse("subscriptions (create_subscription)")

    async def cancel_subscription_at_period_end(
        self, *, subscription_id: str, idempotency_key: str
    ) -> Subscription:
        raise refuse("subscriptions (cancel_subscription_at_period_end)")

    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        raise refuse("subscriptions (retrieve_subscription)")

    async def change_subscription_price(
        self, *, subscription_id: str, item_id: str, price_id: str, idempotency_key: str
    ) -> Subscription:
        raise refuse("subscriptions (change_subscription_price)")

    async def retrieve_invoice(self, invoice_id: str) -> Invoice:
        raise refuse("subscription invoices (retrieve_invoice)")

    # --- listing for reconciliation ------------------------------------------------------

    def list_payments(self, created: TimeRange) -> AsyncIterator[PaymentRecord]:
        raise refuse("listing payments for reconciliation (list_payments)")

    def list_invoices(self, created: TimeRange) -> AsyncIterator[Invoice]:
        raise refuse("listing invoices (list_invoices)")

    def list_transfers(
        self, *, created: TimeRange | None = None, transfer_group: str | None = None
    ) -> AsyncIterator[Transfer]:
        raise refuse("transfers to connected accounts (list_transfers)")

    def list_transfer_reversals(self, created: TimeRange) -> AsyncIterator[TransferReversal]:
        raise refuse("transfers to connected accounts (list_transfer_reversals)")
