"""The built-in ``jobs.prune`` sweep: succeeded jobs go after 7 days, failures stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.jobs import JobContext, Registry, enqueue
from escrowd.jobs.builtin import KEEP_SUCCEEDED, prune_sweep
from escrowd.jobs.models import Job
from tests.jobs.conftest import add_job, drain, unique_kind


@pytest.fixture
async def empty(fresh_db_url: str, clock: FrozenClock) -> AsyncIterator[Container]:
    """A container on a database of its own: pruning must not touch other tests' jobs."""
    settings = Settings(
        env=Environment.test,
        database_url=fresh_db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    container = build(settings, clock=clock)
    try:
        yield container
    finally:
        await container.close()


async def test_prune_deletes_old_succeeded_jobs_and_keeps_the_rest(
    empty: Container, clock: FrozenClock
) -> None:
    ok, bad = unique_kind("ok"), unique_kind("bad")
    registry = Registry()

    @registry.handler(ok)
    async def succeed(ctx: JobContext, payload: dict[str, Any]) -> None:
        return None

    @registry.handler(bad)
    async def fail(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RuntimeError("no")

    old_ok = await add_job(empty, ok, dedupe_key="old")
    await add_job(empty, bad, max_attempts=1)
    await drain(empty, registry)
    clock.advance(KEEP_SUCCEEDED)
    recent_ok = await add_job(empty, ok)
    later = await add_job(empty, ok, run_at=clock.now() + timedelta(days=30))
    await drain(empty, registry)
    clock.advance(timedelta(seconds=1))

    registry.add_sweep("jobs.prune", every=timedelta(hours=1), fn=prune_sweep)
    w = await drain(empty, registry, kinds=[])
    assert w == 1
    async with empty.db.transaction() as session:
        left = {j.id: j.status for j in (await session.scalars(select(Job))).all()}
        # Pruning freed the old job's dedupe key.
        assert await enqueue(session, clock=clock, kind=ok, payload={}, dedupe_key="old")
    assert old_ok not in left
    assert left[recent_ok] == "succeeded"
    assert left[later] == "queued"
    assert sorted(left.values()).count("failed") == 1
