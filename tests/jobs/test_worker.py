"""Running jobs: success, retries with backoff, incidents, leases, timeouts, stopping."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.jobs import IncidentInfo, JobContext, PermanentJobError, Registry, enqueue, service
from escrowd.jobs.models import Job
from escrowd.jobs.registry import BatchHandler
from escrowd.jobs.service import LEASE, claim, complete
from escrowd.jobs.worker import run_forever, run_once
from tests.jobs.conftest import (
    add_job,
    drain,
    incidents_of,
    job_row,
    unique_kind,
    until_succeeded,
    worker,
)


async def test_a_handler_that_succeeds_marks_its_job_succeeded(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind = unique_kind("ok")
    seen: list[tuple[dict[str, Any], JobContext]] = []

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        seen.append((payload, ctx))

    job_id = await add_job(container, kind, {"escrow": "esc_1", "amount": 1050})
    assert await run_once(container, registry=registry, kinds=[kind]) == 1
    assert await run_once(container, registry=registry, kinds=[kind]) == 0

    [(payload, ctx)] = seen
    assert payload == {"escrow": "esc_1", "amount": 1050}
    assert ctx.container is container
    assert ctx.job.id == job_id
    assert ctx.job.kind == kind
    assert ctx.job.attempt == 1
    assert not ctx.job.is_last_attempt
    assert ctx.now() == clock.now()
    job = await job_row(container, job_id)
    assert job.status == "succeeded"
    assert job.finished_at == clock.now()
    assert job.attempts == 1
    assert job.locked_by is None
    assert job.locked_until is None


async def test_a_handlers_own_unit_of_work_commits_before_the_job_is_done(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind, follow_up = unique_kind("first"), unique_kind("second")
    ran: list[str] = []

    @registry.handler(kind)
    async def first(ctx: JobContext, payload: dict[str, Any]) -> None:
        async with ctx.container.db.transaction() as session:
            await enqueue(
                session,
                clock=ctx.container.clock,
                kind=follow_up,
                payload={"after": ctx.job.id},
                dedupe_key=f"{ctx.job.id}:next",  # idempotent: a rerun enqueues nothing new
            )

    @registry.handler(follow_up)
    async def second(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran.append(payload["after"])

    job_id = await add_job(container, kind)
    await drain(container, registry)
    await drain(container, registry)
    assert ran == [job_id]


async def test_a_failing_job_is_retried_after_an_exponential_backoff(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind = unique_kind("flaky")
    attempts: list[int] = []

    @registry.handler(kind)
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.job.attempt)
        if ctx.job.attempt < 3:
            raise ConnectionError(f"provider unreachable (try {ctx.job.attempt})")

    job_id = await add_job(container, kind)
    start = clock.now()
    assert await drain(container, registry) == 1
    job = await job_row(container, job_id)
    assert job.status == "queued"
    assert job.last_error == "ConnectionError: provider unreachable (try 1)"
    # Full jitter, drawn at one half in tests: half of the 2 s ceiling.
    assert job.run_at == start + timedelta(seconds=1)

    clock.advance(timedelta(milliseconds=999))
    assert await drain(container, registry) == 0
    clock.advance(timedelta(milliseconds=1))
    assert await drain(container, registry) == 1
    job = await job_row(container, job_id)
    assert job.run_at == clock.now() + timedelta(seconds=2)  # half of 4 s

    clock.advance(timedelta(seconds=2))
    assert await drain(container, registry) == 1
    job = await job_row(container, job_id)
    assert attempts == [1, 2, 3]
    assert job.status == "succeeded"
    assert job.attempts == 3
    assert job.last_error == "ConnectionError: provider unreachable (try 2)"
    assert await incidents_of(container, job_id) == []


async def test_a_job_out_of_attempts_fails_and_opens_an_incident(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind = unique_kind("doomed")
    opened: list[IncidentInfo] = []

    @registry.handler(kind)
    async def doomed(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RuntimeError("card processor says no")

    async def notify(c: Container, incident: IncidentInfo) -> None:
        assert c is container
        opened.append(incident)

    async def broken_hook(c: Container, incident: IncidentInfo) -> None:
        raise RuntimeError("the mail server is down")

    registry.add_incident_hook(broken_hook)
    registry.add_incident_hook(notify)
    job_id = await add_job(container, kind, max_attempts=3)
    for _ in range(3):
        assert await drain(container, registry) == 1
        clock.advance(timedelta(minutes=1))
    assert await drain(container, registry) == 0

    job = await job_row(container, job_id)
    assert job.status == "failed"
    assert job.attempts == 3
    assert job.finished_at is not None
    assert job.last_error == "RuntimeError: card processor says no"
    [incident] = await incidents_of(container, job_id)
    assert incident.id.startswith("inc_")
    assert incident.kind == kind
    assert incident.error == "RuntimeError: card processor says no"
    assert incident.attempts == 3
    assert incident.resolved_at is None
    assert [i.id for i in opened] == [incident.id]  # the failing hook did not stop this one


async def test_a_permanent_error_fails_the_job_without_retrying(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("bad_payload")

    @registry.handler(kind)
    async def strict(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise PermanentJobError(f"escrow {payload.get('escrow')} does not exist")

    job_id = await add_job(container, kind, {"escrow": "esc_missing"})
    await drain(container, registry)
    job = await job_row(container, job_id)
    assert job.status == "failed"
    assert job.attempts == 1
    [incident] = await incidents_of(container, job_id)
    assert incident.error == "PermanentJobError: escrow esc_missing does not exist"


async def test_a_job_of_an_unknown_kind_fails_with_a_clear_error(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("nobody_handles_this")
    job_id = await add_job(container, kind)
    assert await drain(container, registry, kinds=[kind]) == 1
    job = await job_row(container, job_id)
    assert job.status == "failed"
    assert job.last_error is not None
    assert f"No handler is registered for job kind '{kind}'" in job.last_error
    assert "replay the incident" in job.last_error
    assert len(await incidents_of(container, job_id)) == 1


async def test_an_attempt_that_runs_past_its_timeout_counts_as_failed(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("slow")

    @registry.handler(kind, timeout=timedelta(milliseconds=50))
    async def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(5)

    job_id = await add_job(container, kind)
    await drain(container, registry)
    job = await job_row(container, job_id)
    assert job.status == "queued"
    assert job.last_error == "TimeoutError: the attempt ran longer than its timeout"


async def test_a_job_whose_worker_died_is_reclaimed_when_its_lease_expires(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind = unique_kind("orphan")
    runs: list[int] = []

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs.append(ctx.job.attempt)

    job_id = await add_job(container, kind)
    async with container.db.transaction() as session:  # a worker claims it, then dies
        [dead] = (
            await claim(session, worker_id="dead", now=clock.now(), limit=1, kinds=[kind])
        ).jobs
    assert await drain(container, registry) == 0  # leased: not yours

    clock.advance(LEASE + timedelta(seconds=1))
    assert await drain(container, registry) == 1
    job = await job_row(container, job_id)
    assert runs == [2]
    assert job.status == "succeeded"
    assert job.last_error is not None
    assert job.last_error.startswith("LeaseExpired: worker dead stopped during attempt 1")
    async with container.db.transaction() as session:  # the dead worker's outcome is ignored
        assert await complete(session, dead, now=clock.now()) is False


async def test_a_worker_dying_during_the_last_attempt_opens_an_incident(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind = unique_kind("orphan_last")
    ran: list[str] = []

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran.append(ctx.job.id)

    job_id = await add_job(container, kind, max_attempts=1)
    async with container.db.transaction() as session:
        await claim(session, worker_id="dead", now=clock.now(), limit=1, kinds=[kind])
    clock.advance(LEASE + timedelta(seconds=1))
    await drain(container, registry)
    assert ran == []
    assert (await job_row(container, job_id)).status == "failed"
    [incident] = await incidents_of(container, job_id)
    assert incident.error.startswith("LeaseExpired")


async def test_the_lease_is_renewed_while_a_long_handler_runs(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind = unique_kind("long")
    lease = timedelta(milliseconds=300)
    stolen: list[int] = []

    @registry.handler(kind)
    async def long(ctx: JobContext, payload: dict[str, Any]) -> None:
        clock.advance(timedelta(seconds=5))  # the first lease is long gone …
        await asyncio.sleep(0.35)  # … but renewed every 100 ms meanwhile
        rival = worker(container, registry, worker_id="rival", lease=lease)
        stolen.append(len(await rival.claim(5)))

    job_id = await add_job(container, kind)
    await worker(container, registry, lease=lease).tick()
    assert stolen == [0]
    assert (await job_row(container, job_id)).status == "succeeded"


async def test_run_forever_runs_jobs_until_stopped_and_hands_back_unfinished_ones(
    container: Container, registry: Registry
) -> None:
    quick, stuck = unique_kind("quick"), unique_kind("stuck")
    done: list[int] = []
    all_done = asyncio.Event()
    started = asyncio.Event()

    @registry.handler(quick)
    async def run_quick(ctx: JobContext, payload: dict[str, Any]) -> None:
        done.append(payload["n"])
        if len(done) == 5:
            all_done.set()

    @registry.handler(stuck)
    async def run_stuck(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    quick_ids = [await add_job(container, quick, {"n": n}) for n in range(5)]
    stuck_id = await add_job(container, stuck)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_forever(
            container,
            concurrency=3,
            stop_event=stop,
            registry=registry,
            kinds=registry.kinds(),
            poll_interval=0.05,
            grace=0.1,
        )
    )
    # Waits on what happens, not for a time: a loaded machine is slow, not wrong.
    await asyncio.wait_for(started.wait(), 60)
    await asyncio.wait_for(all_done.wait(), 60)
    # Stop only once every outcome is recorded: the grace is short on purpose.
    await until_succeeded(container, quick_ids, 60)
    stop.set()
    stats = await asyncio.wait_for(task, 60)
    assert sorted(done) == list(range(5))
    assert stats.succeeded == 5
    job = await job_row(container, stuck_id)
    assert job.status == "queued"  # handed back, due now, the attempt not counted
    assert job.attempts == 0
    assert job.locked_by is None


async def test_run_once_claims_at_most_one_batch(container: Container, registry: Registry) -> None:
    kind = unique_kind("batch")
    count = 0

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal count
        count += 1

    for _ in range(4):
        await add_job(container, kind)
    assert await run_once(container, registry=registry, kinds=[kind], limit=3) == 3
    assert await run_once(container, registry=registry, kinds=[kind], limit=3) == 1
    assert count == 4
    async with container.db.transaction() as session:
        statuses = (await session.scalars(select(Job.status).where(Job.kind == kind))).all()
    assert set(statuses) == {"succeeded"}


async def test_successes_recorded_in_batches_mark_each_job_once(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("batched")
    ran: list[int] = []

    @registry.handler(kind, complete_in_batches=True)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran.append(payload["n"])

    ids = [await add_job(container, kind, {"n": n}) for n in range(6)]
    w = worker(container, registry)
    assert await w.tick(limit=10, concurrent=True) == 6
    assert sorted(ran) == list(range(6))
    assert w.stats.succeeded == 6
    for job_id in ids:
        job = await job_row(container, job_id)
        assert (job.status, job.attempts, job.locked_by) == ("succeeded", 1, None)
        assert job.finished_at is not None
    assert await w.tick(limit=10, concurrent=True) == 0  # none runs again


async def test_a_batched_success_leaves_a_job_another_worker_took_over(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("takeover")
    kept, lost = await add_job(container, kind), await add_job(container, kind)
    now = container.clock.now()
    async with container.db.transaction() as session:
        claimed = await service.claim(session, worker_id="w1", now=now, limit=5, kinds=[kind])
    assert {j.id for j in claimed.jobs} == {kept, lost}
    async with container.db.transaction() as session:  # w1 stalled; w2 has the job now
        await session.execute(update(Job).where(Job.id == lost).values(locked_by="w2"))
    async with container.db.transaction() as session:
        held = await service.complete_many(session, claimed.jobs, now=now)
        assert await service.complete_many(session, [], now=now) == set()
    assert held == {kept}
    assert (await job_row(container, kept)).status == "succeeded"
    taken = await job_row(container, lost)
    assert (taken.status, taken.locked_by) == ("running", "w2")


async def test_a_batch_handler_runs_the_jobs_claimed_together_each_with_its_own_outcome(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    kind = unique_kind("batch_handler")
    calls: list[list[int]] = []
    singles: list[int] = []

    async def one(ctx: JobContext, payload: dict[str, Any]) -> None:
        singles.append(payload["n"])

    async def many(
        ctxs: Sequence[JobContext], payloads: Sequence[dict[str, Any]]
    ) -> list[BaseException | None]:
        assert [c.job.kind for c in ctxs] == [kind] * len(payloads)
        calls.append([p["n"] for p in payloads])
        outcomes: list[BaseException | None] = []
        for p in payloads:
            if p["n"] == 1:
                outcomes.append(RuntimeError("SMTP refused"))
            elif p["n"] == 2:
                outcomes.append(PermanentJobError("no such notification"))
            else:
                outcomes.append(None)
        return outcomes

    registry.add_handler(kind, one, complete_in_batches=True, batch=many)
    ids = [await add_job(container, kind, {"n": n}) for n in range(4)]
    bad = await add_job(container, kind, payload=None)
    async with container.db.transaction() as session:  # a payload that is not an object
        await session.execute(update(Job).where(Job.id == bad).values(payload="[1]"))
    w = worker(container, registry)
    assert await w.tick(limit=10) == 5  # five jobs, the four readable ones in one call
    assert [sorted(c) for c in calls] == [[0, 1, 2, 3]]
    assert singles == []
    assert (w.stats.succeeded, w.stats.retried, w.stats.failed) == (2, 1, 2)
    for n in (0, 3):
        job = await job_row(container, ids[n])
        assert (job.status, job.attempts, job.locked_by) == ("succeeded", 1, None)
    retried = await job_row(container, ids[1])
    assert (retried.status, retried.last_error) == ("queued", "RuntimeError: SMTP refused")
    assert retried.run_at > clock.now()
    assert (await job_row(container, ids[2])).status == "failed"
    [incident] = await incidents_of(container, ids[2])
    assert incident.error == "PermanentJobError: no such notification"
    assert (await job_row(container, bad)).status == "failed"

    clock.advance(timedelta(hours=2))  # the retry is due; claimed alone, the handler runs it
    assert await w.tick(limit=10) == 1
    assert singles == [1]
    assert (await job_row(container, ids[1])).status == "succeeded"


async def test_a_batch_handler_that_raises_fails_each_job_of_the_batch(
    container: Container, registry: Registry
) -> None:
    kind = unique_kind("batch_raises")

    async def one(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise AssertionError("claimed together, the batch handler runs them")

    async def many(
        ctxs: Sequence[JobContext], payloads: Sequence[dict[str, Any]]
    ) -> list[BaseException | None]:
        raise ConnectionError("database gone")

    registry.add_handler(kind, one, batch=many)
    ids = [await add_job(container, kind) for _ in range(3)]
    w = worker(container, registry)
    assert await w.tick(limit=10) == 3
    assert w.stats.retried == 3
    for job_id in ids:
        job = await job_row(container, job_id)
        assert (job.status, job.attempts) == ("queued", 1)
        assert job.last_error == "ConnectionError: database gone"


def recording(calls: list[list[int]]) -> BatchHandler:
    """A batch handler that succeeds, appending each call's payload numbers (sorted)."""

    async def many(
        ctxs: Sequence[JobContext], payloads: Sequence[dict[str, Any]]
    ) -> list[BaseException | None]:
        calls.append(sorted(p["n"] for p in payloads))
        return [None] * len(payloads)

    return many


async def test_a_claimed_batch_job_brings_the_rest_of_its_batch_up_to_the_batch_size(
    container: Container, registry: Registry
) -> None:
    batched, single = unique_kind("batch_slot"), unique_kind("batch_slot_single")
    calls: list[list[int]] = []
    singles: list[int] = []

    async def one(ctx: JobContext, payload: dict[str, Any]) -> None:
        singles.append(payload["n"])

    many = recording(calls)

    registry.add_handler(batched, one, batch=many, batch_size=4)
    registry.add_handler(single, one)
    await add_job(container, single, {"n": 100})
    for n in range(6):
        await add_job(container, batched, {"n": n})
    await add_job(container, single, {"n": 101})
    w = worker(container, registry)
    # Two slots: the oldest job, and the next, whose kind runs in batches of four: three
    # more of that kind come with it (not the newer single job).
    assert await w.tick(limit=2) == 5
    assert calls == [[0, 1, 2, 3]]
    assert singles == [100]
    # The batch kind's last two, together; then the other single job.
    assert await w.tick(limit=2) == 2
    assert calls == [[0, 1, 2, 3], [4, 5]]
    assert await w.tick(limit=2) == 1
    assert singles == [100, 101]
    assert w.stats.succeeded == 8


async def test_a_batch_stays_within_its_size_when_the_claim_takes_that_many_alone(
    container: Container, registry: Registry
) -> None:
    batched = unique_kind("batch_cap")
    calls: list[list[int]] = []

    async def one(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise AssertionError("claimed together, the batch handler runs them")

    many = recording(calls)

    registry.add_handler(batched, one, batch=many, batch_size=3)
    for n in range(5):
        await add_job(container, batched, {"n": n})
    # Two slots' worth of due jobs, both of the batch kind; a batch of three needs one more.
    assert await worker(container, registry).tick(limit=2) == 3
    assert calls == [[0, 1, 2]]


def test_a_batch_size_below_one_is_refused(registry: Registry) -> None:
    async def one(ctx: JobContext, payload: dict[str, Any]) -> None: ...

    with pytest.raises(ValueError, match="batch_size"):
        registry.add_handler(unique_kind("batch_zero"), one, batch=recording([]), batch_size=0)


async def test_a_renewal_under_way_when_the_body_ends_finishes_instead_of_being_cancelled(
    container: Container, registry: Registry
) -> None:
    w = worker(container, registry, lease=timedelta(milliseconds=30))  # renews every 10 ms
    renewing = asyncio.Event()
    let_finish = asyncio.Event()
    finished: list[bool] = []

    async def renew(session: Any, now: Any) -> bool:
        renewing.set()
        await let_finish.wait()
        finished.append(True)
        return True

    async def body() -> None:
        async with w.lease_kept(renew, job="test"):
            await renewing.wait()

    task = asyncio.create_task(body())
    await asyncio.wait_for(renewing.wait(), 10)
    await asyncio.sleep(0.05)
    assert not task.done()  # the body ended, and waits for the renewal under way
    let_finish.set()
    await asyncio.wait_for(task, 10)
    assert finished == [True]
