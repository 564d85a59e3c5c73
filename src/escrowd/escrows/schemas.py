"""Request bodies (unknown fields refused, amounts strictly integers) and the API objects.

The API objects are built as plain dicts (``escrow_json``, ``allocation_json``): the same
dict is the response body and the ``data`` of the event written with the change. The Pydantic
models ``EscrowObject`` / ``AllocationObject`` describe them for OpenAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from escrowd.api.schemas import Currency, Metadata, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.escrows.book import Book, Slot
from escrowd.escrows.models import Escrow, Operation
from escrowd.escrows.states import allowed_actions
from escrowd.fees.schemas import FeePolicyOverride

MAX_ALLOCATIONS = 100
#: A payment window: one minute to 30 days.
WINDOW = Field(default=None, ge=60, le=30 * 86400)
#: An inspection period: up to 90 days.
INSPECTION = Field(default=None, ge=0, le=90 * 86400)

PartyId = Annotated[str, Field(min_length=4, max_length=40, pattern=r"^(usr|org)_[0-9A-Z]{26}$")]
ObjectId = Annotated[str, Field(min_length=4, max_length=40)]


def _check_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


class AllocationIn(RequestModel):
    payee: PartyId | None = Field(
        default=None, description="`usr_…` or `org_…`; null for an open slot, assigned later."
    )
    amount: PositiveAmountInt
    metadata: Metadata = Field(default_factory=dict)


class EscrowCreate(RequestModel):
    payer: PartyId | None = Field(
        default=None,
        description="The paying user (`usr_…`). **Required with an API key or an admin's token** "
        "(they cannot pay; without it: 403 `payer_required`). A client pays itself: leave it out.",
    )
    currency: Currency = Field(min_length=3, max_length=3)
    amount: PositiveAmountInt
    allocations: list[AllocationIn] = Field(min_length=1, max_length=MAX_ALLOCATIONS)
    fee_policy: FeePolicyOverride | None = Field(
        default=None,
        description="Overrides of the marketplace's fee policy for this escrow "
        "(docs/escrows.md). After the payee's own policy and this one are applied, a payer can "
        "bear the processing cost only at a `flat_rate`, and the fee must fit each allocation.",
    )
    payment_provider: Annotated[str, Field(min_length=1, max_length=16)] = Field(
        default="stripe",
        description="Who takes the payer's money: `stripe` (cards, the default) or `paypal` "
        "(the payer approves an order on PayPal; payees are paid out to their PayPal email). "
        "Must be a configured provider (else 400, param `payment_provider`). Every money "
        "operation of the escrow goes through it.",
    )
    capture_mode: Literal["authorize", "capture"] = "capture"
    on_authorization_deadline: Literal["capture", "notify"] = "capture"
    payment_window: int | None = WINDOW
    inspection_period: int | None = INSPECTION
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata = Field(default_factory=dict)


class FundRequest(RequestModel):
    payment_method: str | None = Field(
        default=None,
        min_length=3,
        max_length=255,
        description="A card (`pm_…`); default: the payer's saved card. Refused on a PayPal "
        "escrow (the payer chooses how to pay on PayPal).",
    )
    return_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Where the payer comes back after 3-D Secure or PayPal's approval page; "
        "alone on a card escrow: the hosted card form (sandbox).",
    )

    _url = field_validator("return_url")(_check_url)


class AllocationAmount(RequestModel):
    id: ObjectId
    amount: PositiveAmountInt | None = None


class ReleaseRequest(RequestModel):
    allocations: list[AllocationAmount] | None = Field(
        default=None, min_length=1, max_length=MAX_ALLOCATIONS
    )


class RefundRequest(RequestModel):
    # `allocations` excludes `amount` and `prorated` (400 `parameter_conflict`, in
    # escrowd.escrows.refund): stated for the document, which can say "not both".
    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["allocations"],
                "properties": {"allocations": {"type": "array"}},
                "anyOf": [
                    {"required": ["amount"], "properties": {"amount": {"type": "integer"}}},
                    {"required": ["prorated"], "properties": {"prorated": {"type": "boolean"}}},
                ],
            }
        }
    )

    amount: PositiveAmountInt | None = None
    prorated: bool | None = None
    allocations: list[AllocationAmount] | None = Field(
        default=None, min_length=1, max_length=MAX_ALLOCATIONS
    )
    reason: Literal["requested_by_customer", "duplicate", "fraudulent"] | None = None
    clawback: bool = Field(
        default=False,
        description="Also refund money already released: the payees' transfers are reversed "
        "and the platform's fee on it returned (docs/refunds.md). Without it, released money "
        "is never refunded.",
    )


class CancelRequest(RequestModel):
    reason: Literal["requested_by_customer", "abandoned", "duplicate", "fraudulent"] | None = None


class AssignRequest(RequestModel):
    payee: PartyId


# --- the API objects --------------------------------------------------------------------------


def _ts(value: datetime | None) -> int | None:
    return None if value is None else unix(value)


def allocation_json(escrow: Escrow, slot: Slot) -> dict[str, Any]:
    a, full = slot.allocation, slot.full
    return {
        "id": a.id,
        "object": "allocation",
        "escrow": escrow.id,
        "payee": a.payee_id,
        "currency": escrow.currency,
        "amount": a.amount,
        "status": slot.status,
        "platform_fee": full.platform_fee,
        "processing_cost": full.processing_cost,
        "net": full.net,
        "breakdown": full.to_dict(),
        "amount_released": slot.released.gross,
        "amount_refunded": slot.refunded.gross,
        "amount_remaining": slot.remaining.gross,
        "net_released": slot.released.net,
        "fee_policy": a.fee_policy,
        "metadata": dict(a.meta or {}),
        "created": unix(a.created_at),
    }


def escrow_json(book: Book, open_ops: list[Operation] | None = None) -> dict[str, Any]:
    e = book.escrow
    next_action = (
        {"type": "redirect_to_url", "url": e.next_action_url}
        if e.next_action_url and e.status == "requires_action"
        else None
    )
    return {
        "id": e.id,
        "object": "escrow",
        "created": unix(e.created_at),
        "status": e.status,
        "currency": e.currency,
        "amount": e.amount,
        "amount_charged": e.charged,
        "amount_held": e.amount - e.amount_released - e.amount_refunded if e.ledger_funded else 0,
        "amount_released": e.amount_released,
        "amount_refunded": e.amount_refunded,
        "payer": e.payer_id,
        "payment_provider": e.provider or "stripe",
        "capture_mode": e.capture_mode,
        "on_authorization_deadline": e.on_authorization_deadline,
        "fee_policy": e.fee_policy,
        "payment": {
            "provider": e.provider,
            "id": e.payment_id,
            "charge": e.charge_id,
            "attempts": e.payment_attempts,
            "capture_before": _ts(e.capture_before),
            "processing_fee": e.provider_fee,
        },
        "next_action": next_action,
        "last_payment_error": e.last_payment_error,
        "payment_window": e.payment_window_seconds,
        "expires_at": _ts(e.expires_at),
        "inspection_period": e.inspection_period_seconds,
        "inspection_ends_at": _ts(e.inspection_ends_at),
        "allowed_actions": [a.value for a in allowed_actions(e.status, api_only=True)],
        "pending_operations": [
            {
                "type": op.kind,
                "status": op.status,
                "amount": op.amount,
                "allocation": op.allocation_id,
            }
            for op in open_ops or []
        ],
        "allocations": [allocation_json(e, s) for s in book.slots],
        "description": e.description,
        "metadata": dict(e.meta or {}),
    }


class Breakdown(BaseModel):
    gross: int
    platform_fee: int
    processing_cost: int
    processing_bearer: str
    payee_processing: int
    surcharge: int
    platform_processing: int
    net: int
    charged: int


class AllocationObject(BaseModel):
    id: str
    object: Literal["allocation"]
    escrow: str
    payee: str | None
    currency: Currency
    amount: int
    status: str
    platform_fee: int
    processing_cost: int
    net: int
    breakdown: Breakdown
    amount_released: int
    amount_refunded: int
    amount_remaining: int
    net_released: int
    fee_policy: dict[str, Any]
    metadata: dict[str, str]
    created: int


class PaymentInfo(BaseModel):
    provider: str | None
    id: str | None
    charge: str | None
    attempts: int
    capture_before: int | None
    processing_fee: int | None


class NextAction(BaseModel):
    type: Literal["redirect_to_url"]
    url: str


class PendingOperation(BaseModel):
    type: str
    status: str
    amount: int
    allocation: str | None


class EscrowObject(BaseModel):
    id: str
    object: Literal["escrow"]
    created: int
    status: str
    currency: Currency
    amount: int
    amount_charged: int
    amount_held: int
    amount_released: int
    amount_refunded: int
    payer: str
    payment_provider: str = Field(
        description="`stripe` or `paypal`: the provider every money operation of the escrow "
        "uses (chosen at creation)."
    )
    capture_mode: Literal["authorize", "capture"]
    on_authorization_deadline: Literal["capture", "notify"]
    fee_policy: dict[str, Any] | None
    payment: PaymentInfo
    next_action: NextAction | None
    last_payment_error: dict[str, Any] | None
    payment_window: int | None
    expires_at: int | None
    inspection_period: int | None
    inspection_ends_at: int | None
    allowed_actions: list[str]
    pending_operations: list[PendingOperation]
    allocations: list[AllocationObject]
    description: str | None
    metadata: dict[str, str]


class ReleaseResult(BaseModel):
    allocation: str
    #: Gross taken from the allocation; ``net`` is what the transfer moves.
    amount: int
    net: int
    status: Literal["paid", "failed", "pending"] = Field(
        description="`paid`: transferred. `failed`: the provider refused it; the money stays "
        "in escrow and a retry with the same Idempotency-Key tries again. `pending`: the "
        "outcome is not known yet; escrowd settles it."
    )
    transfer: str | None
    error: dict[str, Any] | None = Field(
        description="The error envelope's `error` for an allocation not paid."
    )


class ReleaseObject(EscrowObject):
    results: list[ReleaseResult] = Field(
        description="Per allocation released by this request (earlier attempts with the same "
        "Idempotency-Key included): what was paid and what was not."
    )
