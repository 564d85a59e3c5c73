"""The serving process's background work (``escrowd serve`` without ``--no-background``).

``run(container, stop=…, loops=…)`` runs, until ``stop`` is set, side by side:

- a :class:`~escrowd.jobs.worker.Worker` keeping up to ``job_concurrency`` claimed jobs
  running at once (and the sweeps as they come due);
- each :class:`Loop`: a step (processing stored inbound webhooks, the sandbox's deliveries,
  …) called again at once while it finds work, else after ``idle`` seconds, in ``copies``
  tasks of its own.

Every loop is its own task, so a slow step (a webhook handler waiting on the provider, a
batch of sandbox deliveries) never holds up the jobs or the other steps, as one loop taking
them in turn did. A step that raises is logged and called again after ``idle``.

Stopping is by the event, not by cancelling: each loop ends after the step it is in (an idle
one wakes at once), and the worker lets running jobs finish for ``grace`` seconds, then hands
the rest back to the queue (their attempt not counted), as ``escrowd worker`` does on Ctrl-C.
A cancellation could land inside a statement, and on SQLite the aiosqlite connection it then
has to close was seen never to finish closing, hanging the shutdown. ``stop(task, event)``
sets the event, waits for ``run`` and cancels it only as a last resort.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass

from escrowd.bootstrap import Container
from escrowd.jobs.registry import Registry
from escrowd.jobs.worker import Step, Worker, pause
from escrowd.logging import get_logger

log = get_logger(__name__)

#: Jobs the serving process runs at once (each holds a database connection while it records
#: its outcome; the pool keeps up to 20, shared with requests).
JOB_CONCURRENCY = 10
#: The pause of a loop whose last round found nothing to do.
IDLE_SECONDS = 0.2
#: How long jobs still running at a stop get to finish before they are handed back. Shorter
#: than ``escrowd worker``'s 30 s: a serving process is restarted with the API, and what
#: restarts it (Docker's 10 s, for one) may kill it soon after asking it to stop.
GRACE_SECONDS = 5.0
#: How long ``stop`` waits beyond the grace, for the hand-backs to be recorded and the steps
#: under way to return, before it cancels.
MARGIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Loop:
    """A step, run in ``copies`` loops at once (more than one only where the step's claims
    let concurrent callers take different work, e.g. with ``SKIP LOCKED``)."""

    step: Step
    copies: int = 1


async def run(
    container: Container,
    *,
    stop: asyncio.Event,
    loops: Sequence[Loop] = (),
    job_concurrency: int = JOB_CONCURRENCY,
    registry: Registry | None = None,
    kinds: Collection[str] | None = None,
    idle: float = IDLE_SECONDS,
    grace: float = GRACE_SECONDS,
) -> None:
    """Run the jobs and every loop until ``stop`` is set; then let running jobs finish for
    ``grace`` seconds and hand the rest back to the queue (their attempt not counted).
    Cancelling, the last resort, hands running jobs back at once."""
    worker = Worker(container, registry=registry, kinds=kinds)
    tasks = [asyncio.create_task(_jobs(worker, stop, job_concurrency, idle, grace))]
    for loop in loops:
        tasks.extend(
            asyncio.create_task(_repeat(container, loop.step, stop, idle))
            for _ in range(loop.copies)
        )
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


async def stop(
    task: asyncio.Task[None],
    event: asyncio.Event,
    *,
    within: float = GRACE_SECONDS + MARGIN_SECONDS,
) -> None:
    """Stop ``run``'s ``task`` through its ``event``; cancel it only if it has not returned
    ``within`` seconds (a step that never returns), and log that."""
    event.set()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning("background_work_cancelled", reason=f"still running after {within:g} s")
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=MARGIN_SECONDS)
        if not done:  # the process goes on shutting down; the task dies with its loop
            log.error("background_work_not_stopped", waited_s=within + MARGIN_SECONDS)
            return
    with suppress(asyncio.CancelledError):
        await task


async def _jobs(
    worker: Worker, stop: asyncio.Event, concurrency: int, idle: float, grace: float
) -> None:
    while not stop.is_set():
        try:
            await worker.run(
                concurrency=concurrency, stop_event=stop, poll_interval=idle, grace=grace
            )
        except Exception:  # a bug guard: Worker.run logs and survives its own failures
            log.exception("background_jobs_failed", worker=worker.worker_id)
            await pause(stop, idle)


async def _repeat(container: Container, step: Step, stop: asyncio.Event, idle: float) -> None:
    while not stop.is_set():
        try:
            busy = await step(container)
        except Exception:  # a failing step must not stop the others; it is logged
            log.exception("background_step_failed", step=getattr(step, "__name__", "?"))
            busy = 0
        if busy:
            await asyncio.sleep(0)  # let the other loops and the requests have their turn
        else:
            await pause(stop, idle)
