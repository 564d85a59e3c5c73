"""Who runs what: job handlers per kind, periodic sweeps, and incident hooks.

A domain module exposes a ``register`` function; the composition root
(``escrowd.bootstrap.registries``) calls it with the process's :class:`Registry`, so every
worker and every server runs the same handlers::

    from escrowd.jobs import JobContext, Registry

    async def expire(ctx: JobContext, payload: dict[str, Any]) -> None:
        async with ctx.container.db.transaction() as session:
            ...  # look the escrow up; do nothing if it is no longer awaiting payment

    def register(jobs: Registry) -> None:
        jobs.add_handler("escrow.expire", expire)
        jobs.add_sweep("escrows.payment_windows", timedelta(minutes=1), find_lapsed)

A handler opens its own unit of work (``async with ctx.container.db.transaction()``); its
writes commit before the job is marked succeeded, so a worker that dies in between makes the
job run again. **A handler must therefore be idempotent**: running it twice must leave the same
result as running it once (check the current state first; use idempotency keys derived from
the job's payload for provider calls). Never call the payment provider while a transaction is
open: commit first, then call (on SQLite the in-process sandbox needs the write lock the open
transaction holds). Raising retries the job with backoff (``PermanentJobError``: fails it at
once); a job out of attempts opens an incident. ``timeout`` bounds one attempt (None: no
limit).

A sweep (``async def fn(ctx: SweepContext) -> int | None``) runs once per interval across all
workers: the schedule lives in the ``sweeps`` table, and a dead worker's run is taken over when
its lease lapses, so a sweep, too, must be idempotent. Keep sweeps short: find the due objects
and ``enqueue`` a dedupe-keyed job for each, so each object's work gets its own retries and
incident.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from escrowd.bootstrap import Container

#: A handler that runs longer than this is stopped and the attempt counts as failed.
DEFAULT_TIMEOUT = timedelta(minutes=10)
#: How many jobs of a batch kind one claim may take for one batch (one concurrency slot).
DEFAULT_BATCH_SIZE = 25

Payload = dict[str, Any]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,99}$")


class PermanentJobError(Exception):
    """Raise from a handler when no retry can help (bad payload, object gone for good):
    the job fails at once and opens an incident instead of using up its retries."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    kind: str
    #: This attempt's number, from 1.
    attempt: int
    max_attempts: int
    dedupe_key: str | None
    run_at: datetime
    created_at: datetime

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets besides its payload."""

    container: Container
    job: JobInfo
    worker_id: str

    def now(self) -> datetime:
        return self.container.clock.now()


#: ``async def handler(ctx, payload) -> None``. It must be idempotent (see the module docstring).
Handler = Callable[[JobContext, Payload], Awaitable[None]]
#: ``async def handler(ctxs, payloads) -> outcomes``: several claimed jobs of one kind at once,
#: one outcome per job in their order: None (done) or the exception its attempt failed with
#: (``PermanentJobError`` fails it at once). Raising fails every job of the batch.
BatchHandler = Callable[
    [Sequence[JobContext], Sequence[Payload]], Awaitable[Sequence[BaseException | None]]
]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    kind: str
    fn: Handler
    timeout: timedelta | None
    #: Successes are recorded several jobs to one transaction (see ``add_handler``).
    complete_in_batches: bool = False
    #: Runs the jobs of this kind claimed together in one call (see ``add_handler``).
    batch: BatchHandler | None = None
    #: With ``batch``: how many jobs of this kind one claim may take for one batch.
    batch_size: int = 1


@dataclass(frozen=True, slots=True)
class SweepContext:
    container: Container
    name: str
    #: When this run was claimed (the injected clock's time).
    started_at: datetime
    #: When the previous run started, or None for the first run ever.
    previous_run_at: datetime | None
    worker_id: str


#: ``async def sweep(ctx) -> int | None``: returning a count logs it ("found 3 lapsed").
SweepFn = Callable[[SweepContext], Awaitable[int | None]]


@dataclass(frozen=True, slots=True)
class SweepSpec:
    name: str
    every: timedelta
    fn: SweepFn
    timeout: timedelta | None


@dataclass(frozen=True, slots=True)
class IncidentInfo:
    id: str
    job_id: str
    kind: str
    error: str
    attempts: int
    created_at: datetime


#: Called after an incident's transaction commits (the admin notification goes here).
IncidentHook = Callable[["Container", IncidentInfo], Awaitable[None]]

H = TypeVar("H", bound=Handler)


def check_name(what: str, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(
            f"a {what} name is 1-100 characters of a-z 0-9 _ . : - (starting with a letter "
            f"or digit); got {name!r}"
        )


@dataclass
class Registry:
    """Handlers, sweeps and incident hooks of one process (``Container.registries.jobs``)."""

    _handlers: dict[str, HandlerSpec] = field(default_factory=dict)
    _sweeps: dict[str, SweepSpec] = field(default_factory=dict)
    _hooks: list[IncidentHook] = field(default_factory=list)

    # ---- handlers ---------------------------------------------------------------------------

    def handler(
        self,
        kind: str,
        *,
        timeout: timedelta | None = DEFAULT_TIMEOUT,
        complete_in_batches: bool = False,
    ) -> Callable[[H], H]:
        """Decorator form of ``add_handler``."""

        def decorate(fn: H) -> H:
            self.add_handler(kind, fn, timeout=timeout, complete_in_batches=complete_in_batches)
            return fn

        return decorate

    def add_handler(
        self,
        kind: str,
        fn: Handler,
        *,
        timeout: timedelta | None = DEFAULT_TIMEOUT,
        complete_in_batches: bool = False,
        batch: BatchHandler | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Callable[[], None]:
        """Run ``fn`` for jobs of ``kind``; returns a function that removes it again.

        ``complete_in_batches``: the successes of jobs that finish together are recorded in
        one transaction. The cost: a worker that dies between a job's success and that
        transaction leaves it to run again, with every job that finished alongside it (up to
        the worker's running jobs, each batch's included), not one. Only for handlers whose
        rerun is harmless (an email resent with its own Message-ID, which mail clients show
        once).

        ``batch``: the jobs of this kind that one claim took are run by one call of it
        instead of one call of ``fn`` each (one read for all, one connection to a server),
        under one lease keeper and ``timeout``; ``fn`` still runs a job claimed alone. Each
        job keeps its own outcome: retries, incidents and idempotency are per job as ever.
        A batch takes one of the worker's concurrency slots for up to ``batch_size`` jobs, so
        one claim gathers many of them when many are due (a claim's fixed cost, its
        transaction, the handler's read and connection, is then shared by more jobs).
        """
        check_name("job kind", kind)
        if batch is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        existing = self._handlers.get(kind)
        if existing is not None and existing.fn is not fn:
            raise ValueError(f"job kind {kind!r} already has a handler: {existing.fn!r}")
        self._handlers[kind] = HandlerSpec(
            kind, fn, timeout, complete_in_batches, batch, batch_size if batch else 1
        )
        return lambda: self.remove_handler(kind)

    def remove_handler(self, kind: str) -> None:
        self._handlers.pop(kind, None)

    def get(self, kind: str) -> HandlerSpec | None:
        return self._handlers.get(kind)

    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def batch_sizes(self) -> dict[str, int]:
        """The kinds run in batches, each with how many jobs one claim may take for one."""
        return {k: s.batch_size for k, s in self._handlers.items() if s.batch is not None}

    # ---- sweeps -----------------------------------------------------------------------------

    def add_sweep(
        self,
        name: str,
        every: timedelta,
        fn: SweepFn,
        *,
        timeout: timedelta | None = DEFAULT_TIMEOUT,
    ) -> Callable[[], None]:
        """Run ``fn`` once per ``every`` across all workers; returns a remover."""
        check_name("sweep", name)
        if every < timedelta(seconds=1):
            raise ValueError(f"a sweep runs at most once a second; got every={every}")
        existing = self._sweeps.get(name)
        if existing is not None and existing.fn is not fn:
            raise ValueError(f"a sweep named {name!r} is already registered: {existing.fn!r}")
        self._sweeps[name] = SweepSpec(name, every, fn, timeout)
        return lambda: self.remove_sweep(name)

    def remove_sweep(self, name: str) -> None:
        self._sweeps.pop(name, None)

    def sweep(self, name: str) -> SweepSpec | None:
        return self._sweeps.get(name)

    def sweeps(self) -> tuple[SweepSpec, ...]:
        return tuple(self._sweeps.values())

    # ---- incident hooks ---------------------------------------------------------------------

    def add_incident_hook(self, hook: IncidentHook) -> Callable[[], None]:
        """Call ``hook(container, incident)`` after each incident opens; returns a remover.

        A hook's exception is logged and does not affect the job or other hooks.
        """
        self._hooks.append(hook)
        return lambda: self.remove_incident_hook(hook)

    def remove_incident_hook(self, hook: IncidentHook) -> None:
        if hook in self._hooks:
            self._hooks.remove(hook)

    def incident_hooks(self) -> tuple[IncidentHook, ...]:
        return tuple(self._hooks)
