"""The serving process's background work: jobs run several at once, each loop on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from escrowd.bootstrap import Container
from escrowd.jobs import JobContext, Registry
from escrowd.jobs import background as background_work
from tests.jobs.conftest import add_job, job_row, unique_kind, until_succeeded

#: Why these tests run on PostgreSQL only. Each ends by cancelling the background work while
#: its job loop polls every 10 ms, so the cancellation can land inside a statement; on SQLite,
#: SQLAlchemy then terminates that aiosqlite connection, and the close it awaits was seen never
#: to finish, which hangs the test's event loop at teardown (and the suite with it). The loops
#: themselves do not depend on the database (docs/operations.md).
SQLITE_CANCEL_HANGS = "cancelling mid-statement can hang aiosqlite's close at teardown"

#: A bound on how long a test waits for what it expects: far longer than any of it takes, so
#: a slow machine does not fail a test; a lost wake-up still does, instead of hanging.
PATIENCE = 60


async def test_claimed_jobs_run_at_once_and_a_stuck_step_holds_up_no_other_work(
    container: Container, registry: Registry
) -> None:
    if container.db.dialect == "sqlite":
        pytest.skip(SQLITE_CANCEL_HANGS)
    kind = unique_kind("together")
    running = 0
    all_running = asyncio.Event()

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal running
        running += 1
        if running == 3:
            all_running.set()
        # Each job waits for the other two: run one after the other, none would finish.
        await all_running.wait()

    stuck_called = asyncio.Event()
    never = asyncio.Event()

    async def stuck(_: Container) -> int:
        stuck_called.set()
        await never.wait()
        return 1

    failures = 0
    other_ran = asyncio.Event()

    async def failing_then_working(_: Container) -> int:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise RuntimeError("a step's bad round")
        other_ran.set()
        return 0

    ids = [await add_job(container, kind, {"n": n}) for n in range(3)]
    task = asyncio.create_task(
        background_work.run(
            container,
            loops=[background_work.Loop(stuck), background_work.Loop(failing_then_working)],
            job_concurrency=5,
            registry=registry,
            kinds=[kind],
            idle=0.01,
        )
    )
    try:
        await asyncio.wait_for(stuck_called.wait(), PATIENCE)
        await asyncio.wait_for(other_ran.wait(), PATIENCE)
        await asyncio.wait_for(all_running.wait(), PATIENCE)
        await until_succeeded(container, ids, PATIENCE)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert failures == 2  # a failing step is called again, and the loop goes on


async def test_cancelling_hands_a_running_job_back_to_the_queue(
    container: Container, registry: Registry
) -> None:
    if container.db.dialect == "sqlite":
        pytest.skip(SQLITE_CANCEL_HANGS)
    kind = unique_kind("handback")
    started = asyncio.Event()

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    job_id = await add_job(container, kind)
    task = asyncio.create_task(
        background_work.run(container, registry=registry, kinds=[kind], idle=0.01)
    )
    await asyncio.wait_for(started.wait(), PATIENCE)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    job = await job_row(container, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)
