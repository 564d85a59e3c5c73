"""The serving process's background work: jobs run several at once, each loop on its own,
and all of it stops through its event (never by a cancellation landing mid-statement)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from structlog.testing import capture_logs

from escrowd.bootstrap import Container
from escrowd.jobs import JobContext, Registry
from escrowd.jobs import background as background_work
from tests.jobs.conftest import add_job, job_row, unique_kind, until_succeeded

#: A bound on how long a test waits for what it expects: far longer than any of it takes, so
#: a slow machine does not fail a test; a lost wake-up still does, instead of hanging.
PATIENCE = 60


async def test_claimed_jobs_run_at_once_and_a_stuck_step_holds_up_no_other_work(
    container: Container, registry: Registry
) -> None:
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
    unstuck = asyncio.Event()
    stuck_calls = 0

    async def stuck(_: Container) -> int:
        nonlocal stuck_calls
        stuck_calls += 1
        stuck_called.set()
        await unstuck.wait()
        return 1  # busy: without the stop it would be called again at once

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
    stop = asyncio.Event()
    task = asyncio.create_task(
        background_work.run(
            container,
            stop=stop,
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
        stop.set()
        unstuck.set()  # the step under way returns; its loop sees the stop and ends
        await asyncio.wait_for(task, PATIENCE)
    assert failures == 2  # a failing step is called again, and the loop goes on
    assert stuck_calls == 1  # a step that returns after the stop is not called again


async def test_a_job_still_running_after_the_grace_goes_back_to_the_queue(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("handback")
    started = asyncio.Event()

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    job_id = await add_job(container, kind)
    stop = asyncio.Event()
    task = asyncio.create_task(
        background_work.run(
            container, stop=stop, registry=registry, kinds=[kind], idle=0.01, grace=0
        )
    )
    await asyncio.wait_for(started.wait(), PATIENCE)
    stop.set()
    await asyncio.wait_for(task, PATIENCE)
    job = await job_row(container, job_id)
    # Handed back, due again, and the attempt cut short by the stop is not counted.
    assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)


async def test_a_job_running_at_the_stop_may_finish_within_the_grace(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("finishes")
    started = asyncio.Event()
    stop = asyncio.Event()

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await stop.wait()  # still running when the stop comes, done right after it

    job_id = await add_job(container, kind)
    task = asyncio.create_task(
        background_work.run(
            container, stop=stop, registry=registry, kinds=[kind], idle=0.01, grace=PATIENCE
        )
    )
    await asyncio.wait_for(started.wait(), PATIENCE)
    stop.set()
    await asyncio.wait_for(task, PATIENCE)
    job = await job_row(container, job_id)
    assert (job.status, job.attempts) == ("succeeded", 1)


async def test_a_stop_wakes_idle_loops_at_once(container: Container, registry: Registry) -> None:
    rounds = asyncio.Event()

    async def idle_step(_: Container) -> int:
        rounds.set()
        return 0  # nothing done: the loop pauses for ``idle``

    stop = asyncio.Event()
    task = asyncio.create_task(
        background_work.run(
            container,
            stop=stop,
            loops=[background_work.Loop(idle_step, copies=2)],
            registry=registry,
            kinds=[unique_kind("none")],
            idle=10 * PATIENCE,  # a loop that slept through its pause would outlast the bound
        )
    )
    await asyncio.wait_for(rounds.wait(), PATIENCE)
    await asyncio.sleep(0.05)  # every loop is in its pause by now
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, PATIENCE)
    assert time.monotonic() - started < PATIENCE


async def test_stop_cancels_a_run_that_does_not_return_in_time_as_a_last_resort(
    container: Container, registry: Registry
) -> None:
    called = asyncio.Event()

    async def never_returns(_: Container) -> int:
        called.set()
        await asyncio.Event().wait()
        return 0

    stop = asyncio.Event()
    task = asyncio.create_task(
        background_work.run(
            container,
            stop=stop,
            loops=[background_work.Loop(never_returns)],
            registry=registry,
            kinds=[unique_kind("none")],
            idle=0.01,
        )
    )
    await asyncio.wait_for(called.wait(), PATIENCE)
    with capture_logs() as logs:
        # Long enough for the job loop to see the stop and return after its claim, so that
        # the cancellation lands in the step that never returns, not in a statement.
        await asyncio.wait_for(background_work.stop(task, stop, within=2), PATIENCE)
    assert task.cancelled()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "background_work_cancelled"
    ]
