"""API shapes of a gig: what the client sends to hire an expert, and the gig as it is shown
(its status, commission and the expert's amount read from its escrow)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, Currency, Metadata, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.marketplace.gigs import domain
from escrowd.marketplace.gigs.domain import GigStatus
from escrowd.marketplace.gigs.models import Gig


class GigCreate(RequestModel):
    expert: str = Field(
        min_length=4,
        max_length=40,
        pattern=r"^usr_[0-9A-Z]{26}$",
        description="The expert hired (`usr_…`), who needs a verified connected account.",
    )
    amount: PositiveAmountInt = Field(description="The gig's price, in minor units.")
    currency: Currency = Field(min_length=3, max_length=3)
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata = Field(default_factory=dict)
    payment_method: str | None = Field(
        default=None,
        min_length=3,
        max_length=255,
        description="The card to authorize (`pm_…`); default: the client's saved card.",
    )
    return_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Where 3-D Secure returns to; alone, the hosted card form (sandbox).",
    )


class GigCancel(RequestModel):
    reason: Literal["requested_by_customer", "duplicate", "fraudulent"] | None = None


class GigStatusObject(ApiObject):
    id: str = Field(description="gig_…")
    object: Literal["gig_status"] = "gig_status"
    status: GigStatus
    escrow_status: str


class GigObject(ApiObject):
    id: str = Field(description="gig_…")
    object: Literal["gig"] = "gig"
    client: str
    expert: str
    amount: int
    currency: str
    commission: int = Field(description="The platform's 10 % (the application fee).")
    expert_amount: int = Field(description="What the expert is paid: the amount less commission.")
    status: GigStatus
    escrow: str = Field(description="The escrow holding the payment (esc_…).")
    escrow_status: str
    capture_before: int | None = Field(
        description="While authorized: when the authorization ends (Unix seconds)."
    )
    next_action: dict[str, Any] | None = Field(
        description="While 3-D Secure is needed: `{type: redirect_to_url, url}` for the client."
    )
    last_payment_error: dict[str, Any] | None
    description: str | None
    created: int


def gig_json(row: Gig, escrow: dict[str, Any]) -> GigObject:
    """``escrow`` is the gig's escrow as the escrows API shows it."""
    (allocation,) = escrow["allocations"]
    payment = escrow.get("payment") or {}
    return GigObject(
        id=row.id,
        client=row.client_id,
        expert=row.expert_id,
        amount=row.amount,
        currency=row.currency,
        commission=allocation["platform_fee"],
        expert_amount=allocation["net"],
        status=domain.status_of(escrow["status"]),
        escrow=row.escrow_id,
        escrow_status=escrow["status"],
        capture_before=payment.get("capture_before"),
        next_action=escrow.get("next_action"),
        last_payment_error=escrow.get("last_payment_error"),
        description=row.description,
        created=unix(row.created_at),
    )
