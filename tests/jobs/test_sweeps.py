"""Periodic sweeps: once per interval however many workers run, failures retried next time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Settings
from escrowd.jobs import Registry, SweepContext
from escrowd.jobs.models import Sweep
from escrowd.jobs.service import LEASE
from escrowd.jobs.sweeps import claim
from tests.jobs.conftest import unique_kind, worker

WORKERS = 4


@pytest.fixture
async def containers(settings: Settings, clock: FrozenClock) -> AsyncIterator[list[Container]]:
    """Four workers' containers: separate engines (connections) on one database and clock."""
    made = [build(settings, clock=clock) for _ in range(WORKERS)]
    try:
        yield made
    finally:
        for c in made:
            await c.close()


async def _all_tick(containers: list[Container], registry: Registry) -> None:
    await asyncio.gather(*(worker(c, registry, kinds=[]).tick() for c in containers))


async def _row(container: Container, name: str) -> Sweep:
    async with container.db.transaction() as session:
        row = (await session.scalars(select(Sweep).where(Sweep.name == name))).one()
    return row


async def test_a_sweep_runs_once_per_interval_across_several_workers(
    containers: list[Container], clock: FrozenClock, registry: Registry
) -> None:
    name = unique_kind("sweep")
    runs: list[SweepContext] = []

    async def sweep(ctx: SweepContext) -> int:
        runs.append(ctx)
        await asyncio.sleep(0.01)  # overlap with the other workers' claims
        return 0

    registry.add_sweep(name, every=timedelta(minutes=5), fn=sweep)
    start = clock.now()
    await _all_tick(containers, registry)  # a new sweep is due at once
    assert len(runs) == 1
    await _all_tick(containers, registry)
    clock.advance(timedelta(minutes=4, seconds=59))
    await _all_tick(containers, registry)
    assert len(runs) == 1

    clock.advance(timedelta(seconds=1))
    await _all_tick(containers, registry)
    await _all_tick(containers, registry)
    assert len(runs) == 2
    assert runs[0].previous_run_at is None
    assert runs[1].previous_run_at == start
    assert runs[1].started_at == start + timedelta(minutes=5)
    row = await _row(containers[0], name)
    assert row.next_run_at == start + timedelta(minutes=10)
    assert row.every_seconds == 300
    assert row.locked_by is None
    assert row.last_error is None


async def test_a_failing_sweep_is_recorded_and_tried_again_next_interval(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    name = unique_kind("sweep_fails")
    calls = 0

    async def sweep(ctx: SweepContext) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise LookupError("the provider's list endpoint is down")

    registry.add_sweep(name, every=timedelta(minutes=1), fn=sweep)
    w = worker(container, registry, kinds=[])
    await w.tick()
    row = await _row(container, name)
    assert row.last_error == "LookupError: the provider's list endpoint is down"
    assert row.consecutive_failures == 1
    await w.tick()
    assert calls == 1  # not before its next interval
    clock.advance(timedelta(minutes=1))
    await w.tick()
    assert (await _row(container, name)).consecutive_failures == 2
    clock.advance(timedelta(minutes=1))
    await w.tick()
    row = await _row(container, name)
    assert calls == 3
    assert row.last_error is None
    assert row.consecutive_failures == 0
    assert w.stats.sweeps == 1
    assert w.stats.sweeps_failed == 2


async def test_a_sweep_left_by_a_dead_worker_is_taken_over_after_its_lease(
    container: Container, clock: FrozenClock, registry: Registry
) -> None:
    name = unique_kind("sweep_orphan")
    runs: list[str] = []

    async def sweep(ctx: SweepContext) -> None:
        runs.append(ctx.worker_id)

    registry.add_sweep(name, every=timedelta(hours=1), fn=sweep)
    async with container.db.transaction() as session:
        [claimed] = await claim(session, registry.sweeps(), worker_id="dead", now=clock.now())
    await worker(container, registry, kinds=[]).tick()
    assert runs == []
    clock.advance(LEASE + timedelta(seconds=1))
    await worker(container, registry, kinds=[], worker_id="alive").tick()
    assert runs == ["alive"]
    assert claimed.locked_by == "dead"


def test_sweep_and_kind_names_are_checked() -> None:
    registry = Registry()

    async def sweep(ctx: SweepContext) -> None:
        return None

    with pytest.raises(ValueError, match="sweep name"):
        registry.add_sweep("Has Spaces", every=timedelta(minutes=1), fn=sweep)
    with pytest.raises(ValueError, match="at most once a second"):
        registry.add_sweep("fast", every=timedelta(milliseconds=10), fn=sweep)
    remove = registry.add_sweep("ok", every=timedelta(minutes=1), fn=sweep)

    async def other(ctx: SweepContext) -> None:
        return None

    with pytest.raises(ValueError, match="already registered"):
        registry.add_sweep("ok", every=timedelta(minutes=1), fn=other)
    remove()
    assert registry.sweeps() == ()
