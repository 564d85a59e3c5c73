"""The serving process's background work (``escrowd serve`` without ``--no-background``).

``run(container, loops=…)`` runs, until cancelled, side by side:

- a :class:`~escrowd.jobs.worker.Worker` keeping up to ``job_concurrency`` claimed jobs
  running at once (and the sweeps as they come due);
- each :class:`Loop`: a step (processing stored inbound webhooks, the sandbox's deliveries,
  …) called again at once while it finds work, else after ``idle`` seconds, in ``copies``
  tasks of its own.

Every loop is its own task, so a slow step (a webhook handler waiting on the provider, a
batch of sandbox deliveries) never holds up the jobs or the other steps, as one loop taking
them in turn did. A step that raises is logged and called again after ``idle``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass

from escrowd.bootstrap import Container
from escrowd.jobs.registry import Registry
from escrowd.jobs.worker import Step, Worker
from escrowd.logging import get_logger

log = get_logger(__name__)

#: Jobs the serving process runs at once (each holds a database connection while it records
#: its outcome; the pool has 10 plus 10 overflow, shared with requests).
JOB_CONCURRENCY = 10
#: The pause of a loop whose last round found nothing to do.
IDLE_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Loop:
    """A step, run in ``copies`` loops at once (more than one only where the step's claims
    let concurrent callers take different work, e.g. with ``SKIP LOCKED``)."""

    step: Step
    copies: int = 1


async def run(
    container: Container,
    *,
    loops: Sequence[Loop] = (),
    job_concurrency: int = JOB_CONCURRENCY,
    registry: Registry | None = None,
    kinds: Collection[str] | None = None,
    idle: float = IDLE_SECONDS,
) -> None:
    """Run the jobs and every loop until cancelled; cancelling hands running jobs back to
    the queue (their attempt not counted)."""
    worker = Worker(container, registry=registry, kinds=kinds)
    tasks = [asyncio.create_task(_jobs(worker, job_concurrency, idle))]
    for loop in loops:
        tasks.extend(
            asyncio.create_task(_repeat(container, loop.step, idle)) for _ in range(loop.copies)
        )
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


async def _jobs(worker: Worker, concurrency: int, idle: float) -> None:
    never = asyncio.Event()  # the serving process stops it by cancelling
    while True:
        try:
            await worker.run(concurrency=concurrency, stop_event=never, poll_interval=idle)
        except Exception:  # a bug guard: Worker.run logs and survives its own failures
            log.exception("background_jobs_failed", worker=worker.worker_id)
            await asyncio.sleep(idle)


async def _repeat(container: Container, step: Step, idle: float) -> None:
    while True:
        try:
            busy = await step(container)
        except Exception:  # a failing step must not stop the others; it is logged
            log.exception("background_step_failed", step=getattr(step, "__name__", "?"))
            busy = 0
        await asyncio.sleep(0 if busy else idle)
