"""The ``notifications.events`` sweep: new events → notifications → email jobs.

Nothing on the request path: the sweep reads the events table past its cursor, asks the rules
(``domain.RULES``) who is concerned, and writes each notification with ``ON CONFLICT DO
NOTHING`` on (event, user, type) — so running twice, or concurrently, makes each once. Only
rows this run inserted get an email job, in the same transaction, so an email is enqueued
exactly once too.

The cursor never passes an event younger than ``SETTLE``: event ids are taken when an event
is recorded, and a transaction that commits later can add an id *below* ones already read.
Events inside that window are read again next time (the unique constraint makes that free of
duplicates; an event this process handled is passed over after its id is read, ``Memo``)
until they are old enough to leave behind for good. A run reads on past that
window, so a burst of young events never hides the ones after it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from escrowd.clock import Clock
from escrowd.db.inserts import insert_new
from escrowd.db.lists import fixed
from escrowd.escrows.models import Allocation, Escrow
from escrowd.events.models import Event
from escrowd.events.service import first_id_since
from escrowd.ids import Prefix, has_prefix, new_id
from escrowd.jobs import service as jobs
from escrowd.jobs.registry import Registry, SweepContext
from escrowd.logging import get_logger
from escrowd.notifications import emails
from escrowd.notifications.domain import RULES, Draft, drafts_for
from escrowd.notifications.models import (
    Notification,
    NotificationCursor,
    NotificationPreference,
)
from escrowd.users.models import User
from escrowd.users.organizations.models import Membership

if TYPE_CHECKING:
    from escrowd.bootstrap import Container

#: The event types that have notification rules, bound one by one (``escrowd.db.lists``).
_RULE_TYPES = fixed(sorted(RULES))

log = get_logger(__name__)

NAME = "notifications.events"
EVERY = timedelta(seconds=5)
#: How long a transaction may take between recording an event and committing it.
SETTLE = timedelta(minutes=2)
#: How far back ``notify_new`` reads: an event recorded earlier than this and committed only
#: now (by a transaction that long; escrowd's last milliseconds) is the sweep's, at most
#: ``EVERY`` later.
RECENT = timedelta(seconds=3)
#: Events read per transaction.
BATCH = 500
#: Batches per run: a backlog is worked off over several runs, each of them short.
MAX_BATCHES = 20


@dataclass(frozen=True, slots=True)
class Made:
    id: str
    user_id: str
    type: str


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def _cursor(session: AsyncSession) -> str:
    found = await session.scalar(
        select(NotificationCursor.event_id).where(NotificationCursor.name == NAME)
    )
    return found or ""


async def _advance(session: AsyncSession, event_id: str, now: datetime) -> None:
    await session.execute(
        _insert(session)(NotificationCursor)
        .values(name=NAME, event_id="", updated_at=now)
        .on_conflict_do_nothing(index_elements=[NotificationCursor.name])
    )
    # Only forwards: a slower concurrent run must not move the cursor back.
    await session.execute(
        update(NotificationCursor)
        .where(NotificationCursor.name == NAME, NotificationCursor.event_id < event_id)
        .values(event_id=event_id, updated_at=now)
    )


async def _users_of(session: AsyncSession, parties: set[str]) -> dict[str, list[str]]:
    """Each party's users: a user is themself (if they exist), an organization its admins."""
    users = [p for p in parties if has_prefix(p, Prefix.user)]
    orgs = [p for p in parties if has_prefix(p, Prefix.organization)]
    out: dict[str, list[str]] = {p: [] for p in parties}
    if users:
        for user_id in await session.scalars(select(User.id).where(User.id.in_(users))):
            out[user_id].append(user_id)
    if orgs:
        admins = await session.execute(
            select(Membership.organization_id, Membership.user_id)
            .where(Membership.organization_id.in_(orgs), Membership.role == "admin")
            .order_by(Membership.user_id)
        )
        for org_id, user_id in admins.all():
            out[org_id].append(user_id)
    return out


def _rows(
    event: Event, drafts: Sequence[Draft], users: dict[str, list[str]]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for draft in drafts:
        for party in draft.parties:
            for user_id in users.get(party, ()):
                # A user who is both payer and payee (or admin of two payees) gets one.
                if (user_id, draft.type) in seen:
                    continue
                seen.add((user_id, draft.type))
                rows.append(
                    {
                        "id": new_id(Prefix.notification),
                        "user_id": user_id,
                        "type": draft.type.value,
                        "event_id": event.id,
                        "object_type": event.object_type,
                        "object_id": event.object_id,
                        "title": draft.title,
                        "body": draft.body,
                        "read_at": None,
                        "created_at": event.created_at,
                    }
                )
    return rows


async def _opted_out(session: AsyncSession, made: Sequence[Made]) -> set[tuple[str, str]]:
    users = {m.user_id for m in made}
    rows = await session.execute(
        select(NotificationPreference.user_id, NotificationPreference.type).where(
            NotificationPreference.user_id.in_(users), NotificationPreference.email.is_(False)
        )
    )
    return {(r.user_id, r.type) for r in rows.all()}


async def _with_parties(session: AsyncSession, objects: list[Any]) -> list[Any]:
    """Dispute objects name their escrow, not its parties: add the escrow's payer and payees
    (one query per batch) so both sides hear of a dispute, not only its opener."""
    wanted = {
        o["escrow"]
        for o in objects
        if isinstance(o, dict) and o.get("object") == "dispute" and isinstance(o.get("escrow"), str)
    }
    if not wanted:
        return objects
    rows = await session.execute(
        select(Escrow.id, Escrow.payer_id, Allocation.payee_id)
        .outerjoin(Allocation, Allocation.escrow_id == Escrow.id)
        .where(Escrow.id.in_(sorted(wanted)))
    )
    parties: dict[str, tuple[str, list[str]]] = {}
    for escrow_id, payer, payee in rows:
        _, payees = parties.setdefault(escrow_id, (payer, []))
        if payee and payee not in payees:
            payees.append(payee)
    out = []
    for o in objects:
        found = parties.get(str(o.get("escrow"))) if isinstance(o, dict) else None
        if found is not None and o.get("object") == "dispute":
            o = {**o, "payer": found[0], "payees": found[1]}
        out.append(o)
    return out


def _settled(event: Any, now: datetime, wall: datetime) -> bool:
    """Old enough that no transaction still open can commit an event id below it.

    Commit lag is real time, and an event id is taken from the real clock (a ULID): an id
    older than ``SETTLE`` by the wall clock is settled. So is one whose ``created_at`` is
    older than ``SETTLE`` by escrowd's clock, which is how a test says that time has passed.
    """
    taken = ULID.from_str(event.id.partition("_")[2]).datetime
    return taken <= wall - SETTLE or event.created_at <= now - SETTLE


@dataclass(frozen=True, slots=True)
class Batch:
    read: int
    made: int
    #: The last event id read when there may be more after it, else None.
    after: str | None
    #: Whether every event read was settled (the cursor moved over all of them).
    settled: bool
    #: The events this batch made notifications for (or found needing none).
    handled: tuple[str, ...] = ()


class Memo:
    """The events this process has already handled: a cache that spares re-reading the
    unsettled events (read again on every run until they are older than ``SETTLE``) in full.
    Only a cache: the unique (event, user, type) still makes each notification once, whatever
    another process or a lost memo does."""

    #: Ids kept at most; past it the memo starts again (the cost: one full re-read).
    LIMIT = 200_000

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_ids: Sequence[str], *, below: str) -> None:
        """Remember ``event_ids``; forget those at or below the cursor ``below``, which no
        run reads again."""
        if len(self._ids) + len(event_ids) > self.LIMIT:
            self._ids.clear()
        if below:
            self._ids = {i for i in self._ids if i > below}
        self._ids.update(event_ids)


async def notify_batch(
    session: AsyncSession,
    *,
    clock: Clock,
    email: bool,
    limit: int = BATCH,
    after: str | None = None,
    move_cursor: bool = True,
    memo: Memo | None = None,
) -> Batch:
    """One batch in the caller's transaction, from the cursor or from ``after``.

    The stored cursor moves over the settled prefix of what was read, and only when
    ``move_cursor`` says that nothing unsettled lies between it and this batch. Events in
    ``memo`` are passed over; the ones this batch handled are in ``Batch.handled``, for the
    caller to add to the memo once the transaction has committed.
    """
    now = clock.now()
    start = after if after is not None else await _cursor(session)
    # Ids and dates first: the events a memo says were handled are not read in full.
    events = list(
        (
            await session.execute(
                select(Event.id, Event.created_at)
                .where(Event.id > start, Event.type.in_(_RULE_TYPES))
                .order_by(Event.id)
                .limit(limit)
            )
        ).all()
    )
    if not events:
        return Batch(0, 0, None, True)
    fresh = [e.id for e in events if memo is None or e.id not in memo]
    full = (
        list(
            (
                await session.scalars(select(Event).where(Event.id.in_(fresh)).order_by(Event.id))
            ).all()
        )
        if fresh
        else []
    )
    wanted: list[tuple[Event, list[Draft]]] = []
    objects = await _with_parties(session, [json.loads(e.data) for e in full])
    for event, obj in zip(full, objects, strict=True):
        try:
            previous = json.loads(event.previous_attributes) if event.previous_attributes else None
            drafts = drafts_for(event.type, obj, previous)
        except (ValueError, KeyError, TypeError, AttributeError):
            # An event a rule cannot read (a shape written by a newer or older escrowd) must
            # not hold up every notification after it: it is logged and passed over.
            log.exception("notification_rule_failed", event_id=event.id, event_type=event.type)
            continue
        if drafts:
            wanted.append((event, drafts))
    parties = {p for _, drafts in wanted for d in drafts for p in d.parties}
    users = await _users_of(session, parties) if parties else {}
    rows = [row for event, drafts in wanted for row in _rows(event, drafts, users)]
    made: list[Made] = []
    if rows:
        inserted = await insert_new(
            session,
            Notification,
            rows,
            conflict=("event_id", "user_id", "type"),
            returning=("id", "user_id", "type"),
        )
        made = [Made(r.id, r.user_id, r.type) for r in inserted]
    if email and made:
        out = await _opted_out(session, made)
        await jobs.enqueue_many(
            session,
            clock=clock,
            jobs=[
                jobs.NewJob(
                    emails.KIND,
                    {"notification": m.id},
                    dedupe_key=emails.dedupe_key(m.id),
                    max_attempts=emails.MAX_ATTEMPTS,
                )
                for m in made
                if (m.user_id, m.type) not in out
            ],
        )
    # The cursor moves over the settled prefix only (events are in id order).
    wall = datetime.now(UTC)
    last = None
    for read in events:
        if not _settled(read, now, wall):
            break
        last = read.id
    if last is not None and move_cursor:
        await _advance(session, last, now)
    more = events[-1].id if len(events) == limit else None
    return Batch(len(events), len(made), more, last == events[-1].id, tuple(fresh))


#: What this process has handled (the memo of ``notify_new`` and of the sweep).
_PROCESS_MEMO = Memo()


async def notify(ctx: SweepContext) -> int:
    """Notifications for the events since the cursor; how many were made.

    The events this process handled already are passed over, as ``notify_new`` passes them
    (one memo per process): the events younger than ``SETTLE`` are read again on every run,
    and reading each in full, every five seconds for two minutes, cost about as much as
    making its notifications. What another process handled is read once more here, and
    makes nothing twice."""
    return await notify_events(
        ctx.container, email=ctx.container.settings.email_enabled, memo=_PROCESS_MEMO
    )


async def notify_events(
    container: Container, *, email: bool, memo: Memo | None = None, since: str = ""
) -> int:
    """Batches from the cursor until none is left (or ``MAX_BATCHES``); how many were made.
    With a ``memo``, the events in it are passed over and the ones handled added to it.
    ``since``: read from that id when it is past the cursor (and leave the cursor where it is:
    what lies between them is the sweep's)."""
    total = 0
    after: str | None = None
    settled = True
    cursor = ""
    for _ in range(MAX_BATCHES):
        async with container.db.transaction() as session:
            if after is None and (memo is not None or since):
                cursor = await _cursor(session)
                if since > cursor:
                    after, settled = since, False
            batch = await notify_batch(
                session,
                clock=container.clock,
                email=email,
                after=after,
                move_cursor=settled,
                memo=memo,
            )
        if memo is not None:
            memo.add(batch.handled, below=cursor)
        total += batch.made
        settled = settled and batch.settled
        if batch.after is None:
            break
        after = batch.after
    return total


async def notify_new(container: Container) -> int:
    """The sweep's work as a background step, run as often as the other steps: new events
    become notifications (and email jobs) within a moment rather than the sweep's interval.
    Events this process handled already are passed over (``Memo``); how many were made.

    It reads only the events recorded in the last ``RECENT`` (by their ids): the cursor stays
    two minutes behind (``SETTLE``), and reading that whole window again on every run (it runs
    again at once while it finds work) grew with the traffic. The sweep still reads the whole
    window every ``EVERY``, for an event whose transaction committed later than ``RECENT``."""
    return await notify_events(
        container,
        email=container.settings.email_enabled,
        memo=_PROCESS_MEMO,
        since=first_id_since(datetime.now(UTC) - RECENT),
    )


def register(jobs_registry: Registry) -> None:
    jobs_registry.add_sweep(NAME, every=EVERY, fn=notify)
    emails.register(jobs_registry)
