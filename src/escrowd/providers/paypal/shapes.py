"""The PayPal REST shapes escrowd relies on, as typed models.

Written from PayPal's published reference (Orders v2, Payments v2, Payouts v1, Disputes v1,
OAuth2, the common error object, the webhook event envelope). Only the fields escrowd sends or
reads are modelled; responses ignore the rest (PayPal adds fields without notice) but must
carry what is required here, with the documented enum values. Requests forbid unknown fields
so a typo cannot reach the wire.

Amounts are PayPal's decimal strings (``"10.00"``, ``"1000"`` for JPY): convert them with
``escrowd.providers.paypal.amounts``, never through a float.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# PayPal's value pattern: up to 32 characters, digits with an optional fraction; no sign,
# no exponent (the Orders reference: ^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$, negative only in
# adjustments escrowd never sends).
_VALUE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")


def _decimal_string(v: str) -> str:
    if len(v) > 32 or not _VALUE.match(v):
        raise ValueError(f"{v!r} is not a PayPal decimal amount string")
    return v


DecimalString = Annotated[str, AfterValidator(_decimal_string)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- common ----------------------------------------------------------------------------------


class Money(Response):
    """Orders / Payments v2 money: ``{"currency_code": "USD", "value": "10.00"}``."""

    model_config = ConfigDict(extra="forbid")
    currency_code: CurrencyCode
    value: DecimalString


class PayoutCurrency(Response):
    """Payouts v1 spells it differently: ``{"currency": "USD", "value": "10.00"}``."""

    model_config = ConfigDict(extra="forbid")
    currency: CurrencyCode
    value: DecimalString


class Link(Response):
    href: str
    rel: str
    method: str | None = None


def link(links: list[Link], *rels: str) -> str | None:
    """The first link whose ``rel`` is one of ``rels`` (PayPal's HATEOAS links)."""
    for rel in rels:
        for item in links:
            if item.rel == rel:
                return item.href
    return None


class ErrorDetail(Response):
    issue: str
    description: str | None = None
    field: str | None = None
    value: str | None = None
    location: str | None = None


class Error(Response):
    """PayPal's error object (every API but OAuth)."""

    name: str
    message: str
    debug_id: str
    information_link: str | None = None
    details: list[ErrorDetail] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


class OAuthError(Response):
    """``/v1/oauth2/token`` errors: OAuth's own shape, not PayPal's error object."""

    error: str
    error_description: str | None = None


# --- OAuth -----------------------------------------------------------------------------------


class AccessToken(Response):
    scope: str | None = None
    access_token: str
    token_type: Literal["Bearer"]
    app_id: str | None = None
    expires_in: int = Field(gt=0)
    nonce: str | None = None


# --- Orders v2 -------------------------------------------------------------------------------

Intent = Literal["CAPTURE", "AUTHORIZE"]
OrderStatus = Literal[
    "CREATED", "SAVED", "APPROVED", "VOIDED", "COMPLETED", "PAYER_ACTION_REQUIRED"
]


class ExperienceContext(Request):
    return_url: str
    cancel_url: str
    brand_name: str | None = None
    user_action: Literal["CONTINUE", "PAY_NOW"] | None = None
    shipping_preference: Literal["GET_FROM_FILE", "NO_SHIPPING", "SET_PROVIDED_ADDRESS"] | None = (
        None
    )


class PayPalWallet(Request):
    experience_context: ExperienceContext


class PaymentSource(Request):
    paypal: PayPalWallet


class PurchaseUnitRequest(Request):
    reference_id: str | None = Field(default=None, max_length=256)
    amount: Money
    custom_id: str | None = Field(default=None, max_length=255)
    invoice_id: str | None = Field(default=None, max_length=127)
    description: str | None = Field(default=None, max_length=127)


class OrderRequest(Request):
    intent: Intent
    purchase_units: list[PurchaseUnitRequest] = Field(min_length=1, max_length=10)
    payment_source: PaymentSource | None = None


AuthorizationStatus = Literal[
    "CREATED",
    "CAPTURED",
    "DENIED",
    "EXPIRED",
    "PARTIALLY_CAPTURED",
    "PARTIALLY_CREATED",
    "VOIDED",
    "PENDING",
]
#: ``REVERSED``: PayPal took the captured money back (a chargeback, or a reversal without a
#: Resolution Center dispute); PAYMENT.CAPTURE.REVERSED says so.
CaptureStatus = Literal[
    "COMPLETED", "DECLINED", "PARTIALLY_REFUNDED", "PENDING", "REFUNDED", "FAILED", "REVERSED"
]
RefundStatus = Literal["CANCELLED", "FAILED", "PENDING", "COMPLETED"]


class RelatedIds(Response):
    order_id: str | None = None
    authorization_id: str | None = None
    capture_id: str | None = None


class SupplementaryData(Response):
    related_ids: RelatedIds | None = None


class Authorization(Response):
    id: str
    status: AuthorizationStatus
    amount: Money
    invoice_id: str | None = None
    custom_id: str | None = None
    expiration_time: str | None = None
    create_time: str | None = None
    update_time: str | None = None
    links: list[Link] = Field(default_factory=list)
    supplementary_data: SupplementaryData | None = None


class SellerReceivableBreakdown(Response):
    """What the capture leaves the seller: ``gross_amount`` less ``paypal_fee`` is
    ``net_amount``. PayPal fills it once the capture completed (a pending one may lack it)."""

    gross_amount: Money
    paypal_fee: Money | None = None
    net_amount: Money | None = None


class StatusDetails(Response):
    reason: str | None = None


class Capture(Response):
    id: str
    status: CaptureStatus
    amount: Money
    final_capture: bool
    status_details: StatusDetails | None = None
    seller_receivable_breakdown: SellerReceivableBreakdown | None = None
    invoice_id: str | None = None
    custom_id: str | None = None
    create_time: str | None = None
    update_time: str | None = None
    links: list[Link] = Field(default_factory=list)
    supplementary_data: SupplementaryData | None = None


class Refund(Response):
    id: str
    status: RefundStatus
    amount: Money
    invoice_id: str | None = None
    note_to_payer: str | None = None
    create_time: str | None = None
    update_time: str | None = None
    links: list[Link] = Field(default_factory=list)


class Payments(Response):
    authorizations: list[Authorization] = Field(default_factory=list)
    captures: list[Capture] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)


class PurchaseUnit(Response):
    reference_id: str | None = None
    amount: Money | None = None
    custom_id: str | None = None
    invoice_id: str | None = None
    payments: Payments | None = None


class Order(Response):
    """An order: the create, get, authorize and capture responses all have this shape."""

    id: str
    status: OrderStatus
    intent: Intent | None = None
    purchase_units: list[PurchaseUnit] = Field(default_factory=list)
    create_time: str | None = None
    update_time: str | None = None
    links: list[Link] = Field(default_factory=list)

    @property
    def approval_url(self) -> str | None:
        """Where to send the payer: ``payer-action`` (payment_source given) or ``approve``."""
        return link(self.links, "payer-action", "approve")


# --- Payments v2 -----------------------------------------------------------------------------


class CaptureAuthorizationRequest(Request):
    """Body of ``POST /v2/payments/authorizations/{id}/capture``; no amount = all remaining."""

    amount: Money | None = None
    final_capture: bool = False
    invoice_id: str | None = Field(default=None, max_length=127)
    note_to_payer: str | None = Field(default=None, max_length=255)


class RefundRequest(Request):
    """Body of ``POST /v2/payments/captures/{id}/refund``; no amount = all that remains."""

    amount: Money | None = None
    invoice_id: str | None = Field(default=None, max_length=127)
    note_to_payer: str | None = Field(default=None, max_length=255)


# --- Payouts v1 ------------------------------------------------------------------------------

RecipientType = Literal["EMAIL", "PHONE", "PAYPAL_ID"]
BatchStatus = Literal["DENIED", "PENDING", "PROCESSING", "SUCCESS", "CANCELED"]
TransactionStatus = Literal[
    "SUCCESS",
    "FAILED",
    "PENDING",
    "UNCLAIMED",
    "RETURNED",
    "ONHOLD",
    "BLOCKED",
    "REFUNDED",
    "REVERSED",
]


class SenderBatchHeader(Request):
    sender_batch_id: str = Field(min_length=1, max_length=256)
    email_subject: str | None = Field(default=None, max_length=255)
    email_message: str | None = Field(default=None, max_length=1000)
    recipient_type: RecipientType | None = None


class PayoutItemRequest(Request):
    recipient_type: RecipientType = "EMAIL"
    amount: PayoutCurrency
    receiver: str = Field(min_length=1, max_length=127)
    sender_item_id: str | None = Field(default=None, max_length=63)
    note: str | None = Field(default=None, max_length=4000)


class PayoutRequest(Request):
    sender_batch_header: SenderBatchHeader
    items: list[PayoutItemRequest] = Field(min_length=1, max_length=15000)


class SenderBatchHeaderEcho(Response):
    sender_batch_id: str | None = None
    email_subject: str | None = None


class BatchHeader(Response):
    payout_batch_id: str
    batch_status: BatchStatus
    sender_batch_header: SenderBatchHeaderEcho
    time_created: str | None = None
    time_completed: str | None = None
    amount: PayoutCurrency | None = None


class PayoutItemDetail(Response):
    recipient_type: RecipientType | None = None
    amount: PayoutCurrency
    receiver: str
    sender_item_id: str | None = None
    note: str | None = None


class PayoutItem(Response):
    payout_item_id: str
    transaction_id: str | None = None
    transaction_status: TransactionStatus
    payout_batch_id: str
    payout_item: PayoutItemDetail
    time_processed: str | None = None
    errors: Error | None = None
    links: list[Link] = Field(default_factory=list)


class PayoutBatch(Response):
    """The create response has no ``items``; ``GET /v1/payments/payouts/{id}`` lists them."""

    batch_header: BatchHeader
    items: list[PayoutItem] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


# --- Disputes v1 ------------------------------------------------------------------------------

DisputeStatus = Literal[
    "OPEN",
    "WAITING_FOR_BUYER_RESPONSE",
    "WAITING_FOR_SELLER_RESPONSE",
    "UNDER_REVIEW",
    "RESOLVED",
    "OTHER",
]
DisputeReason = Literal[
    "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
    "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED",
    "UNAUTHORISED",
    "CREDIT_NOT_PROCESSED",
    "DUPLICATE_TRANSACTION",
    "INCORRECT_AMOUNT",
    "PAYMENT_BY_OTHER_MEANS",
    "CANCELED_RECURRING_BILLING",
    "PROBLEM_WITH_REMITTANCE",
    "OTHER",
]
OutcomeCode = Literal[
    "RESOLVED_BUYER_FAVOUR",
    "RESOLVED_SELLER_FAVOUR",
    "RESOLVED_WITH_PAYOUT",
    "CANCELED_BY_BUYER",
    "ACCEPTED",
    "DENIED",
    "NONE",
]
LifeCycleStage = Literal["INQUIRY", "CHARGEBACK", "PRE_ARBITRATION", "ARBITRATION"]
DisputeChannel = Literal["INTERNAL", "EXTERNAL", "ALERT"]
TransactionInfoStatus = Literal[
    "COMPLETED",
    "UNCLAIMED",
    "DENIED",
    "FAILED",
    "HELD",
    "PENDING",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "REVERSED",
    "CANCELLED",
]
_DISPUTE_ID = r"^[A-Za-z0-9-]{1,255}$"


class DisputedTransaction(Response):
    """``transaction_info``: the transaction a dispute is about. For an Orders v2 payment the
    seller's transaction id is the capture's id."""

    buyer_transaction_id: str | None = None
    seller_transaction_id: str | None = Field(default=None, pattern=_DISPUTE_ID)
    reference_id: str | None = None
    create_time: str | None = None
    transaction_status: TransactionInfoStatus | None = None
    gross_amount: Money | None = None
    invoice_number: str | None = None
    custom: str | None = None


class DisputeOutcome(Response):
    outcome_code: OutcomeCode
    amount_refunded: Money | None = None


class MoneyMovement(Response):
    """``money_movement`` (PayPal marks the list deprecated but still returns it)."""

    affected_party: Literal["SELLER", "BUYER", "PAYMENT_PROCESSOR"] | None = None
    amount: Money | None = None
    initiated_time: str | None = None
    type: Literal["DEBIT", "CREDIT"] | None = None
    reason: (
        Literal["DISPUTE_SETTLEMENT_FEE", "DISPUTE_SETTLEMENT", "DISPUTE_FEE", "CHARGEBACK_FEE"]
        | None
    ) = None


class Dispute(Response):
    """``GET /v1/customer/disputes/{id}``, and the resource of ``CUSTOMER.DISPUTE.*`` events."""

    dispute_id: str = Field(pattern=_DISPUTE_ID)
    create_time: str | None = None
    update_time: str | None = None
    disputed_transactions: list[DisputedTransaction] = Field(default_factory=list)
    reason: DisputeReason | None = None
    status: DisputeStatus
    dispute_amount: Money
    dispute_outcome: DisputeOutcome | None = None
    money_movements: list[MoneyMovement] = Field(default_factory=list)
    dispute_life_cycle_stage: LifeCycleStage | None = None
    dispute_channel: DisputeChannel | None = None
    seller_response_due_date: str | None = None
    links: list[Link] = Field(default_factory=list)

    @property
    def seller_transaction_id(self) -> str | None:
        """The disputed capture (escrowd pays each escrow with one order, so one transaction)."""
        for transaction in self.disputed_transactions:
            if transaction.seller_transaction_id:
                return transaction.seller_transaction_id
        return None


class LinksOnly(Response):
    """The answer of a dispute action: links to follow (``subsequent_action_links``)."""

    links: list[Link] = Field(default_factory=list)


class AdjudicateRequest(Request):
    """Body of the sandbox-only ``POST /v1/customer/disputes/{id}/adjudicate``."""

    adjudication_outcome: Literal["BUYER_FAVOR", "SELLER_FAVOR"]


# --- webhooks --------------------------------------------------------------------------------


class WebhookEvent(Response):
    """The event envelope PayPal posts; ``resource`` is the object named by ``resource_type``."""

    id: str
    create_time: str
    resource_type: str
    event_type: str
    summary: str | None = None
    event_version: str | None = None
    resource_version: str | None = None
    resource: dict[str, Any]
    links: list[Link] = Field(default_factory=list)
