"""API shapes of incidents (``/v1/incidents``) and the jobs they are about."""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from pydantic import Field

from escrowd.api.schemas import ApiObject
from escrowd.clock import unix
from escrowd.jobs.models import Incident as IncidentRow
from escrowd.jobs.models import Job as JobRow

JobStatusName = Literal["queued", "running", "succeeded", "failed"]
ResolutionName = Literal["replayed", "dismissed"]


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
