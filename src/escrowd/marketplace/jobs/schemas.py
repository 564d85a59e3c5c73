"""API shapes of the job marketplace: a job (with its slots) and a slot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from escrowd.api.principal import Principal
from escrowd.api.schemas import ApiObject, Currency, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.marketplace.jobs.domain import MAX_TESTERS, JobStatus, SlotStatus
from escrowd.marketplace.jobs.models import TestingJob, TestingSlot


class JobCreate(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    currency: Currency = Field(min_length=3, max_length=3)
    budget_per_tester: PositiveAmountInt = Field(
        description="What one tester's slot is worth, in minor units (before the platform's "
        "15 % fee and the tester's processing cost)."
    )
    max_testers: int = Field(ge=1, le=MAX_TESTERS, description="How many tester slots.")


class PublishRequest(RequestModel):
    payment_method: str | None = Field(
        default=None,
        max_length=255,
        description="The card that pays the job's total budget (pm_…); omitted, your default "
        "saved card.",
    )
    return_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Where the client comes back after 3-D Secure, when the card asks for it "
        "(the job stays a draft until then; the escrow's `next_action.url` is the page).",
    )


class SubmitRequest(RequestModel):
    submission: str = Field(min_length=1, max_length=5000, description="The tester's report.")


class ReviewRequest(RequestModel):
    feedback: str | None = Field(default=None, max_length=2000)


class DisputeRequest(RequestModel):
    reason: Literal["quality", "incomplete", "not_delivered", "not_as_described", "other"] = Field(
        description="Why the slot's money is disputed."
    )
    description: str | None = Field(default=None, min_length=1, max_length=2000)


class SlotObject(ApiObject):
    id: str = Field(description="slot_…")
    object: Literal["job_slot"] = "job_slot"
    job: str
    allocation: str | None = Field(
        description="The escrow allocation that is this slot (alloc_…); shown, like the "
        "tester, the submission, the feedback and the dispute, to the job's client, admins "
        "and the slot's tester only."
    )
    tester: str | None
    status: SlotStatus
    submission: str | None
    feedback: str | None
    dispute: str | None = Field(description="The dispute on this slot (dsp_…), if any.")
    created: int


class JobObject(ApiObject):
    id: str = Field(description="tjob_…")
    object: Literal["job"] = "job"
    client: str
    title: str
    description: str | None
    currency: str
    budget_per_tester: int
    max_testers: int
    total_budget: int
    status: JobStatus
    escrow: str | None = Field(
        description="The job's escrow (esc_…) once publishing began: shown to its client, "
        "admins and the job's testers."
    )
    slots: list[SlotObject]
    published: int | None
    created: int


def _insider(job_client: str, viewer: Principal) -> bool:
    return viewer.is_admin or viewer.user_id == job_client


def slot_json(row: TestingSlot, *, viewer: Principal, job_client: str) -> SlotObject:
    """The job's client, admins and the slot's tester see it whole; anyone else its status."""
    whole = _insider(job_client, viewer) or (
        row.tester_id is not None and viewer.user_id == row.tester_id
    )
    return SlotObject(
        id=row.id,
        job=row.job_id,
        allocation=row.allocation_id if whole else None,
        tester=row.tester_id if whole else None,
        status=SlotStatus(row.status),
        submission=row.submission if whole else None,
        feedback=row.feedback if whole else None,
        dispute=row.dispute_id if whole else None,
        created=unix(row.created_at),
    )


def job_json(row: TestingJob, slots: Sequence[TestingSlot], *, viewer: Principal) -> JobObject:
    """The escrow is shown to the client, admins and the job's testers."""
    tester = viewer.user_id is not None and any(s.tester_id == viewer.user_id for s in slots)
    return JobObject(
        id=row.id,
        client=row.client_id,
        title=row.title,
        description=row.description,
        currency=row.currency,
        budget_per_tester=row.budget_per_tester,
        max_testers=row.max_testers,
        total_budget=row.budget_per_tester * row.max_testers,
        status=JobStatus(row.status),
        escrow=row.escrow_id if _insider(row.client_id, viewer) or tester else None,
        slots=[slot_json(s, viewer=viewer, job_client=row.client_id) for s in slots],
        published=unix(row.published_at) if row.published_at else None,
        created=unix(row.created_at),
    )
