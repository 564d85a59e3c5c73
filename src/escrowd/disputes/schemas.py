"""API shapes of disputes: the request bodies and the dispute object (``dsp_…``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from escrowd.api.schemas import AmountInt, ApiObject, RequestModel
from escrowd.clock import unix
from escrowd.disputes.domain import DisputeKind, DisputeStatus, Outcome
from escrowd.disputes.models import Dispute
from escrowd.ids import Prefix, id_pattern

Note = Annotated[str, Field(min_length=1, max_length=2000)]


class DisputeCreate(RequestModel):
    escrow: Annotated[str, Field(pattern=id_pattern(Prefix.escrow))] = Field(
        description="The escrow disputed (esc_…)."
    )
    allocation: Annotated[str, Field(pattern=id_pattern(Prefix.allocation))] | None = Field(
        default=None,
        description="One allocation of it (alloc_…); default: the escrow as a whole.",
    )
    reason: Literal[
        "not_delivered",
        "not_as_described",
        "quality",
        "incomplete",
        "unauthorized",
        "duplicate",
        "other",
    ] = Field(description="Why the money is disputed.")
    description: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="What went wrong, in the opener's words (up to 2000)."
    )
    evidence: Annotated[list[Note], Field(max_length=20)] = Field(
        default_factory=list, description="Evidence notes, oldest first (up to 20)."
    )


class EvidenceAdd(RequestModel):
    note: Note = Field(description="One evidence note (up to 2000 characters).")


class DisputeResolve(RequestModel):
    outcome: Literal["release", "refund", "partial_refund", "split"] = Field(
        description="release: all to the payee(s); refund: all to the payer; partial_refund: "
        "refund_amount to the payer, the rest stays held; split: release_amount + "
        "refund_amount, summing exactly to the disputed amount."
    )
    release_amount: AmountInt | None = Field(default=None, description="split only.")
    refund_amount: AmountInt | None = Field(default=None, description="partial_refund and split.")
    notes: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="Why; the parties see it."
    )


class DisputeClose(RequestModel):
    notes: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="Why it is withdrawn or closed; the parties see it."
    )


class EvidenceNote(ApiObject):
    author: str | None = Field(description="usr_… (null: an API key or the provider).")
    note: str
    created: int


class DisputeObject(ApiObject):
    id: str = Field(description="dsp_…")
    object: Literal["dispute"] = "dispute"
    kind: DisputeKind = Field(description="internal (a party) or chargeback (the card holder).")
    escrow: str
    allocation: str | None
    status: DisputeStatus = Field(
        description="open → under_review → resolved, or closed (docs/disputes.md)."
    )
    reason: str
    description: str | None
    evidence: list[EvidenceNote]
    currency: str
    amount: int = Field(description="The disputed money, in minor units; frozen while open.")
    outcome: Outcome | None
    amount_released: int
    amount_refunded: int
    resolution_notes: str | None
    opened_by: str | None
    resolved_by: str | None
    provider_dispute: str | None = Field(description="The provider's dispute (dp_…).")
    provider_withdrawn: int
    provider_reinstated: int
    provider_fee: int
    created: int
    reviewed_at: int | None
    resolved_at: int | None
    resolution_seconds: int | None = Field(description="resolved_at − created, once decided.")

    @classmethod
    def of(cls, row: Dispute) -> DisputeObject:
        return cls(
            id=row.id,
            kind=DisputeKind(row.kind),
            escrow=row.escrow_id,
            allocation=row.allocation_id,
            status=DisputeStatus(row.status),
            reason=row.reason,
            description=row.description,
            evidence=[EvidenceNote(**n) for n in row.evidence],
            currency=row.currency,
            amount=row.amount,
            outcome=None if row.outcome is None else Outcome(row.outcome),
            amount_released=row.amount_released,
            amount_refunded=row.amount_refunded,
            resolution_notes=row.resolution_notes,
            opened_by=row.opened_by,
            resolved_by=row.resolved_by,
            provider_dispute=row.provider_dispute_id,
            provider_withdrawn=row.provider_withdrawn,
            provider_reinstated=row.provider_reinstated,
            provider_fee=row.provider_fee,
            created=unix(row.opened_at),
            reviewed_at=None if row.reviewed_at is None else unix(row.reviewed_at),
            resolved_at=None if row.resolved_at is None else unix(row.resolved_at),
            resolution_seconds=None
            if row.resolved_at is None
            else unix(row.resolved_at) - unix(row.opened_at),
        )


def dispute_json(row: Dispute) -> dict[str, Any]:
    return DisputeObject.of(row).model_dump(mode="json")
