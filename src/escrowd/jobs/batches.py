"""Jobs a worker runs or records together rather than one by one.

- ``run_batch(worker, spec, jobs)``: the jobs of one kind that one claim took, run by one
  call of the kind's batch handler (``Registry.add_handler(…, batch=…)``); each job still has
  its own outcome (a success, a retry, an incident), recorded by ``Worker.record_outcome``.
- ``Completions``: the successes of kinds registered with ``complete_in_batches``, recorded
  in one transaction (``service.complete_many``) for the jobs that finish together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.jobs import service
from escrowd.jobs.registry import HandlerSpec, JobContext, PermanentJobError
from escrowd.jobs.service import ClaimedJob
from escrowd.logging import get_logger

if TYPE_CHECKING:  # the worker imports this module at run time, not the other way round
    from escrowd.jobs.worker import Worker

log = get_logger(__name__)

T = TypeVar("T")


class Record(Protocol):
    """``Worker.record``: run ``fn(session, now)`` in a transaction of its own, shielded from
    cancellation; None if the database refused."""

    async def __call__(
        self,
        bound: structlog.stdlib.BoundLogger,
        what: str,
        fn: Callable[[AsyncSession, datetime], Awaitable[T]],
    ) -> T | None: ...


async def run_batch(worker: Worker, spec: HandlerSpec, jobs: Sequence[ClaimedJob]) -> None:
    """Run jobs of one kind claimed together through its batch handler, then record each
    job's own outcome (successes together, as ``complete_many``)."""
    assert spec.batch is not None
    bound = log.bind(kind=spec.kind, jobs=[job.id for job in jobs])
    started = time.monotonic()
    ready: list[ClaimedJob] = []
    payloads: list[dict[str, Any]] = []
    unreadable: list[tuple[ClaimedJob, PermanentJobError]] = []
    for job in jobs:
        try:
            payloads.append(worker.payload_of(job))
            ready.append(job)
        except PermanentJobError as exc:
            unreadable.append((job, exc))
    outcomes: list[BaseException | None] = []
    if ready:
        ctxs = [
            JobContext(container=worker.container, job=job.info(), worker_id=worker.worker_id)
            for job in ready
        ]
        timeout = spec.timeout.total_seconds() if spec.timeout else None
        keep = worker.lease_kept(
            lambda s, now: _renew_any(s, ready, now=now, lease=worker.lease),
            job_id=ready[0].id,
        )
        try:
            async with keep, asyncio.timeout(timeout):
                outcomes = list(await spec.batch(ctxs, payloads))
            if len(outcomes) != len(ready):
                raise RuntimeError(
                    f"the batch handler of {spec.kind} gave {len(outcomes)} outcomes "
                    f"for {len(ready)} jobs"
                )
        except asyncio.CancelledError:
            await worker.record(bound, "release", lambda s, now: _release_all(s, ready, now=now))
            bound.warning("jobs_released", reason="worker stopping")
            raise
        except TimeoutError as exc:
            error = exc if str(exc) else TimeoutError("the attempt ran longer than its timeout")
            outcomes = [error] * len(ready)
        except Exception as exc:  # the batch's failure is each of its jobs'
            outcomes = [exc] * len(ready)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    done: list[tuple[ClaimedJob, BaseException | None, bool]]
    done = [(job, exc, True) for job, exc in unreadable]
    done += [
        (job, out, isinstance(out, PermanentJobError))
        for job, out in zip(ready, outcomes, strict=True)
    ]
    # Together, so that the successes join one batched record.
    await asyncio.gather(
        *(
            worker.record_outcome(job, spec, error, permanent=permanent, elapsed_ms=elapsed_ms)
            for job, error, permanent in done
        )
    )


class Completions:
    """The successes waiting for the next batched record, one worker's."""

    def __init__(self, record: Record) -> None:
        self._record = record
        self._group: _Group | None = None
        self._lock = asyncio.Lock()
        self._flushes: set[asyncio.Task[None]] = set()

    def join(self, job: ClaimedJob) -> asyncio.Future[set[str] | None]:
        """Join the next batched record of successes; its future gives the ids still held
        (None if the database refused). Jobs finishing while a record is being written join
        the next one, so a batch grows with the load and is one job when idle."""
        group = self._group
        if group is None:
            group = self._group = _Group([], asyncio.get_running_loop().create_future())
            task = asyncio.create_task(self._flush(group))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        group.jobs.append(job)
        return group.done

    async def _flush(self, group: _Group) -> None:
        try:
            async with self._lock:
                if self._group is group:
                    self._group = None  # from here on, successes start the next batch
                held = await self._record(
                    log.bind(jobs=len(group.jobs)),
                    "complete",
                    lambda s, now: service.complete_many(s, group.jobs, now=now),
                )
                group.done.set_result(held)
        finally:
            if not group.done.done():  # cancelled: the jobs run again once their lease lapses
                group.done.set_result(None)


@dataclass
class _Group:
    jobs: list[ClaimedJob]
    done: asyncio.Future[set[str] | None]


async def _renew_any(
    session: AsyncSession, jobs: Sequence[ClaimedJob], *, now: datetime, lease: timedelta
) -> bool:
    """Renew the lease of each job its claim still holds; whether any was."""
    held = [await service.renew(session, job, now=now, lease=lease) for job in jobs]
    return any(held)


async def _release_all(session: AsyncSession, jobs: Sequence[ClaimedJob], *, now: datetime) -> int:
    """Hand the jobs back unrun; how many the claim still held."""
    return sum([await service.release(session, job, now=now) for job in jobs])
