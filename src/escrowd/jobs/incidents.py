"""Incidents: what needs an admin — jobs that failed for good, and provider events whose claims
the provider contradicted.

A job's incident opens in the transaction that fails its job (service.fail / service.claim). It
stays open until an admin replays it — the job is queued again, due now, with its attempts
reset — or dismisses it (the job stays failed). A replayed job that fails for good again
opens a new incident, so the table is also the job's failure history.

An incident without a job (:func:`open_incident`) records evidence — a rejected webhook event
with what it claimed, what the provider said and what escrowd had recorded. There is nothing to
replay; an admin looks into it and dismisses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from escrowd.errors import ConflictError, NotFoundError
from escrowd.jobs.models import Incident, Job, JobStatus, Resolution
from escrowd.jobs.registry import IncidentInfo

INCIDENT_PREFIX = "inc"


def new_incident_id() -> str:
    return f"{INCIDENT_PREFIX}_{ULID()}"


async def add(
    session: AsyncSession,
    *,
    kind: str,
    error: str,
    now: datetime,
    job_id: str | None = None,
    attempts: int = 0,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Incident:
    """Open an incident in the caller's transaction: a job's (``job_id``), or evidence."""
    incident = Incident(
        id=new_incident_id(),
        job_id=job_id,
        kind=kind,
        error=error,
        attempts=attempts,
        created_at=now,
        subject=subject,
        details=dict(details) if details is not None else None,
    )
    session.add(incident)
    await session.flush()
    return incident


def info(incident: Incident) -> IncidentInfo:
    """A job's incident as hooks see it (those made by ``fail`` / ``claim`` have a job)."""
    assert incident.job_id is not None, incident.id
    return IncidentInfo(
        id=incident.id,
        job_id=incident.job_id,
        kind=incident.kind,
        error=incident.error,
        attempts=incident.attempts,
        created_at=incident.created_at,
    )


def list_query(*, status: str | None = None, kind: str | None = None) -> Select[Incident]:
    """Incidents filtered by ``open`` / ``resolved`` and job kind (for pagination)."""
    stmt = select(Incident)
    if status == "open":
        stmt = stmt.where(Incident.resolved_at.is_(None))
    elif status == "resolved":
        stmt = stmt.where(Incident.resolved_at.is_not(None))
    if kind:
        stmt = stmt.where(Incident.kind == kind)
    return stmt


async def jobs_of(session: AsyncSession, incidents: Sequence[Incident]) -> dict[str, Job]:
    ids = {i.job_id for i in incidents if i.job_id is not None}
    if not ids:
        return {}
    rows = (await session.scalars(select(Job).where(Job.id.in_(ids)))).all()
    return {j.id: j for j in rows}


async def get(session: AsyncSession, incident_id: str, *, for_update: bool = False) -> Incident:
    stmt = select(Incident).where(Incident.id == incident_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    incident = (await session.scalars(stmt)).one_or_none()
    if incident is None:
        raise NotFoundError(f"No such incident: '{incident_id}'.", param="incident_id")
    return incident


async def replay(
    session: AsyncSession, *, incident_id: str, actor_id: str, now: datetime
) -> Incident:
    """Queue the incident's job again (due now, attempts reset) and resolve the incident."""
    incident = await get(session, incident_id, for_update=True)
    if incident.job_id is None:
        raise ConflictError(
            f"Incident {incident_id} records evidence ({incident.kind}), not a failed job, so "
            "there is nothing to replay. Look into it, then dismiss it.",
            code="nothing_to_replay",
        )
    await _resolve(session, incident, actor_id=actor_id, now=now, how=Resolution.replayed)
    requeued = await session.execute(
        update(Job)
        .where(Job.id == incident.job_id, Job.status == JobStatus.failed.value)
        .values(
            status=JobStatus.queued.value,
            attempts=0,
            run_at=now,
            finished_at=None,
            locked_by=None,
            locked_until=None,
        )
        .returning(Job.id)
    )
    if requeued.scalar_one_or_none() is None:  # pragma: no cover - incidents only open on failed
        raise ConflictError(
            f"The job {incident.job_id} of incident {incident_id} is not failed, so there is "
            "nothing to replay.",
            code="job_not_failed",
        )
    return incident


async def open_incident(
    session: AsyncSession,
    *,
    kind: str,
    subject: str,
    error: str,
    details: Mapping[str, Any],
    now: datetime,
) -> Incident:
    """Open an incident that is not about a job, in the caller's transaction."""
    return await add(session, kind=kind, error=error, now=now, subject=subject, details=details)


async def dismiss(
    session: AsyncSession, *, incident_id: str, actor_id: str, now: datetime
) -> Incident:
    """Close the incident without running its job again (the job stays failed)."""
    incident = await get(session, incident_id, for_update=True)
    return await _resolve(session, incident, actor_id=actor_id, now=now, how=Resolution.dismissed)


async def _resolve(
    session: AsyncSession, incident: Incident, *, actor_id: str, now: datetime, how: Resolution
) -> Incident:
    """Resolve ``incident`` (read with its row lock by the caller)."""
    incident_id = incident.id
    if incident.resolved_at is not None:
        raise ConflictError(
            f"Incident {incident_id} was already {incident.resolution} at "
            f"{incident.resolved_at.isoformat()} by {incident.resolved_by}; nothing to do. "
            "If its job failed again, a new incident was opened: list open incidents.",
            code="incident_resolved",
        )
    resolved = await session.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.resolved_at.is_(None))
        .values(resolved_at=now, resolution=how.value, resolved_by=actor_id)
        .returning(Incident.id)
        .execution_options(synchronize_session=False)
    )
    if resolved.scalar_one_or_none() is None:  # pragma: no cover - the row is locked above
        raise ConflictError(
            f"Incident {incident_id} was resolved meanwhile.", code="incident_resolved"
        )
    await session.refresh(incident)
    return incident
