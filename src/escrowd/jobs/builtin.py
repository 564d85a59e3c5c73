"""Sweeps the jobs package runs itself: pruning old succeeded jobs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.jobs.models import Incident, Job, JobStatus
from escrowd.jobs.registry import Registry, SweepContext

#: Succeeded jobs are kept this long (for audits and "did it run?"), then deleted.
KEEP_SUCCEEDED = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)


async def prune(session: AsyncSession, *, finished_before: datetime, limit: int = 10_000) -> int:
    """Delete up to ``limit`` succeeded jobs finished before the given time; returns how many.

    Jobs an incident refers to are kept (the incident's history). Deleting a job frees its
    ``dedupe_key``.
    """
    victims = (
        select(Job.id)
        .where(
            Job.status == JobStatus.succeeded.value,
            Job.finished_at < finished_before,
            ~exists().where(Incident.job_id == Job.id),
        )
        .limit(limit)
    )
    ids = list((await session.scalars(victims)).all())
    if ids:
        await session.execute(delete(Job).where(Job.id.in_(ids)))
    return len(ids)


async def prune_sweep(ctx: SweepContext) -> int:
    async with ctx.container.db.transaction() as session:
        return await prune(session, finished_before=ctx.started_at - KEEP_SUCCEEDED)


def register(jobs: Registry) -> None:
    jobs.add_sweep("jobs.prune", every=PRUNE_EVERY, fn=prune_sweep)
