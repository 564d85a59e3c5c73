"""Admin endpoints over incidents: jobs that failed for good, and rejected provider events.

``GET /v1/incidents`` lists them (open first by filter, newest first), ``GET
/v1/incidents/{id}`` shows one with its job (or, for a rejected event, its subject and
evidence), ``POST …/replay`` queues the job again with its attempts reset, ``POST …/dismiss``
closes the incident without running the job.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from fastapi import Path, Query
from pydantic import Field

from escrowd.api.auth import AdminPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.pagination import PageDep, paginate
from escrowd.api.schemas import ApiObject, ListResponse, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.clock import unix
from escrowd.jobs import incidents
from escrowd.jobs.models import Incident as IncidentRow
from escrowd.jobs.models import Job as JobRow

router = APIRouter(prefix="/incidents", tags=["incidents"])

JobStatusName = Literal["queued", "running", "succeeded", "failed"]
ResolutionName = Literal["replayed", "dismissed"]
IncidentIdPath = Annotated[str, Path(max_length=40, description="An incident id (inc_…).")]


class IncidentJob(ApiObject):
    id: str
    object: Literal["job"] = "job"
    kind: str
    status: JobStatusName
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    dedupe_key: str | None
    run_at: int
    created: int
    finished: int | None
    last_error: str | None

    @classmethod
    def of(cls, job: JobRow) -> IncidentJob:
        try:
            payload = json.loads(job.payload)
        except ValueError:
            payload = {"_unparseable": job.payload[:1000]}
        return cls(
            id=job.id,
            kind=job.kind,
            status=cast(JobStatusName, job.status),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            payload=payload if isinstance(payload, dict) else {"_value": payload},
            dedupe_key=job.dedupe_key,
            run_at=unix(job.run_at),
            created=unix(job.created_at),
            finished=unix(job.finished_at) if job.finished_at else None,
            last_error=job.last_error,
        )


class Incident(ApiObject):
    id: str
    object: Literal["incident"] = "incident"
    created: int
    status: Literal["open", "resolved"]
    kind: str
    error: str
    attempts: int
    resolution: ResolutionName | None
    resolved: int | None
    resolved_by: str | None
    job: IncidentJob | None = Field(
        description="The job that failed for good; null for an incident that records evidence."
    )
    subject: str | None = Field(
        description="What a job-less incident is about, e.g. `webhook:stripe:evt_…`."
    )
    details: dict[str, Any] | None = Field(
        description="The evidence: for `webhook.mismatch`, what the event claimed "
        "(`claimed`), what the provider said (`provider`) and what escrowd had recorded "
        "(`recorded`)."
    )

    @classmethod
    def of(cls, incident: IncidentRow, job: JobRow | None) -> Incident:
        return cls(
            id=incident.id,
            created=unix(incident.created_at),
            status="open" if incident.resolved_at is None else "resolved",
            kind=incident.kind,
            error=incident.error,
            attempts=incident.attempts,
            resolution=cast(ResolutionName | None, incident.resolution),
            resolved=unix(incident.resolved_at) if incident.resolved_at else None,
            resolved_by=incident.resolved_by,
            job=IncidentJob.of(job) if job is not None else None,
            subject=incident.subject,
            details=incident.details,
        )


async def _one(session: SessionDep, incident: IncidentRow) -> Incident:
    if incident.job_id is None:
        return Incident.of(incident, None)
    job = (await incidents.jobs_of(session, [incident]))[incident.job_id]
    await session.refresh(job)
    return Incident.of(incident, job)


@router.get(
    "",
    summary="List incidents (failed jobs, rejected provider events), newest first",
    response_model=ListResponse[Incident],
    responses=error_responses(400, 401, 403),
)
async def list_incidents(
    session: SessionDep,
    _: AdminPrincipal,
    page: PageDep,
    status: Annotated[
        Literal["open", "resolved"] | None,
        Query(description="`open` (not yet replayed or dismissed) or `resolved`."),
    ] = None,
    kind: Annotated[
        str | None,
        Query(max_length=100, description="Only this kind (a job kind, or `webhook.mismatch`)."),
    ] = None,
) -> ListResponse[Incident]:
    result = await paginate(
        session, incidents.list_query(status=status, kind=kind), IncidentRow.id, page
    )
    jobs = await incidents.jobs_of(session, result.items)
    return ListResponse[Incident](
        url="/v1/incidents",
        has_more=result.has_more,
        data=[Incident.of(i, jobs.get(i.job_id or "")) for i in result.items],
    )


@router.get(
    "/{incident_id}",
    summary="Retrieve an incident and its job",
    response_model=Incident,
    responses=error_responses(401, 403, 404),
)
async def get_incident(
    incident_id: IncidentIdPath, session: SessionDep, _: AdminPrincipal
) -> Incident:
    return await _one(session, await incidents.get(session, incident_id))


@router.post(
    "/{incident_id}/replay",
    summary="Run the incident's job again (attempts reset, due now)",
    response_model=Incident,
    responses=error_responses(401, 403, 404, 409),
)
async def replay_incident(
    incident_id: IncidentIdPath,
    session: SessionDep,
    container: ContainerDep,
    principal: AdminPrincipal,
) -> Incident:
    """Fix the cause first (a configuration, a provider outage, a bug): the job runs again
    with its full number of attempts. If it fails for good again, a new incident opens."""
    incident = await incidents.replay(
        session, incident_id=incident_id, actor_id=principal.id, now=container.clock.now()
    )
    return await _one(session, incident)


@router.post(
    "/{incident_id}/dismiss",
    summary="Close the incident without running its job again",
    response_model=Incident,
    responses=error_responses(401, 403, 404, 409),
)
async def dismiss_incident(
    incident_id: IncidentIdPath,
    session: SessionDep,
    container: ContainerDep,
    principal: AdminPrincipal,
) -> Incident:
    """For a job that should not run any more (its object was settled by hand, say)."""
    incident = await incidents.dismiss(
        session, incident_id=incident_id, actor_id=principal.id, now=container.clock.now()
    )
    return await _one(session, incident)
