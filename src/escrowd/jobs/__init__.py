"""Outbox jobs: enqueue work in the transaction that needs it; workers run it later.

- ``enqueue(session, clock=…, kind=…, payload=…, run_at=…, dedupe_key=…)`` in the caller's
  unit of work (``enqueue_many(session, clock=…, jobs=[NewJob(…), …])`` for several in one
  INSERT); ``cancel(session, dedupe_key)`` for a timer that no longer applies.
- ``Registry.add_handler("kind", fn)`` runs ``async (ctx: JobContext, payload) -> None``
  (idempotent); ``add_sweep(name, every, fn)`` runs ``fn`` once per interval across all
  workers; ``add_incident_hook(hook)`` is called when a job fails for good. The process's
  registry is ``Container.registries.jobs``, filled by ``escrowd.bootstrap.registries``.
- ``run_once(container)`` / ``run_forever(container, concurrency=…, stop_event=…)`` (worker.py).

Operators: docs/operations.md. Tables: jobs, incidents, sweeps (migration 0007).
"""

from escrowd.jobs.registry import (
    IncidentInfo,
    JobContext,
    JobInfo,
    PermanentJobError,
    Registry,
    SweepContext,
)
from escrowd.jobs.service import (
    DEFAULT_MAX_ATTEMPTS,
    NewJob,
    cancel,
    enqueue,
    enqueue_many,
)

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "IncidentInfo",
    "JobContext",
    "JobInfo",
    "NewJob",
    "PermanentJobError",
    "Registry",
    "SweepContext",
    "cancel",
    "enqueue",
    "enqueue_many",
]
