"""The schedule of periodic sweeps, shared by every worker through the ``sweeps`` table.

Each registered sweep has a row: ``next_run_at`` says when it is due, ``locked_by`` /
``locked_until`` who is running it. A worker claims a due sweep with one conditional UPDATE
(due and not leased), so of several workers exactly one wins each interval; when the run
ends, ``next_run_at`` moves to start + ``every``. A worker that dies mid-run leaves the sweep
due, and another takes it over when the lease lapses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.jobs.models import Sweep
from escrowd.jobs.registry import SweepSpec
from escrowd.jobs.service import LEASE, MAX_ERROR_CHARS


@dataclass(frozen=True, slots=True)
class ClaimedSweep:
    spec: SweepSpec
    started_at: datetime
    previous_run_at: datetime | None
    locked_by: str


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(Sweep.locked_until.is_(None), Sweep.locked_until < now)


def _held(sweep: ClaimedSweep) -> ColumnElement[bool]:
    return (
        (Sweep.name == sweep.spec.name)
        & (Sweep.locked_by == sweep.locked_by)
        & (Sweep.last_started_at == sweep.started_at)
    )


async def claim(
    session: AsyncSession,
    specs: Sequence[SweepSpec],
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta = LEASE,
) -> list[ClaimedSweep]:
    """Claim every registered sweep that is due; a new one is due at once."""
    if not specs:
        return []
    by_name = {s.name: s for s in specs}
    rows = {
        r.name: r
        for r in (
            await session.execute(
                select(
                    Sweep.name, Sweep.next_run_at, Sweep.locked_until, Sweep.last_started_at
                ).where(Sweep.name.in_(by_name))
            )
        ).all()
    }
    missing = [s for s in specs if s.name not in rows]
    if missing:
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        await session.execute(
            insert(Sweep)
            .values(
                [
                    {
                        "name": s.name,
                        "every_seconds": int(s.every.total_seconds()),
                        "next_run_at": now,
                        "consecutive_failures": 0,
                    }
                    for s in missing
                ]
            )
            .on_conflict_do_nothing(index_elements=[Sweep.name])
        )
    claimed: list[ClaimedSweep] = []
    for spec in specs:
        row = rows.get(spec.name)
        if row is not None and (
            row.next_run_at > now or (row.locked_until is not None and row.locked_until >= now)
        ):
            continue
        won = await session.execute(
            update(Sweep)
            .where(Sweep.name == spec.name, Sweep.next_run_at <= now, _free(now))
            .values(
                locked_by=worker_id,
                locked_until=now + lease,
                last_started_at=now,
                every_seconds=int(spec.every.total_seconds()),
            )
            .returning(Sweep.name)
        )
        if won.scalar_one_or_none() is not None:
            previous = row.last_started_at if row is not None else None
            claimed.append(ClaimedSweep(spec, now, previous, worker_id))
    return claimed


async def renew(
    session: AsyncSession, sweep: ClaimedSweep, *, now: datetime, lease: timedelta = LEASE
) -> bool:
    result = await session.execute(
        update(Sweep).where(_held(sweep)).values(locked_until=now + lease).returning(Sweep.name)
    )
    return result.scalar_one_or_none() is not None


async def finish(
    session: AsyncSession, sweep: ClaimedSweep, *, now: datetime, error: str | None
) -> bool:
    """Record the run and schedule the next one (start + ``every``); False if the lease was
    lost meanwhile (another worker's run then decides the schedule)."""
    result = await session.execute(
        update(Sweep)
        .where(_held(sweep))
        .values(
            next_run_at=sweep.started_at + sweep.spec.every,
            locked_by=None,
            locked_until=None,
            last_finished_at=now,
            last_error=error[:MAX_ERROR_CHARS] if error else None,
            consecutive_failures=Sweep.consecutive_failures + 1 if error else 0,
        )
        .returning(Sweep.name)
    )
    return result.scalar_one_or_none() is not None
