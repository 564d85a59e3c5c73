"""Job use cases: enqueue and cancel (in the caller's transaction), claim, complete, fail.

``enqueue`` is the outbox: it writes in the session it is given, so the job commits together
with the state change that asked for it, or not at all. The worker calls the rest, each in a
short transaction of its own; the handler runs between them, outside any of them.

A claim is identified by (``locked_by``, ``attempts``): completing or failing a job only
takes effect while that claim still holds it, so a worker that lost its lease (it stalled
and another worker took the job over) cannot overwrite the newer attempt's outcome.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from escrowd.clock import Clock
from escrowd.db.inserts import insert_new
from escrowd.db.lists import fixed
from escrowd.jobs import backoff, incidents
from escrowd.jobs.models import Job, JobStatus
from escrowd.jobs.registry import IncidentInfo, JobInfo, check_name

#: Ids: ``job_<ULID>`` and ``inc_<ULID>`` (local prefixes until ids.Prefix has them).
JOB_PREFIX = "job"
#: Attempts before a job fails for good: with the default backoff the waits add up to
#: about half an hour on average and a little over an hour at most.
DEFAULT_MAX_ATTEMPTS = 12
#: How long a claim holds a job before another worker may take it over; the worker renews
#: it while the handler runs, so it only runs out when the worker is gone.
LEASE = timedelta(seconds=60)
MAX_ERROR_CHARS = 4000
MAX_DEDUPE_KEY = 200


def new_job_id() -> str:
    return f"{JOB_PREFIX}_{ULID()}"


def describe(exc: BaseException) -> str:
    """``ExceptionType: message``, bounded, for ``last_error`` and incidents."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# ---- the outbox: in the caller's transaction ------------------------------------------------


async def enqueue(
    session: AsyncSession,
    *,
    clock: Clock,
    kind: str,
    payload: Mapping[str, Any],
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> str | None:
    """Add a job in ``session``'s transaction; returns its id.

    With a ``dedupe_key`` (e.g. ``escrow:esc_1:expire``) at most one job per key exists:
    enqueueing the key again is a no-op and returns None, whatever the first job's state.
    ``payload`` must be JSON-serializable (checked here, not in the worker).
    """
    values = _job_values(
        NewJob(kind, payload, run_at=run_at, dedupe_key=dedupe_key, max_attempts=max_attempts),
        clock.now(),
    )
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    # ON CONFLICT, not a caught IntegrityError: on PostgreSQL an error would abort the
    # caller's whole transaction.
    stmt = (
        insert(Job)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        .returning(Job.id)
    )
    result: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return result


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job for ``enqueue_many``: the arguments of ``enqueue``."""

    kind: str
    payload: Mapping[str, Any]
    run_at: datetime | None = None
    dedupe_key: str | None = None
    max_attempts: int | None = None


def _job_values(job: NewJob, now: datetime) -> dict[str, Any]:
    """The row of a new job, its arguments checked."""
    check_name("job kind", job.kind)
    if job.dedupe_key is not None and not 0 < len(job.dedupe_key) <= MAX_DEDUPE_KEY:
        raise ValueError(f"a dedupe_key is 1-{MAX_DEDUPE_KEY} characters, got {job.dedupe_key!r}")
    if job.max_attempts is not None and job.max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {job.max_attempts}")
    return {
        "id": new_job_id(),
        "kind": job.kind,
        "payload": json.dumps(dict(job.payload), separators=(",", ":"), sort_keys=True),
        "status": JobStatus.queued.value,
        "attempts": 0,
        "max_attempts": job.max_attempts or DEFAULT_MAX_ATTEMPTS,
        "run_at": job.run_at or now,
        "dedupe_key": job.dedupe_key,
        "created_at": now,
    }


async def enqueue_many(session: AsyncSession, *, clock: Clock, jobs: Sequence[NewJob]) -> list[str]:
    """``enqueue`` for several jobs in one INSERT; returns the ids of the jobs added.

    The same guarantees as one at a time: in ``session``'s transaction, and a ``dedupe_key``
    already taken (by an existing job or an earlier one of ``jobs``) adds nothing.
    """
    now = clock.now()
    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    for job in jobs:
        values = _job_values(job, now)
        if job.dedupe_key is not None:
            if job.dedupe_key in keys:
                continue
            keys.add(job.dedupe_key)
        rows.append(values)
    if not rows:
        return []
    added = await insert_new(session, Job, rows, conflict=("dedupe_key",), returning=("id",))
    return [row.id for row in added]


async def cancel(session: AsyncSession, dedupe_key: str) -> bool:
    """Delete the queued job with this key (a timer that no longer applies).

    Returns False when there is none, or it is running or finished already — so a handler
    can still run after its cancel; it must check the state it acts on. Once cancelled, the
    key is free to be enqueued again (e.g. with a new ``run_at``).
    """
    result = await session.execute(
        delete(Job)
        .where(Job.dedupe_key == dedupe_key, Job.status == JobStatus.queued.value)
        .returning(Job.id)
    )
    return result.scalar_one_or_none() is not None


# ---- claiming -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: str
    kind: str
    payload: str
    #: This attempt's number (the claim incremented it).
    attempts: int
    max_attempts: int
    dedupe_key: str | None
    run_at: datetime
    created_at: datetime
    locked_by: str

    def info(self) -> JobInfo:
        return JobInfo(
            id=self.id,
            kind=self.kind,
            attempt=self.attempts,
            max_attempts=self.max_attempts,
            dedupe_key=self.dedupe_key,
            run_at=self.run_at,
            created_at=self.created_at,
        )


@dataclass(frozen=True, slots=True)
class Claim:
    jobs: list[ClaimedJob]
    #: Jobs whose worker died during their last allowed attempt: failed here, not run again.
    incidents: list[IncidentInfo]


async def claim(
    session: AsyncSession,
    *,
    worker_id: str,
    now: datetime,
    limit: int,
    lease: timedelta = LEASE,
    kinds: Collection[str] | None = None,
    batch_sizes: Mapping[str, int] | None = None,
) -> Claim:
    """Take up to ``limit`` due jobs for ``worker_id``: status running, a lease, attempt + 1.

    ``batch_sizes`` names the kinds whose jobs run together (a batch handler) and how many
    make a batch: when the claim takes a job of such a kind, it takes more of the kind's due
    jobs, up to that many in all (or the claim's own count of them, if larger), since they
    run as one item in one slot. A claim may so return more than ``limit`` jobs, never more
    than ``limit`` things to run.

    Due means queued with ``run_at`` passed, or running under a lease that ran out (its
    worker died). Run it in a short transaction of its own: on PostgreSQL the rows are taken
    with ``FOR UPDATE SKIP LOCKED``, so concurrent workers take different jobs; on SQLite
    the transaction began with ``BEGIN IMMEDIATE`` and is the only writer anyway.
    """
    if limit < 1:
        return Claim([], [])
    skip_locked = _dialect(session) == "postgresql"
    columns = (Job.id, Job.kind, Job.attempts, Job.max_attempts, Job.locked_by, Job.locked_until)
    lapsed_q = (
        select(*columns)
        .where(Job.status == JobStatus.running.value, Job.locked_until < now)
        .order_by(Job.locked_until)
        .limit(limit)
    )
    if kinds is not None:
        lapsed_q = lapsed_q.where(Job.kind.in_(fixed(kinds)))
    if skip_locked:
        lapsed_q = lapsed_q.with_for_update(skip_locked=True)
    lapsed = (await session.execute(lapsed_q)).all()

    incidents: list[IncidentInfo] = []
    taken: list[str] = []
    for row in lapsed:
        error = (
            f"LeaseExpired: worker {row.locked_by} stopped during attempt {row.attempts} "
            f"(its lease ran out at {row.locked_until.isoformat()})"
        )
        if row.attempts >= row.max_attempts:
            incident = await _give_up(session, Job.id == row.id, error=error, now=now)
            assert incident is not None  # the row is locked by this transaction
            incidents.append(incident)
        else:
            await session.execute(update(Job).where(Job.id == row.id).values(last_error=error))
            taken.append(row.id)

    room = limit - len(lapsed)
    kinds_taken: list[str] = [row.kind for row in lapsed if row.id in taken]
    if room > 0:
        only: list[ColumnElement[bool]] = [Job.kind.in_(fixed(kinds))] if kinds is not None else []
        due_q = _due(Job.id, Job.kind, now=now, where=only, limit=room, skip_locked=skip_locked)
        for job_id, kind in await session.execute(due_q):
            taken.append(job_id)
            kinds_taken.append(kind)
    # A batch kind's jobs run as one batch in one slot: fill that batch up to its size with
    # more of the kind's due jobs (oldest first), so a claim made while most slots are busy
    # still sends a full batch. Only the rows taken are locked.
    for kind, count in Counter(kinds_taken).items():
        more = (batch_sizes or {}).get(kind, 1) - count
        if more > 0:
            same_kind: list[ColumnElement[bool]] = [Job.kind == kind, Job.id.not_in(taken)]
            more_q = _due(Job.id, now=now, where=same_kind, limit=more, skip_locked=skip_locked)
            taken.extend((await session.scalars(more_q)).all())
    if not taken:
        return Claim([], incidents)

    rows = (
        await session.execute(
            update(Job)
            .where(Job.id.in_(taken))
            .values(
                status=JobStatus.running.value,
                attempts=Job.attempts + 1,
                locked_by=worker_id,
                locked_until=now + lease,
            )
            .returning(
                Job.id,
                Job.kind,
                Job.payload,
                Job.attempts,
                Job.max_attempts,
                Job.dedupe_key,
                Job.run_at,
                Job.created_at,
            )
        )
    ).all()
    jobs = [
        ClaimedJob(
            id=r.id,
            kind=r.kind,
            payload=r.payload,
            attempts=r.attempts,
            max_attempts=r.max_attempts,
            dedupe_key=r.dedupe_key,
            run_at=r.run_at,
            created_at=r.created_at,
            locked_by=worker_id,
        )
        for r in rows
    ]
    jobs.sort(key=lambda j: (j.run_at, j.id))
    return Claim(jobs, incidents)


def _due(
    *columns: Any,
    now: datetime,
    where: Sequence[ColumnElement[bool]],
    limit: int,
    skip_locked: bool,
) -> Select[Any]:
    """The oldest queued jobs due at ``now`` that also meet ``where``, locked for the claim
    (skipping rows other claims hold, on PostgreSQL)."""
    q = (
        select(*columns)
        .where(Job.status == JobStatus.queued.value, Job.run_at <= now, *where)
        .order_by(Job.run_at, Job.id)
        .limit(limit)
    )
    return q.with_for_update(skip_locked=True) if skip_locked else q


def _held(job: ClaimedJob) -> ColumnElement[bool]:
    """The WHERE clause of "this claim still holds the job"."""
    return (
        (Job.id == job.id)
        & (Job.status == JobStatus.running.value)
        & (Job.locked_by == job.locked_by)
        & (Job.attempts == job.attempts)
    )


async def renew(
    session: AsyncSession, job: ClaimedJob, *, now: datetime, lease: timedelta = LEASE
) -> bool:
    """Extend the claim's lease; False when it no longer holds the job."""
    result = await session.execute(
        update(Job).where(_held(job)).values(locked_until=now + lease).returning(Job.id)
    )
    return result.scalar_one_or_none() is not None


async def complete(session: AsyncSession, job: ClaimedJob, *, now: datetime) -> bool:
    """Mark the job succeeded; False when the claim lost it (the outcome is then ignored)."""
    return await _let_go(session, job, status=JobStatus.succeeded.value, finished_at=now)


async def complete_many(
    session: AsyncSession, jobs: Sequence[ClaimedJob], *, now: datetime
) -> set[str]:
    """``complete`` for several jobs in one UPDATE; the ids of those whose claim still held
    them (the others' outcomes are ignored, as ``complete`` ignores them)."""
    if not jobs:
        return set()
    # "Still held" for each job as one row-value IN: a statement of one shape (SQLAlchemy
    # builds it quickly and compiles it once) whatever the number of jobs, where an OR of each
    # job's clause was built anew and compiled once per batch size.
    held = tuple_(Job.id, Job.locked_by, Job.attempts).in_(
        [(job.id, job.locked_by, job.attempts) for job in jobs]
    )
    result = await session.execute(
        update(Job)
        .where(Job.status == JobStatus.running.value, held)
        .values(
            status=JobStatus.succeeded.value, finished_at=now, locked_by=None, locked_until=None
        )
        .returning(Job.id)
    )
    return set(result.scalars().all())


async def _let_go(session: AsyncSession, job: ClaimedJob, **values: Any) -> bool:
    """Set ``values`` on the job and end the claim (no worker, no lease), if the claim still
    holds it; whether it did."""
    result = await session.execute(
        update(Job)
        .where(_held(job))
        .values(**values, locked_by=None, locked_until=None)
        .returning(Job.id)
    )
    return result.scalar_one_or_none() is not None


@dataclass(frozen=True, slots=True)
class Failure:
    outcome: Literal["retry", "failed", "lease_lost"]
    #: For ``retry``: when the next attempt is due.
    retry_at: datetime | None = None
    #: For ``failed``: the incident just opened.
    incident: IncidentInfo | None = None


async def fail(
    session: AsyncSession,
    job: ClaimedJob,
    *,
    error: str,
    now: datetime,
    permanent: bool = False,
    uniform: backoff.Uniform = random.random,
) -> Failure:
    """Record a failed attempt: queue a retry after a backoff, or (attempts spent, or
    ``permanent``) fail the job and open an incident, in this transaction."""
    error = error[:MAX_ERROR_CHARS]
    if permanent or job.attempts >= job.max_attempts:
        incident = await _give_up(session, _held(job), error=error, now=now)
        if incident is None:
            return Failure("lease_lost")
        return Failure("failed", incident=incident)
    retry_at = now + backoff.retry_delay(job.attempts, uniform=uniform)
    queued = JobStatus.queued.value
    if not await _let_go(session, job, status=queued, run_at=retry_at, last_error=error):
        return Failure("lease_lost")
    return Failure("retry", retry_at=retry_at)


async def release(session: AsyncSession, job: ClaimedJob, *, now: datetime) -> bool:
    """Hand a job back unrun (the worker is stopping): queued, due now, attempt not counted."""
    return await _let_go(
        session, job, status=JobStatus.queued.value, attempts=Job.attempts - 1, run_at=now
    )


async def _give_up(
    session: AsyncSession, where: ColumnElement[bool], *, error: str, now: datetime
) -> IncidentInfo | None:
    """Fail the job matched by ``where`` and open its incident; None if nothing matched."""
    row = (
        await session.execute(
            update(Job)
            .where(where)
            .values(
                status=JobStatus.failed.value,
                last_error=error,
                finished_at=now,
                locked_by=None,
                locked_until=None,
            )
            .returning(Job.id, Job.kind, Job.attempts)
        )
    ).one_or_none()
    if row is None:
        return None
    incident = await incidents.add(
        session,
        kind=row.kind,
        error=error,
        now=now,
        job_id=row.id,
        attempts=row.attempts,
    )
    return incidents.info(incident)
