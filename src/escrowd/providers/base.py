"""The payment provider interface.

A provider implements the flows it supports; ``capabilities`` names them so callers can refuse
early (a PayPal-only marketplace has no connected accounts). Adapters live in sub-packages
(``providers/stripe``) and speak only these neutral types; they never touch escrowd's tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from enum import StrEnum
from typing import Protocol, runtime_checkable

from escrowd.providers.types import (
    AccountLinkRequest,
    AccountRequest,
    CancelRequest,
    CaptureRequest,
    CatalogItem,
    Charge,
    ConnectedAccount,
    Customer,
    CustomerRequest,
    Dispute,
    Invoice,
    Link,
    Payment,
    PaymentMethod,
    PaymentRecord,
    PaymentRequest,
    Payout,
    PayoutRequest,
    PriceRequest,
    ProductRequest,
    ProviderEvent,
    Refund,
    RefundRequest,
    SetupIntent,
    Subscription,
    SubscriptionRequest,
    TimeRange,
    Transfer,
    TransferRequest,
    TransferReversal,
    TransferReversalRequest,
)


class Capability(StrEnum):
    payments = "payments"
    refunds = "refunds"
    connected_accounts = "connected_accounts"
    transfers = "transfers"
    payouts = "payouts"
    subscriptions = "subscriptions"
    webhooks = "webhooks"


@runtime_checkable
class PaymentProvider(Protocol):
    name: str
    capabilities: frozenset[Capability]

    # customers and payment methods
    async def create_customer(self, req: CustomerRequest) -> Customer: ...
    async def create_setup_intent(
        self, *, customer: str, idempotency_key: str, return_url: str | None = None
    ) -> SetupIntent: ...
    async def attach_payment_method(
        self, *, payment_method: str, customer: str
    ) -> PaymentMethod: ...
    async def set_default_payment_method(
        self, *, customer: str, payment_method: str
    ) -> Customer: ...
    async def detach_payment_method(
        self, *, payment_method: str, idempotency_key: str
    ) -> PaymentMethod: ...
    async def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntent: ...

    # payments
    async def create_payment(self, req: PaymentRequest) -> Payment: ...
    async def confirm_payment(
        self,
        *,
        payment_id: str,
        idempotency_key: str,
        payment_method: str | None = None,
        return_url: str | None = None,
    ) -> Payment: ...
    async def retrieve_payment(self, payment_id: str) -> Payment: ...
    async def capture_payment(self, req: CaptureRequest) -> Payment: ...
    async def cancel_payment(self, req: CancelRequest) -> Payment: ...
    async def retrieve_charge(self, charge_id: str) -> Charge: ...
    async def retrieve_dispute(self, dispute_id: str) -> Dispute: ...

    # refunds
    async def create_refund(self, req: RefundRequest) -> Refund: ...

    # connected accounts
    async def create_account(self, req: AccountRequest) -> ConnectedAccount: ...
    async def retrieve_account(self, account_id: str) -> ConnectedAccount: ...
    async def create_account_link(self, req: AccountLinkRequest) -> Link: ...
    async def create_login_link(self, account_id: str) -> Link: ...

    # transfers and payouts
    async def create_transfer(self, req: TransferRequest) -> Transfer: ...
    async def retrieve_transfer(self, transfer_id: str) -> Transfer: ...
    async def reverse_transfer(self, req: TransferReversalRequest) -> TransferReversal: ...
    async def create_payout(self, req: PayoutRequest) -> Payout: ...
    async def retrieve_payout(self, payout_id: str, *, account_id: str | None = None) -> Payout: ...

    # subscriptions
    async def create_product(self, req: ProductRequest) -> CatalogItem: ...
    async def create_price(self, req: PriceRequest) -> CatalogItem: ...
    async def create_subscription(self, req: SubscriptionRequest) -> Subscription: ...
    async def cancel_subscription_at_period_end(
        self, *, subscription_id: str, idempotency_key: str
    ) -> Subscription: ...
    async def retrieve_subscription(self, subscription_id: str) -> Subscription: ...
    async def change_subscription_price(
        self, *, subscription_id: str, item_id: str, price_id: str, idempotency_key: str
    ) -> Subscription: ...
    async def retrieve_invoice(self, invoice_id: str) -> Invoice: ...

    # listing, for reconciliation: streamed page by page (the provider's own paging)
    def list_payments(self, created: TimeRange) -> AsyncIterator[PaymentRecord]: ...
    async def retrieve_payment_record(self, payment_id: str) -> PaymentRecord: ...
    def list_invoices(self, created: TimeRange) -> AsyncIterator[Invoice]: ...
    def list_refunds(
        self, *, created: TimeRange | None = None, payment_id: str | None = None
    ) -> AsyncIterator[Refund]: ...
    async def retrieve_refund(self, refund_id: str) -> Refund: ...
    def list_transfers(
        self, *, created: TimeRange | None = None, transfer_group: str | None = None
    ) -> AsyncIterator[Transfer]: ...
    def list_transfer_reversals(self, created: TimeRange) -> AsyncIterator[TransferReversal]: ...

    # inbound webhooks
    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...

    async def aclose(self) -> None:
        """Release connection pools; called when the app shuts down."""
        ...
