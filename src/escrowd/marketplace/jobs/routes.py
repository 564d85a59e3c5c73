"""``/v1/jobs``: seed 000's job marketplace with tester slots (docs/marketplaces.md).

Publishing pays the job's escrow and is rate limited (5 a minute per user) and counted against
the client's plan (Starter: 5 published jobs a month). Approving releases a slot to its tester;
cancelling refunds the unclaimed slots. Disputes are the core's (``/v1/disputes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import Body, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api import rate_limit
from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, money_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.principal import Principal
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.bootstrap import Container
from escrowd.marketplace.jobs import service
from escrowd.marketplace.jobs.domain import JobStatus
from escrowd.marketplace.jobs.models import TestingJob, TestingSlot
from escrowd.marketplace.jobs.schemas import (
    DisputeRequest,
    JobCreate,
    JobObject,
    PublishRequest,
    ReviewRequest,
    SlotObject,
    SubmitRequest,
    job_json,
    slot_json,
)

router = APIRouter(prefix="/jobs", tags=["jobs"])

#: Seed 000: "Max 5 publish attempts per minute", per user.
PUBLISH_RATE = rate_limit.Limit("jobs.publish", 5, timedelta(minutes=1))

JobIdPath = Annotated[str, Path(max_length=64, description="A job id (tjob_…).")]
SlotIdPath = Annotated[str, Path(max_length=64, description="A slot id (slot_…).")]


async def _shown(container: Container, job_id: str, caller: Caller) -> JobObject:
    async with container.db.transaction() as s:
        job = await service.get_job(s, job_id=job_id, actor=caller)
        return job_json(job, await service.slots_of(s, job.id), viewer=caller)


async def _slot_shown(session: AsyncSession, slot: TestingSlot, viewer: Principal) -> SlotObject:
    job = await session.get(TestingJob, slot.job_id)
    return slot_json(slot, viewer=viewer, job_client=job.client_id if job else "")


@router.post(
    "",
    **write_route("Draft a job: budget per tester × tester slots", JobObject, 400, 401, 403),
)
async def create_job(
    body: JobCreate, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> JobObject:
    row = await service.create_job(session, clock=container.clock, actor=principal, body=body)
    return job_json(row, [], viewer=principal)


@router.get(
    "", **list_route("List jobs, newest first: published ones and your own drafts", JobObject)
)
async def list_jobs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
) -> ListResponse[JobObject]:
    async def render(rows: Sequence[TestingJob]) -> list[JobObject]:
        return [job_json(r, await service.slots_of(session, r.id), viewer=principal) for r in rows]

    return await page_of(
        session,
        service.list_query(actor=principal, status=status),
        TestingJob.id,
        page,
        url="/v1/jobs",
        render=render,
    )


@router.get("/{job_id}", **retrieve_route("Retrieve a job with its slots", JobObject))
async def retrieve_job(
    job_id: JobIdPath, session: SessionDep, principal: CurrentPrincipal
) -> JobObject:
    job = await service.get_job(session, job_id=job_id, actor=principal)
    return job_json(job, await service.slots_of(session, job.id), viewer=principal)


@router.post(
    "/{job_id}/publish",
    **money_route(
        "Publish a job: its total budget is paid into escrow (rate limited, plan limited)",
        JobObject,
        400,
        402,
        403,
        404,
        429,
        502,
    ),
)
async def publish_job(
    job_id: JobIdPath,
    container: ContainerDep,
    caller: Caller,
    body: Annotated[PublishRequest | None, Body()] = None,
) -> JobObject:
    """At most 5 publish attempts a minute per user (429 `rate_limited`, with `Retry-After`);
    the Starter plan publishes 5 jobs a month (409 `plan_limit_reached`). A declined card is a
    402 and leaves the job a draft: publish again with another card. A card that asks for
    3-D Secure leaves it a draft with its escrow `requires_action` (the page is the escrow's
    `next_action.url`, back to `return_url`); the job opens once the payment is authenticated
    (within seconds, or at once on the next publish)."""
    await service.publish(
        container,
        actor=caller,
        job_id=job_id,
        payment_method=body.payment_method if body is not None else None,
        rate=PUBLISH_RATE,
        return_url=body.return_url if body is not None else None,
    )
    return await _shown(container, job_id, caller)


@router.post(
    "/{job_id}/claim",
    **write_route(
        "Claim an open tester slot (testers with a verified payout account)",
        SlotObject,
        401,
        403,
        404,
        409,
    ),
)
async def claim_slot(job_id: JobIdPath, container: ContainerDep, caller: Caller) -> SlotObject:
    slot = await service.claim(container, actor=caller, job_id=job_id)
    async with container.db.transaction() as s:
        return await _slot_shown(s, slot, caller)


@router.post(
    "/{job_id}/slots/{slot_id}/submit",
    **write_route("Submit a slot's work (its tester)", SlotObject, 400, 401, 403, 404, 409),
)
async def submit_slot(
    job_id: JobIdPath,
    slot_id: SlotIdPath,
    body: SubmitRequest,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
) -> SlotObject:
    slot = await service.submit(
        session,
        clock=container.clock,
        actor=principal,
        job_id=job_id,
        slot_id=slot_id,
        text=body.submission,
    )
    return await _slot_shown(session, slot, principal)


@router.post(
    "/{job_id}/slots/{slot_id}/approve",
    **money_route(
        "Approve a submission: the slot is released to its tester",
        SlotObject,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def approve_slot(
    job_id: JobIdPath,
    slot_id: SlotIdPath,
    container: ContainerDep,
    caller: Caller,
    request: Request,
    body: Annotated[ReviewRequest | None, Body()] = None,
) -> SlotObject:
    slot = await service.approve(
        container,
        actor=caller,
        job_id=job_id,
        slot_id=slot_id,
        feedback=body.feedback if body is not None else None,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    async with container.db.transaction() as s:
        return await _slot_shown(s, slot, caller)


@router.post(
    "/{job_id}/slots/{slot_id}/reject",
    **write_route(
        "Reject a submission: the money stays in escrow", SlotObject, 400, 401, 403, 404, 409
    ),
)
async def reject_slot(
    job_id: JobIdPath,
    slot_id: SlotIdPath,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
    body: Annotated[ReviewRequest | None, Body()] = None,
) -> SlotObject:
    slot = await service.reject(
        session,
        clock=container.clock,
        actor=principal,
        job_id=job_id,
        slot_id=slot_id,
        feedback=body.feedback if body is not None else None,
    )
    return await _slot_shown(session, slot, principal)


@router.post(
    "/{job_id}/slots/{slot_id}/dispute",
    **write_route(
        "Dispute a submission (the client) or a rejection (the tester)",
        SlotObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def dispute_slot(
    job_id: JobIdPath,
    slot_id: SlotIdPath,
    body: DisputeRequest,
    container: ContainerDep,
    caller: Caller,
) -> SlotObject:
    """Opens a core dispute on the slot's allocation (`dispute` in the answer); an admin
    resolves it with `POST /v1/disputes/{id}/resolve`, and the slot follows."""
    slot = await service.dispute(
        container,
        actor=caller,
        job_id=job_id,
        slot_id=slot_id,
        reason=body.reason,
        description=body.description,
    )
    async with container.db.transaction() as s:
        return await _slot_shown(s, slot, caller)


@router.post(
    "/{job_id}/cancel",
    **money_route("Cancel a job: its unclaimed slots are refunded", JobObject, 400, 403, 404, 502),
)
async def cancel_job(job_id: JobIdPath, container: ContainerDep, caller: Caller) -> JobObject:
    await service.cancel(container, actor=caller, job_id=job_id)
    return await _shown(container, job_id, caller)


routers = [router]
