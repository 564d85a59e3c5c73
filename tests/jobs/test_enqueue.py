"""The outbox: a job commits with the caller's transaction or not at all."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.jobs import DEFAULT_MAX_ATTEMPTS, NewJob, cancel, enqueue, enqueue_many
from escrowd.jobs.models import Job
from escrowd.jobs.service import claim
from tests.jobs.conftest import add_job, job_row, unique_kind
from tests.statements import compiled_forms


class BoomError(Exception):
    pass


async def _count(container: Container, kind: str) -> int:
    async with container.db.transaction() as session:
        return int(await session.scalar(select(func.count()).where(Job.kind == kind)) or 0)


async def test_an_enqueued_job_commits_with_the_callers_transaction(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    async with container.db.transaction() as session:
        job_id = await enqueue(session, clock=clock, kind=kind, payload={"escrow": "esc_1"})
    assert job_id is not None
    assert job_id.startswith("job_")
    job = await job_row(container, job_id)
    assert job.kind == kind
    assert json.loads(job.payload) == {"escrow": "esc_1"}
    assert job.status == "queued"
    assert job.attempts == 0
    assert job.max_attempts == DEFAULT_MAX_ATTEMPTS
    assert job.run_at == clock.now()
    assert job.created_at == clock.now()
    assert job.locked_by is None
    assert job.finished_at is None


async def test_an_enqueued_job_vanishes_when_the_callers_transaction_rolls_back(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()

    async def change_state_then_fail() -> None:
        async with container.db.transaction() as session:
            await enqueue(session, clock=clock, kind=kind, payload={})
            raise BoomError

    with pytest.raises(BoomError):
        await change_state_then_fail()
    assert await _count(container, kind) == 0


async def test_enqueueing_the_same_dedupe_key_twice_is_a_no_op(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    key = f"{kind}:expire"
    first = await add_job(container, kind, {"n": 1}, dedupe_key=key)
    async with container.db.transaction() as session:
        assert (
            await enqueue(session, clock=clock, kind=kind, payload={"n": 2}, dedupe_key=key) is None
        )
        # Twice in one transaction, too: the caller's transaction stays usable.
        assert (
            await enqueue(session, clock=clock, kind=kind, payload={"n": 3}, dedupe_key=key) is None
        )
        other = await enqueue(session, clock=clock, kind=kind, payload={}, dedupe_key=key + "2")
    assert other is not None
    assert await _count(container, kind) == 2
    assert json.loads((await job_row(container, first)).payload) == {"n": 1}


async def test_enqueue_many_compiles_its_insert_once_whatever_the_number_of_jobs(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    with compiled_forms(container.db.engine, "INSERT INTO jobs") as forms:
        for n in (2, 5, 3):  # (one job alone is a form of its own, cached too)
            async with container.db.transaction() as session:
                added = await enqueue_many(
                    session, clock=clock, jobs=[NewJob(kind, {"n": i}) for i in range(n)]
                )
            assert len(added) == n
    assert len(forms) == 1  # a statement SQLAlchemy could cache, not one per row count
    assert await _count(container, kind) == 10


async def test_enqueue_many_adds_each_job_once_per_dedupe_key_in_the_callers_transaction(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    taken = f"{kind}:taken"
    first = await add_job(container, kind, {"n": 0}, dedupe_key=taken)
    later = clock.now() + timedelta(hours=1)
    async with container.db.transaction() as session:
        added = await enqueue_many(
            session,
            clock=clock,
            jobs=[
                NewJob(kind, {"n": 1}, dedupe_key=taken),  # an existing job's key
                NewJob(kind, {"n": 2}, dedupe_key=f"{kind}:a", max_attempts=3),
                NewJob(kind, {"n": 3}, dedupe_key=f"{kind}:a"),  # an earlier one's key
                NewJob(kind, {"n": 4}, run_at=later),
                NewJob(kind, {"n": 5}),
            ],
        )
        assert await enqueue_many(session, clock=clock, jobs=[]) == []
    assert len(added) == 3
    rows = {json.loads((await job_row(container, i)).payload)["n"]: i for i in added}
    assert sorted(rows) == [2, 4, 5]
    assert (await job_row(container, rows[2])).max_attempts == 3
    assert (await job_row(container, rows[4])).run_at == later
    assert (await job_row(container, rows[5])).run_at == clock.now()
    assert json.loads((await job_row(container, first)).payload) == {"n": 0}
    assert await _count(container, kind) == 4

    async def add_then_fail() -> None:
        async with container.db.transaction() as session:
            await enqueue_many(session, clock=clock, jobs=[NewJob(kind, {"n": 6})])
            raise BoomError

    with pytest.raises(BoomError):
        await add_then_fail()
    assert await _count(container, kind) == 4


async def test_a_dedupe_key_stays_taken_after_its_job_ran(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    key = f"{kind}:once"
    await add_job(container, kind, dedupe_key=key)
    async with container.db.transaction() as session:
        claimed = await claim(session, worker_id="w", now=clock.now(), limit=5, kinds=[kind])
    assert len(claimed.jobs) == 1
    async with container.db.transaction() as session:
        assert await enqueue(session, clock=clock, kind=kind, payload={}, dedupe_key=key) is None


async def test_a_job_can_be_scheduled_for_later_with_its_own_attempt_limit(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    later = clock.now() + timedelta(days=3)
    job = await job_row(container, await add_job(container, kind, run_at=later, max_attempts=3))
    assert job.run_at == later
    assert job.max_attempts == 3
    async with container.db.transaction() as session:
        claimed = await claim(session, worker_id="w", now=clock.now(), limit=5, kinds=[kind])
    assert claimed.jobs == []


async def test_cancel_deletes_a_queued_timer_and_frees_its_key(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    key = f"{kind}:timer"
    await add_job(container, kind, run_at=clock.now() + timedelta(hours=1), dedupe_key=key)
    async with container.db.transaction() as session:
        assert await cancel(session, key) is True
        assert await cancel(session, key) is False
    assert await _count(container, kind) == 0
    # Rescheduling = cancel + enqueue under the same key.
    await add_job(container, kind, run_at=clock.now() + timedelta(hours=2), dedupe_key=key)
    assert await _count(container, kind) == 1


async def test_cancel_is_undone_with_the_callers_transaction(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    key = f"{kind}:timer"
    await add_job(container, kind, dedupe_key=key)

    async def cancel_then_fail() -> None:
        async with container.db.transaction() as session:
            assert await cancel(session, key)
            raise BoomError

    with pytest.raises(BoomError):
        await cancel_then_fail()
    assert await _count(container, kind) == 1


async def test_cancel_leaves_a_running_job_alone(container: Container, clock: FrozenClock) -> None:
    kind = unique_kind()
    key = f"{kind}:timer"
    job_id = await add_job(container, kind, dedupe_key=key)
    async with container.db.transaction() as session:
        await claim(session, worker_id="w", now=clock.now(), limit=1, kinds=[kind])
    async with container.db.transaction() as session:
        assert await cancel(session, key) is False
    assert (await job_row(container, job_id)).status == "running"


async def test_a_payload_that_is_not_json_is_refused_at_enqueue(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    with pytest.raises(TypeError):
        async with container.db.transaction() as session:
            await enqueue(session, clock=clock, kind=kind, payload={"when": object()})
    with pytest.raises(ValueError, match="max_attempts"):
        async with container.db.transaction() as session:
            await enqueue(session, clock=clock, kind=kind, payload={}, max_attempts=0)
    assert await _count(container, kind) == 0


async def test_a_malformed_kind_or_dedupe_key_is_refused_before_touching_the_transaction(
    container: Container, clock: FrozenClock
) -> None:
    kind = unique_kind()
    async with container.db.transaction() as session:
        with pytest.raises(ValueError, match="job kind"):
            await enqueue(session, clock=clock, kind="Send Email", payload={})
        with pytest.raises(ValueError, match="dedupe_key"):
            await enqueue(session, clock=clock, kind=kind, payload={}, dedupe_key="k" * 201)
        # The caller's transaction is still good.
        assert await enqueue(session, clock=clock, kind=kind, payload={}) is not None
    assert await _count(container, kind) == 1
