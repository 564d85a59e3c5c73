"""The worker: claim due jobs and sweeps, run them outside the claim, record the outcome.

``run_once(container)`` claims one batch and runs it in turn (the serving process calls it
from its background loop; when nothing is due it costs one short transaction).
``run_forever(container, concurrency=…, stop_event=…)`` keeps up to ``concurrency`` jobs
running until ``stop_event`` is set, then lets the running ones finish (``grace`` seconds)
and hands any still unfinished back to the queue. The jobs of a kind with a batch handler,
and the successes recorded together, are run and recorded by ``batches``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from escrowd.bootstrap import Container
from escrowd.jobs import backoff, service, sweeps
from escrowd.jobs.batches import Completions, run_batch
from escrowd.jobs.registry import (
    HandlerSpec,
    IncidentInfo,
    JobContext,
    PermanentJobError,
    Registry,
    SweepContext,
)
from escrowd.jobs.service import LEASE, ClaimedJob, describe
from escrowd.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

#: Jobs one ``run_once`` call claims at most.
BATCH = 10

#: Other work a worker does besides jobs and sweeps: a step takes the container, does what is
#: due and returns how much it did (0 when nothing was). Processing stored inbound webhooks is
#: one (``escrowd worker`` passes it).
Step = Callable[[Container], Awaitable[int]]


def new_worker_id() -> str:
    """``host:pid:random``: unique per worker, readable in ``jobs.locked_by``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{str(ULID())[-6:].lower()}"


@dataclass
class WorkerStats:
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    sweeps: int = 0
    sweeps_failed: int = 0

    @property
    def jobs(self) -> int:
        return self.succeeded + self.retried + self.failed


class Worker:
    """One worker identity: claims as ``worker_id``, runs handlers from ``registry``."""

    def __init__(
        self,
        container: Container,
        *,
        registry: Registry | None = None,
        kinds: Collection[str] | None = None,
        run_sweeps: bool = True,
        worker_id: str | None = None,
        lease: timedelta = LEASE,
        uniform: backoff.Uniform = random.random,
        steps: Sequence[Step] = (),
    ) -> None:
        self.container = container
        self.steps = tuple(steps)
        self.registry = registry or container.registries.jobs
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.run_sweeps = run_sweeps
        self.worker_id = worker_id or new_worker_id()
        self.lease = lease
        #: The jitter's random source (tests fix it to make retry times exact).
        self.uniform = uniform
        self.stats = WorkerStats()
        #: The successes waiting for the next batched record (``complete_in_batches``).
        self._completions = Completions(self.record)

    # ---- claiming ---------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Callable[[], Awaitable[None]]]:
        """Claim due sweeps and up to ``limit`` jobs in one short transaction; returns the
        work to run, one coroutine factory per claimed item (the jobs of a kind with a batch
        handler are one item)."""
        return (await self._claim(limit))[0]

    async def _claim(self, limit: int) -> tuple[list[Callable[[], Awaitable[None]]], int]:
        """``claim``, and how many sweeps and jobs it took."""
        now = self.container.clock.now()
        async with self.container.db.transaction() as session:
            due_sweeps = (
                await sweeps.claim(
                    session,
                    self.registry.sweeps(),
                    worker_id=self.worker_id,
                    now=now,
                    lease=self.lease,
                )
                if self.run_sweeps
                else []
            )
            claimed = await service.claim(
                session,
                worker_id=self.worker_id,
                now=now,
                limit=limit,
                lease=self.lease,
                kinds=self.kinds,
                batch_sizes=self.registry.batch_sizes(),
            )
        for incident in claimed.incidents:
            self.stats.failed += 1
            await self._incident_opened(incident)
        work: list[Callable[[], Awaitable[None]]] = []
        work.extend(partial(self.run_sweep, sweep) for sweep in due_sweeps)
        batches: dict[str, list[ClaimedJob]] = {}
        for job in claimed.jobs:
            spec = self.registry.get(job.kind)
            if spec is not None and spec.batch is not None:
                batches.setdefault(job.kind, []).append(job)
            else:
                work.append(partial(self.run_job, job))
        for kind, group in batches.items():
            if len(group) == 1:
                work.append(partial(self.run_job, group[0]))
            else:
                spec = self.registry.get(kind)
                assert spec is not None
                work.append(partial(run_batch, self, spec, group))
        return work, len(due_sweeps) + len(claimed.jobs)

    async def tick(self, limit: int = BATCH, *, concurrent: bool = False) -> int:
        """Claim once and run what was claimed (one after the other, or all at once);
        returns how many sweeps and jobs ran."""
        work, taken = await self._claim(limit)
        if concurrent:
            await asyncio.gather(*(_call(run) for run in work))
        else:
            for run in work:
                await run()
        return taken + await self._run_steps()

    async def _run_steps(self) -> int:
        done = 0
        for step in self.steps:
            try:
                done += await step(self.container)
            except Exception:  # a failing step must not stop the jobs or the other steps
                log.exception("worker_step_failed", step=getattr(step, "__name__", "?"))
        return done

    async def _steps_until(self, stop_event: asyncio.Event, poll_interval: float) -> None:
        """The steps, again at once while they find work, else after ``poll_interval``."""
        while not stop_event.is_set():
            if await self._run_steps() == 0:
                await pause(stop_event, poll_interval)

    # ---- running a job ----------------------------------------------------------------------

    async def run_job(self, job: ClaimedJob) -> None:
        bound = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        spec = self.registry.get(job.kind)
        started = time.monotonic()
        error: BaseException | None = None
        permanent = False
        try:
            if spec is None:
                permanent = True
                raise PermanentJobError(
                    f"No handler is registered for job kind '{job.kind}' in this worker. "
                    "Deploy a worker that registers it (escrowd.bootstrap.registries "
                    "lists what every worker runs), then replay the incident."
                )
            payload = self.payload_of(job)
            ctx = JobContext(container=self.container, job=job.info(), worker_id=self.worker_id)
            timeout = spec.timeout.total_seconds() if spec.timeout else None
            keep = self.lease_kept(
                lambda s, now: service.renew(s, job, now=now, lease=self.lease), job_id=job.id
            )
            async with keep, asyncio.timeout(timeout):
                await spec.fn(ctx, payload)
        except asyncio.CancelledError:
            await self.record(bound, "release", lambda s, now: service.release(s, job, now=now))
            bound.warning("job_released", reason="worker stopping")
            raise
        except PermanentJobError as exc:
            error, permanent = exc, True
        except TimeoutError as exc:
            error = exc if str(exc) else TimeoutError("the attempt ran longer than its timeout")
        except Exception as exc:  # any handler failure is the job's, never the worker's
            error = exc
        elapsed_ms = round((time.monotonic() - started) * 1000)
        await self.record_outcome(job, spec, error, permanent=permanent, elapsed_ms=elapsed_ms)

    async def record_outcome(
        self,
        job: ClaimedJob,
        spec: HandlerSpec | None,
        error: BaseException | None,
        *,
        permanent: bool,
        elapsed_ms: int,
    ) -> None:
        """Record one attempt's outcome: success, a retry, or a failure with its incident."""
        bound = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        if error is None:
            if spec is not None and spec.complete_in_batches:
                held = await asyncio.shield(self._completions.join(job))
                done = None if held is None else job.id in held
            else:
                done = await self.record(
                    bound, "complete", lambda s, now: service.complete(s, job, now=now)
                )
            if done:
                self.stats.succeeded += 1
                bound.info("job_succeeded", duration_ms=elapsed_ms)
            elif done is False:
                bound.warning("job_lease_lost", detail="another worker took the job over")
            return
        message = describe(error)
        failure = await self.record(
            bound,
            "fail",
            lambda s, now: service.fail(
                s, job, error=message, now=now, permanent=permanent, uniform=self.uniform
            ),
        )
        if failure is None:
            return
        if failure.outcome == "retry":
            self.stats.retried += 1
            assert failure.retry_at is not None
            bound.warning(
                "job_retry_scheduled",
                error=message,
                retry_at=failure.retry_at.isoformat(),
                attempts_left=job.max_attempts - job.attempts,
                duration_ms=elapsed_ms,
            )
        elif failure.outcome == "failed":
            self.stats.failed += 1
            assert failure.incident is not None
            await self._incident_opened(failure.incident)
        else:
            bound.warning("job_lease_lost", error=message)

    @staticmethod
    def payload_of(job: ClaimedJob) -> dict[str, Any]:
        """The job's payload; PermanentJobError if it is not a JSON object."""
        try:
            payload = json.loads(job.payload)
        except ValueError as exc:
            raise PermanentJobError(f"the payload is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise PermanentJobError("the payload is not a JSON object")
        return payload

    async def record(
        self,
        bound: structlog.stdlib.BoundLogger,
        what: str,
        fn: Callable[[AsyncSession, datetime], Awaitable[T]],
    ) -> T | None:
        """Run ``fn(session, now)`` in its own transaction, shielded from cancellation (an
        outcome half-recorded would be lost); None if the database refused."""

        async def record() -> T:
            async with self.container.db.transaction() as session:
                return await fn(session, self.container.clock.now())

        try:
            return await asyncio.shield(record())
        except Exception:
            # The job stays running until its lease lapses, then runs again: harmless,
            # handlers are idempotent.
            bound.exception("job_outcome_not_recorded", step=what)
            return None

    async def _incident_opened(self, incident: IncidentInfo) -> None:
        log.error(
            "job_failed_incident_opened",
            incident_id=incident.id,
            job_id=incident.job_id,
            kind=incident.kind,
            attempts=incident.attempts,
            error=incident.error,
        )
        for hook in self.registry.incident_hooks():
            try:
                await hook(self.container, incident)
            except Exception:
                log.exception("incident_hook_failed", incident_id=incident.id, hook=repr(hook))

    @asynccontextmanager
    async def lease_kept(
        self, renew: Callable[[AsyncSession, datetime], Awaitable[bool]], **what: str
    ) -> AsyncIterator[None]:
        """Renew the lease every third of its length while the body runs.

        The keeper is stopped through an event, not cancelled: a renewal under way when the
        body ends finishes its statement first (a cancellation inside a statement can leave
        SQLite's connection close awaiting forever, as jobs/background.py says)."""
        done = asyncio.Event()

        async def keep() -> None:
            while True:
                await pause(done, self.lease.total_seconds() / 3)
                if done.is_set():
                    return
                try:
                    async with self.container.db.transaction() as session:
                        held = await renew(session, self.container.clock.now())
                except Exception:
                    log.warning("lease_renewal_failed", exc_info=True, **what)
                    continue
                if not held:
                    log.warning("lease_lost", **what)
                    return

        keeper = asyncio.create_task(keep())
        try:
            yield
        finally:
            done.set()
            # If this task is cancelled while it waits, the keeper still ends after its
            # renewal: it sees the event at once.
            await asyncio.wait({keeper})

    # ---- running a sweep --------------------------------------------------------------------

    async def run_sweep(self, sweep: sweeps.ClaimedSweep) -> None:
        spec = sweep.spec
        bound = log.bind(sweep=spec.name)
        ctx = SweepContext(
            container=self.container,
            name=spec.name,
            started_at=sweep.started_at,
            previous_run_at=sweep.previous_run_at,
            worker_id=self.worker_id,
        )
        started = time.monotonic()
        error: str | None = None
        result: int | None = None
        try:
            timeout = spec.timeout.total_seconds() if spec.timeout else None
            keep = self.lease_kept(
                lambda s, now: sweeps.renew(s, sweep, now=now, lease=self.lease), sweep=spec.name
            )
            async with keep, asyncio.timeout(timeout):
                result = await spec.fn(ctx)
        except asyncio.CancelledError:
            # Left leased: it is due again once the lease lapses.
            raise
        except Exception as exc:
            error = describe(exc)
        await self.record(
            bound, "sweep", lambda s, now: sweeps.finish(s, sweep, now=now, error=error)
        )
        elapsed_ms = round((time.monotonic() - started) * 1000)
        if error is None:
            self.stats.sweeps += 1
            bound.info("sweep_ran", result=result, duration_ms=elapsed_ms)
        else:
            self.stats.sweeps_failed += 1
            bound.error("sweep_failed", error=error, duration_ms=elapsed_ms)

    # ---- the loop ---------------------------------------------------------------------------

    async def run(
        self,
        *,
        concurrency: int,
        stop_event: asyncio.Event,
        poll_interval: float = 1.0,
        grace: float = 30.0,
    ) -> WorkerStats:
        """Keep up to ``concurrency`` jobs running until ``stop_event`` is set."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        running: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop_event.wait())
        steps = (
            asyncio.create_task(self._steps_until(stop_event, poll_interval))
            if self.steps
            else None
        )
        try:
            while not stop_event.is_set():
                free = concurrency - len(running)
                filled = free == 0
                if free > 0:
                    try:
                        work, taken = await self._claim(free)
                    except Exception:
                        log.exception("job_claim_failed", worker=self.worker_id)
                        work, taken = [], 0
                    for run in work:
                        running.add(asyncio.create_task(_call(run)))
                    # A full claim means more may be due: claim again at once if slots are
                    # free (a batch of jobs takes one).
                    filled = taken >= free
                    if filled and len(running) < concurrency:
                        continue
                # Wake on: a job finishing, the stop signal, or the next poll.
                await asyncio.wait(
                    [*running, stopping],
                    timeout=None if filled else poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                running = {t for t in running if not t.done()}
            if running:
                log.info("worker_stopping", worker=self.worker_id, running=len(running))
                _, pending = await asyncio.wait(running, timeout=grace)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        except asyncio.CancelledError:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        finally:
            stopping.cancel()
            with suppress(asyncio.CancelledError):
                await stopping
            if steps is not None:
                steps.cancel()
                with suppress(asyncio.CancelledError):
                    await steps
        return self.stats


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _call(run: Callable[[], Awaitable[None]]) -> None:
    try:
        await run()
    except asyncio.CancelledError:
        raise
    except Exception:  # run_job / run_sweep record their own failures; this is a bug guard
        log.exception("worker_task_crashed")


async def run_once(
    container: Container,
    *,
    registry: Registry | None = None,
    kinds: Collection[str] | None = None,
    limit: int = BATCH,
    worker_id: str | None = None,
) -> int:
    """Claim due sweeps and up to ``limit`` due jobs, run them; returns how many ran."""
    worker = Worker(container, registry=registry, kinds=kinds, worker_id=worker_id or _PROCESS_ID)
    return await worker.tick(limit)


async def run_forever(
    container: Container,
    *,
    concurrency: int,
    stop_event: asyncio.Event,
    registry: Registry | None = None,
    kinds: Collection[str] | None = None,
    poll_interval: float = 1.0,
    grace: float = 30.0,
) -> WorkerStats:
    """Run jobs ``concurrency`` at a time until ``stop_event`` is set; returns the counts."""
    worker = Worker(container, registry=registry, kinds=kinds)
    return await worker.run(
        concurrency=concurrency, stop_event=stop_event, poll_interval=poll_interval, grace=grace
    )


#: ``run_once``'s identity when none is given (the serving process's in-process worker).
_PROCESS_ID = new_worker_id()
