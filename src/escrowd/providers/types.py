"""Neutral requests and results exchanged with payment providers.

Amounts are integer minor units; currencies lower-case ISO 4217. Every request that moves money
carries ``idempotency_key``, derived by the caller from escrowd's own record (for example
``esc_…:capture:1``), so a retry after a crash can never move money twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

Metadata = dict[str, str]


class PaymentStatus(StrEnum):
    requires_payment_method = "requires_payment_method"
    requires_confirmation = "requires_confirmation"
    requires_action = "requires_action"
    processing = "processing"
    requires_capture = "requires_capture"
    succeeded = "succeeded"
    canceled = "canceled"


class AccountStatus(StrEnum):
    pending_verification = "pending_verification"
    verified = "verified"
    restricted = "restricted"


# --- customers and payment methods -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerRequest:
    idempotency_key: str
    email: str | None = None
    name: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    email: str | None
    default_payment_method: str | None


@dataclass(frozen=True, slots=True)
class SetupIntent:
    id: str
    status: str
    client_secret: str | None
    payment_method: str | None
    customer: str | None
    #: Why the last attempt to save the card failed (a decline, 3-D Secure refused).
    last_error: PaymentError | None = None


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    id: str
    type: str
    customer: str | None
    card_brand: str | None = None
    card_last4: str | None = None
    card_exp_month: int | None = None
    card_exp_year: int | None = None


# --- payments ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    idempotency_key: str
    amount: int
    currency: str
    capture_method: Literal["manual", "automatic"] = "automatic"
    customer: str | None = None
    payment_method: str | None = None
    confirm: bool = False
    return_url: str | None = None
    description: str | None = None
    #: Separate charges and transfers: one group per escrow.
    transfer_group: str | None = None
    #: Destination charge: the connected account that receives the payment minus the fee.
    destination: str | None = None
    application_fee_amount: int | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentError:
    code: str | None
    decline_code: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    status: PaymentStatus
    amount: int
    currency: str
    amount_capturable: int
    amount_received: int
    capture_method: str
    client_secret: str | None
    customer: str | None
    payment_method: str | None
    latest_charge: str | None
    #: Where the payer completes 3-D Secure when ``status`` is ``requires_action``.
    next_action_url: str | None = None
    #: The deadline of a manual-capture authorization (the charge's ``capture_before``).
    capture_before: datetime | None = None
    #: The provider's fee on ``latest_charge`` when it came with the payment (Stripe: the
    #: expanded balance transaction); None: unknown here, ask ``retrieve_charge``.
    fee: int | None = None
    transfer_group: str | None = None
    last_error: PaymentError | None = None
    metadata: Metadata = field(default_factory=dict)
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    idempotency_key: str
    payment_id: str
    #: None captures everything authorized; less captures part and releases the rest.
    amount: int | None = None
    application_fee_amount: int | None = None
    #: False keeps the rest of the authorization capturable for later captures (PayPal's
    #: ``final_capture``); providers with a single capture per payment refuse False.
    final_capture: bool = True


@dataclass(frozen=True, slots=True)
class CancelRequest:
    idempotency_key: str
    payment_id: str
    reason: Literal["duplicate", "fraudulent", "requested_by_customer", "abandoned"] | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    id: str
    amount: int
    amount_captured: int
    amount_refunded: int
    currency: str
    captured: bool
    paid: bool
    status: str
    payment_intent: str | None
    #: The provider's processing fee, from the balance transaction, once known.
    fee: int | None
    net: int | None
    balance_transaction: str | None
    capture_before: datetime | None
    disputed: bool


# --- refunds -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundRequest:
    idempotency_key: str
    payment_id: str
    amount: int | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None
    #: Destination charges: pull the money back from the connected account too.
    reverse_transfer: bool | None = None
    refund_application_fee: bool | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    amount: int
    currency: str
    status: str
    payment_id: str | None
    charge_id: str | None
    created: datetime | None = None
    metadata: Metadata = field(default_factory=dict)


# --- disputes (chargebacks) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dispute:
    """A card holder's dispute of a charge, as the provider keeps it."""

    id: str
    amount: int
    currency: str
    #: needs_response, under_review, warning_*, won or lost.
    status: str
    reason: str
    charge_id: str | None
    payment_id: str | None
    #: From the dispute's balance transactions: what the provider took from the platform's
    #: balance, what it gave back, and its dispute fees.
    withdrawn: int = 0
    reinstated: int = 0
    fee: int = 0
    created: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.status in ("won", "lost")


# --- connected accounts --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRequest:
    idempotency_key: str
    #: A user is onboarded as an individual, an organization as a company.
    business_type: Literal["individual", "company"]
    country: str = "US"
    email: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Requirements:
    currently_due: tuple[str, ...] = ()
    eventually_due: tuple[str, ...] = ()
    past_due: tuple[str, ...] = ()
    current_deadline: datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAccount:
    id: str
    status: AccountStatus
    business_type: str | None
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    capabilities: dict[str, str]
    requirements: Requirements
    email: str | None = None


@dataclass(frozen=True, slots=True)
class AccountLinkRequest:
    account_id: str
    refresh_url: str
    return_url: str
    type: Literal["account_onboarding", "account_update"] = "account_onboarding"


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    expires_at: datetime | None


# --- transfers and payouts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferRequest:
    idempotency_key: str
    amount: int
    currency: str
    destination: str
    transfer_group: str | None = None
    #: The charge whose funds pay for this transfer (no wait for the balance).
    source_transaction: str | None = None
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    amount: int
    amount_reversed: int
    currency: str
    destination: str
    transfer_group: str | None
    reversed: bool
    created: datetime | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransferReversalRequest:
    idempotency_key: str
    transfer_id: str
    amount: int | None = None
    refund_application_fee: bool | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransferReversal:
    id: str
    amount: int
    currency: str
    transfer_id: str
    created: datetime | None = None
    #: The transfer reversed, when the provider sent it along (reconciliation lists them).
    transfer: Transfer | None = None


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    idempotency_key: str
    amount: int
    currency: str
    #: The connected account paid out (its balance to its bank); None for the platform's own.
    account_id: str | None = None
    #: Providers that pay a person rather than a balance (PayPal Payouts): the receiver's
    #: email there. Providers that pay out balances refuse it.
    receiver_email: str | None = None
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Payout:
    id: str
    amount: int
    currency: str
    status: str
    arrival_date: datetime | None
    failure_code: str | None = None
    failure_message: str | None = None


# --- listing (reconciliation) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``gte <= created < lt``: how reconciliation asks for a day's objects."""

    gte: datetime
    lt: datetime


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """A payment with its charge (and the charge's fee) as listed in one call."""

    payment: Payment
    #: The latest charge; None before the payment was confirmed.
    charge: Charge | None
    #: The invoice it pays, where the provider's API version names it on the payment
    #: (Stripe before 2025-03-31); None for other payments, and on later versions.
    invoice_id: str | None = None


# --- subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductRequest:
    idempotency_key: str
    name: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriceRequest:
    idempotency_key: str
    product_id: str
    unit_amount: int
    currency: str
    interval: Literal["day", "week", "month", "year"] = "month"
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    id: str
    name: str | None = None
    unit_amount: int | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    idempotency_key: str
    customer: str
    price_id: str
    default_payment_method: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    status: str
    customer: str
    price_id: str | None
    cancel_at_period_end: bool
    current_period_end: datetime | None
    #: With ``default_incomplete`` the first invoice's payment must be confirmed by the payer.
    client_secret: str | None = None
    latest_invoice: str | None = None
    #: The subscription item whose price a plan change swaps (one item per subscription).
    item_id: str | None = None
    #: When the subscription was created at the provider (a period's start on renewals).
    current_period_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    """A subscription's bill for one period, as the provider keeps it."""

    id: str
    status: str
    subscription: str | None
    customer: str | None
    amount_due: int
    amount_paid: int
    currency: str
    #: ``subscription_create`` for the first, ``subscription_cycle`` for a renewal.
    billing_reason: str | None
    period_start: datetime | None = None
    period_end: datetime | None = None
    #: The PaymentIntent collecting it and its charge: API versions before 2025-03-31 name
    #: them from finalization on, later ones once paid. None for an invoice paid without a
    #: payment (free, or marked paid out of band).
    payment_id: str | None = None
    charge_id: str | None = None
    created: datetime | None = None


# --- inbound events ------------------------------------------------------------------------


class EventKind(StrEnum):
    """Neutral names for what a provider tells us happened."""

    payment_succeeded = "payment.succeeded"
    payment_failed = "payment.failed"
    payment_canceled = "payment.canceled"
    payment_processing = "payment.processing"
    payment_capturable = "payment.amount_capturable_updated"
    payment_requires_action = "payment.requires_action"
    charge_captured = "charge.captured"
    charge_refunded = "charge.refunded"
    charge_expired = "charge.expired"
    dispute_created = "dispute.created"
    dispute_closed = "dispute.closed"
    account_updated = "account.updated"
    account_authorized = "account.authorized"
    account_deauthorized = "account.deauthorized"
    external_account_created = "account.external_account_created"
    external_account_deleted = "account.external_account_deleted"
    capability_updated = "account.capability_updated"
    person_updated = "account.person_updated"
    person_deleted = "account.person_deleted"
    transfer_created = "transfer.created"
    transfer_reversed = "transfer.reversed"
    transfer_paid = "transfer.paid"
    transfer_failed = "transfer.failed"
    payout_paid = "payout.paid"
    payout_failed = "payout.failed"
    invoice_paid = "invoice.paid"
    invoice_payment_failed = "invoice.payment_failed"
    subscription_updated = "subscription.updated"
    subscription_deleted = "subscription.deleted"
    # PayPal's own: kept apart from the Stripe-shaped kinds above, so no Stripe handler ever
    # verifies a PayPal id against Stripe.
    paypal_order_approved = "paypal.order.approved"
    paypal_authorization_created = "paypal.authorization.created"
    paypal_authorization_voided = "paypal.authorization.voided"
    paypal_capture_completed = "paypal.capture.completed"
    paypal_capture_denied = "paypal.capture.denied"
    paypal_capture_refunded = "paypal.capture.refunded"
    paypal_capture_reversed = "paypal.capture.reversed"
    paypal_dispute_created = "paypal.dispute.created"
    paypal_dispute_resolved = "paypal.dispute.resolved"
    paypal_payouts_batch = "paypal.payouts_batch"
    paypal_payouts_item = "paypal.payouts_item"
    unknown = "unknown"


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    provider: str
    id: str
    provider_type: str
    kind: EventKind
    created: datetime
    object_id: str | None
    object_type: str | None
    #: The connected account the event happened on (Connect events), if any.
    account: str | None
    #: The object as the event tells it: a claim, not the truth (see ``escrowd.webhooks``).
    data: dict[str, Any]
    #: Objects fetched from the provider while processing this event, by (object type, id):
    #: the truth its handlers act on. Filled by the webhook processor, never by parsing.
    verified: dict[tuple[str, str], object] = field(default_factory=dict)
