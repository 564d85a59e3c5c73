"""Admin endpoints over incidents: jobs that failed for good, and rejected provider events.

``GET /v1/incidents`` lists them (open first by filter, newest first), ``GET
/v1/incidents/{id}`` shows one with its job (or, for a rejected event, its subject and
evidence), ``POST …/replay`` queues the job again with its attempts reset, ``POST …/dismiss``
closes the incident without running the job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Literal

from fastapi import Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.auth import AdminPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.jobs import incidents
from escrowd.jobs.models import Incident as IncidentRow
from escrowd.jobs.models import Job as JobRow
from escrowd.jobs.schemas import Incident

router = APIRouter(prefix="/incidents", tags=["incidents"])

IncidentIdPath = Annotated[str, Path(max_length=40, description="An incident id (inc_…).")]


def _with_jobs(
    session: AsyncSession,
) -> Callable[[Sequence[IncidentRow]], Awaitable[list[Incident]]]:
    """Shows incidents with their jobs, read in one query for all of them."""

    async def render(rows: Sequence[IncidentRow]) -> list[Incident]:
        jobs = await incidents.jobs_of(session, rows)
        return [Incident.of(i, jobs.get(i.job_id or "")) for i in rows]

    return render


async def _one(session: SessionDep, incident: IncidentRow) -> Incident:
    if incident.job_id is None:
        return Incident.of(incident, None)
    # Fresh: a replay just requeued it with an UPDATE the session's copy did not see.
    job = await session.get(JobRow, incident.job_id, populate_existing=True)
    assert job is not None, incident.job_id  # an incident's job is never deleted
    return Incident.of(incident, job)


@router.get(
    "",
    **list_route(
        "List incidents (failed jobs, rejected provider events), newest first", Incident, 403
    ),
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
    stmt = incidents.list_query(status=status, kind=kind)
    return await page_of(
        session, stmt, IncidentRow.id, page, url="/v1/incidents", render=_with_jobs(session)
    )


@router.get("/{incident_id}", **retrieve_route("Retrieve an incident and its job", Incident, 403))
async def get_incident(
    incident_id: IncidentIdPath, session: SessionDep, _: AdminPrincipal
) -> Incident:
    return await _one(session, await incidents.get(session, incident_id))


@router.post(
    "/{incident_id}/replay",
    **write_route(
        "Run the incident's job again (attempts reset, due now)", Incident, 401, 403, 404, 409
    ),
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
    **write_route("Close the incident without running its job again", Incident, 401, 403, 404, 409),
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
