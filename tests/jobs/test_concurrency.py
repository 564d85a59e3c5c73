"""Several workers on one database: every job runs exactly once (SKIP LOCKED on PostgreSQL,
BEGIN IMMEDIATE on SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from escrowd.bootstrap import build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.jobs import JobContext, Registry, enqueue
from escrowd.jobs.worker import Worker
from tests.jobs.conftest import unique_kind

WORKERS = 4


async def _run_all(url: str, clock: FrozenClock, jobs: int) -> dict[str, int]:
    settings = Settings(
        env=Environment.test,
        database_url=url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    containers = [build(settings, clock=clock) for _ in range(WORKERS)]
    kind = unique_kind("effect")
    registry = Registry()

    @registry.handler(kind)
    async def effect(ctx: JobContext, payload: dict[str, Any]) -> None:
        async with ctx.container.db.transaction() as session:
            await session.execute(
                text("INSERT INTO job_effects (job_id, worker) VALUES (:j, :w)"),
                {"j": ctx.job.id, "w": ctx.worker_id},
            )

    try:
        first = containers[0]
        async with first.db.transaction() as session:
            await session.execute(
                text("CREATE TABLE job_effects (job_id VARCHAR(40) NOT NULL, worker TEXT)")
            )
            for n in range(jobs):
                await enqueue(session, clock=clock, kind=kind, payload={"n": n})
        stop = asyncio.Event()
        workers = [Worker(c, registry=registry, kinds=[kind]) for c in containers]
        tasks = [
            asyncio.create_task(w.run(concurrency=4, stop_event=stop, poll_interval=0.02))
            for w in workers
        ]
        for _ in range(1500):
            if sum(w.stats.jobs for w in workers) >= jobs:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        async with first.db.transaction() as session:
            per_job = (
                await session.execute(
                    text("SELECT job_id, count(*) FROM job_effects GROUP BY job_id")
                )
            ).all()
            statuses = (
                await session.execute(
                    text("SELECT status, attempts, count(*) FROM jobs GROUP BY status, attempts")
                )
            ).all()
        assert [tuple(s) for s in statuses] == [("succeeded", 1, jobs)]
        assert all(w.stats.failed == 0 and w.stats.retried == 0 for w in workers)
        return {row[0]: row[1] for row in per_job}
    finally:
        for c in containers:
            await c.close()


async def test_four_workers_on_postgresql_run_each_of_200_jobs_exactly_once(
    postgres_url: str, clock: FrozenClock
) -> None:
    runs = await _run_all(postgres_url, clock, 200)
    assert len(runs) == 200
    assert set(runs.values()) == {1}


@pytest.fixture
def sqlite_url(fresh_db_url_factory: Callable[[str], str]) -> str:
    return fresh_db_url_factory("sqlite")


async def test_four_workers_on_sqlite_also_never_run_a_job_twice(
    sqlite_url: str, clock: FrozenClock
) -> None:
    runs = await _run_all(sqlite_url, clock, 60)
    assert len(runs) == 60
    assert set(runs.values()) == {1}
