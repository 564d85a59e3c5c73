"""Tables: jobs, incidents, sweeps (migration 0007; keep the two in step).

A job's life: ``queued`` → ``running`` (claimed, under a lease) → ``succeeded``, or back to
``queued`` with a later ``run_at`` after a failed attempt, or ``failed`` once its attempts are
spent — which opens an incident. An admin's replay puts a failed job back to ``queued``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime


class JobStatus(StrEnum):
    #: Waiting for ``run_at`` (first run, or the next retry).
    queued = "queued"
    #: Claimed by ``locked_by`` until ``locked_until``; reclaimed by others once that passes.
    running = "running"
    #: The handler returned; never run again (unless enqueued anew after pruning).
    succeeded = "succeeded"
    #: Attempts exhausted or a permanent error: an incident was opened.
    failed = "failed"


class Resolution(StrEnum):
    #: The job was queued again (attempts reset).
    replayed = "replayed"
    #: An admin closed the incident without running the job again.
    dismissed = "dismissed"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts_not_negative"),
        Index("ix_jobs_due", "status", "run_at"),
        Index("ix_jobs_lease", "status", "locked_until"),
    )

    #: ``job_<ULID>``.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: Which handler runs it, e.g. ``escrow.expire``.
    kind: Mapped[str] = mapped_column(String(100))
    #: The handler's argument, as JSON text.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    #: Claims so far (a claim counts even if the worker died during it).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    #: Not before this time.
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    #: The lease: past this, another worker may take the job over.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: At most one job per key, ever (while the row is kept): enqueueing it again is a no-op.
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Incident(Base):
    """Something that needs an admin: a job that failed for good (replay or dismiss it), or a
    provider event whose claims the provider contradicted (``job_id`` empty; dismiss it once
    looked into). Open until resolved."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(
            "(resolved_at IS NULL AND resolution IS NULL) OR "
            "(resolved_at IS NOT NULL AND resolution IN ('replayed', 'dismissed'))",
            name="resolution",
        ),
        Index("ix_incidents_job_id", "job_id"),
        Index("ix_incidents_resolved_at", "resolved_at"),
        Index("ix_incidents_subject", "subject"),
    )

    #: ``inc_<ULID>``.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    kind: Mapped[str] = mapped_column(String(100))
    #: The last attempt's error.
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(16))
    #: The admin (``usr_…``) or API key (``key_…``) that resolved it.
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    #: What it is about when no job is: ``webhook:stripe:evt_…``.
    subject: Mapped[str | None] = mapped_column(String(255))
    #: The evidence, e.g. what an event claimed, what the provider said, what escrowd recorded.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Sweep(Base):
    """One row per registered periodic sweep: when it is next due and who is running it."""

    __tablename__ = "sweeps"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    every_seconds: Mapped[int] = mapped_column(Integer)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
