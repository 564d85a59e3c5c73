"""Scheduled sweeps for escrows (importing this module registers them).

Each sweep finds what is due and enqueues one dedupe-keyed job per escrow (tasks.py), so each
escrow's work gets its own retries and, if it keeps failing, its own incident:

- ``escrows.payment_windows`` (every 30 s): unpaid escrows past ``expires_at`` →
  ``escrow.expire``;
- ``escrows.payment_window_reminders`` (30 s): unpaid escrows within
  ``payment_window_reminder_seconds`` of ``expires_at``, not reminded yet →
  ``escrow.payment_window_reminder``;
- ``escrows.authorizations`` (5 min): authorizations within a day of ``capture_before`` →
  ``escrow.authorization_deadline``, or ``escrow.expire`` once it passed;
- ``escrows.inspections`` (1 min): held escrows past ``inspection_ends_at`` →
  ``escrow.auto_release``;
- ``escrows.janitor`` (1 min): operations ``pending`` or ``unknown`` for over a minute →
  ``escrow.settle_operation``.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.escrows.models import OPEN_OPS, Escrow, Operation
from escrowd.escrows.payments import AUTHORIZATION_VALIDITY, authorization_deadline
from escrowd.escrows.states import RULES, Action, State
from escrowd.escrows.tasks import (
    AUTO_RELEASE_JOB,
    DEADLINE_JOB,
    EXPIRE_JOB,
    REMIND_JOB,
    SETTLE_JOB,
)
from escrowd.events import EventType
from escrowd.events.models import Event
from escrowd.jobs import Registry, SweepContext, enqueue

#: Act on an authorization this long before it ends.
AUTHORIZATION_MARGIN = timedelta(days=1)
#: An operation left open this long is no longer in a live request: the janitor takes it.
JANITOR_GRACE = timedelta(minutes=1)
#: Most objects one sweep run enqueues (the next run takes the rest).
BATCH = 500


async def _enqueue_each(
    session: AsyncSession, clock: Clock, kind: str, ids: list[str], field: str = "escrow_id"
) -> int:
    made = 0
    for value in ids:
        job = await enqueue(
            session, clock=clock, kind=kind, payload={field: value}, dedupe_key=f"{kind}:{value}"
        )
        made += job is not None
    return made


async def payment_windows(ctx: SweepContext) -> int:
    waiting = (State.requires_payment.value, State.requires_action.value)
    async with ctx.container.db.transaction() as s:
        ids = list(
            (
                await s.scalars(
                    select(Escrow.id)
                    .where(Escrow.status.in_(waiting), Escrow.expires_at <= ctx.started_at)
                    .limit(BATCH)
                )
            ).all()
        )
        return await _enqueue_each(s, ctx.container.clock, EXPIRE_JOB, ids)


async def payment_window_reminders(ctx: SweepContext) -> int:
    """Escrows due a reminder: still unpaid, ``expires_at`` within the lead time and not past,
    a window longer than the lead (a shorter one's ``escrow.created`` is its reminder), and no
    reminder written yet. The job's dedupe key and its check under the escrow's lock make it
    one reminder per escrow however many sweeps and workers find it."""
    lead = ctx.container.settings.payment_window_reminder_seconds
    if lead == 0:
        return 0
    now = ctx.started_at
    waiting = (State.requires_payment.value, State.requires_action.value)
    written = exists().where(
        Event.object_id == Escrow.id,
        Event.type == EventType.escrow_payment_window_expiring.value,
    )
    async with ctx.container.db.transaction() as s:
        ids = list(
            (
                await s.scalars(
                    select(Escrow.id)
                    .where(
                        Escrow.status.in_(waiting),
                        Escrow.expires_at > now,
                        Escrow.expires_at <= now + timedelta(seconds=lead),
                        Escrow.payment_window_seconds > lead,
                        ~written,
                    )
                    .limit(BATCH)
                )
            ).all()
        )
        return await _enqueue_each(s, ctx.container.clock, REMIND_JOB, ids)


async def authorizations(ctx: SweepContext) -> int:
    horizon = ctx.started_at + AUTHORIZATION_MARGIN
    async with ctx.container.db.transaction() as s:
        rows = (
            await s.scalars(
                select(Escrow)
                .where(
                    Escrow.status == State.authorized.value,
                    (Escrow.capture_before <= horizon)
                    | (
                        Escrow.capture_before.is_(None)
                        & (Escrow.authorized_at <= horizon - AUTHORIZATION_VALIDITY)
                    ),
                )
                .limit(BATCH)
            )
        ).all()
        lapsed: list[str] = []
        near: list[str] = []
        for e in rows:
            deadline = authorization_deadline(e)
            (lapsed if deadline is not None and deadline <= ctx.started_at else near).append(e.id)
        clock = ctx.container.clock
        return await _enqueue_each(s, clock, EXPIRE_JOB, lapsed) + await _enqueue_each(
            s, clock, DEADLINE_JOB, near
        )


async def inspections(ctx: SweepContext) -> int:
    open_states = [s.value for s in RULES[Action.release].sources]
    async with ctx.container.db.transaction() as s:
        ids = list(
            (
                await s.scalars(
                    select(Escrow.id)
                    .where(
                        Escrow.status.in_(open_states),
                        Escrow.inspection_ends_at <= ctx.started_at,
                    )
                    .limit(BATCH)
                )
            ).all()
        )
        return await _enqueue_each(s, ctx.container.clock, AUTO_RELEASE_JOB, ids)


async def janitor(ctx: SweepContext) -> int:
    async with ctx.container.db.transaction() as s:
        keys = list(
            (
                await s.scalars(
                    select(Operation.key)
                    .where(
                        Operation.status.in_(OPEN_OPS),
                        Operation.updated_at <= ctx.started_at - JANITOR_GRACE,
                    )
                    .limit(BATCH)
                )
            ).all()
        )
        return await _enqueue_each(s, ctx.container.clock, SETTLE_JOB, keys, field="key")


SWEEPS = (
    ("escrows.payment_windows", timedelta(seconds=30), payment_windows),
    ("escrows.payment_window_reminders", timedelta(seconds=30), payment_window_reminders),
    ("escrows.authorizations", timedelta(minutes=5), authorizations),
    ("escrows.inspections", timedelta(minutes=1), inspections),
    ("escrows.janitor", timedelta(minutes=1), janitor),
)


def register(jobs: Registry) -> None:
    for name, every, fn in SWEEPS:
        jobs.add_sweep(name, every, fn)
