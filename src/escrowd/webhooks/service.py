"""Store verified deliveries once; process them later, one transaction per event.

Receiving and processing are split so the endpoint answers Stripe in milliseconds whatever the
handlers do: a slow or failing handler never makes Stripe retry (and re-send) a delivery that
was already stored.

Before a handler moves money or state it asks for the provider's own object
(``webhooks/verification.py``): the event's transaction is rolled back, the object fetched with
no lock held — from the provider the event came from (``container.providers``) — and the
handlers run again with it. An event the provider contradicts is marked
``rejected`` and opens an incident; nothing it claimed moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Select, Table, bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.bootstrap import Container
from escrowd.db.driver import autocommit_driver, placeholders
from escrowd.db.lists import fixed
from escrowd.jobs import incidents
from escrowd.logging import get_logger
from escrowd.providers.base import PaymentProvider
from escrowd.providers.paypal import events as paypal_events
from escrowd.providers.stripe import events as stripe_events
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.models import InboundWebhookEvent, WebhookStatus
from escrowd.webhooks.verification import (
    MISMATCH_INCIDENT,
    EventMismatch,
    VerificationRequired,
    fetch,
)

log = get_logger(__name__)

#: Waits after the 1st, 2nd, … failed attempt; after the last the event stays failed for an
#: admin to replay (requeue) once the cause is fixed.
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
_MAX_ERROR_CHARS = 2000

#: How to rebuild the neutral event from a stored raw body, per provider.
PARSERS: dict[str, Callable[[Any], ProviderEvent]] = {
    stripe_events.PROVIDER: stripe_events.parse_event,
    paypal_events.PROVIDER: paypal_events.parse_event,
}


async def store(
    container: Container, event: ProviderEvent, *, raw_body: bytes, headers: Mapping[str, str]
) -> bool:
    """Record a verified delivery; False when this provider event id was already stored.

    ``INSERT … ON CONFLICT DO NOTHING`` on the unique (provider, event_id) makes concurrent
    duplicates race-safe on both databases: one insert wins, the others see nothing inserted.
    """
    now = container.clock.now()
    values = {
        "provider": event.provider,
        "event_id": event.id,
        "type": event.provider_type,
        "kind": event.kind.value,
        "account": event.account,
        "object_id": event.object_id,
        "object_type": event.object_type,
        "event_created": event.created,
        "raw_body": raw_body,
        "headers": dict(headers),
        "received_at": now,
        "status": WebhookStatus.received.value,
        "attempts": 0,
        "next_attempt_at": now,
    }
    db = container.db
    if db.dialect == "postgresql":
        # One statement that commits on its own, straight to asyncpg (db/driver.py): every
        # delivery runs it, and SQLAlchemy's work around such an INSERT cost 1.0-1.5 ms of CPU
        # against 0.3 ms (bench/statement_paths.py).
        values["headers"] = json.dumps(values["headers"])
        async with autocommit_driver(db) as driver:
            inserted = await driver.fetchval(_STORE_SQL, *(values[c] for c in _STORE_COLUMNS))
        return inserted is not None
    stmt = (
        sqlite_insert(InboundWebhookEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(InboundWebhookEvent.id)
    )
    async with db.engine.begin() as conn:
        inserted = (await conn.execute(stmt)).scalar_one_or_none()
    return inserted is not None


_STORE_COLUMNS = (
    "provider",
    "event_id",
    "type",
    "kind",
    "account",
    "object_id",
    "object_type",
    "event_created",
    "raw_body",
    "headers",
    "received_at",
    "status",
    "attempts",
    "next_attempt_at",
)
_STORE_SQL = (
    f"INSERT INTO inbound_webhook_events ({', '.join(_STORE_COLUMNS)}) "  # noqa: S608 (constants)
    f"VALUES ({placeholders(len(_STORE_COLUMNS))}) "
    "ON CONFLICT (provider, event_id) DO NOTHING RETURNING id"
)


async def process_pending(
    container: Container, *, limit: int = 100, registry: HandlerRegistry | None = None
) -> int:
    """Dispatch due events to their handlers; returns how many events were settled."""
    registry = registry or container.registries.webhooks
    handled = await _ignore_unhandled(container, registry, limit=limit)
    while handled < limit and await _process_one(container, registry):
        handled += 1
    return handled


#: Received or failed: still to be processed (when its ``next_attempt_at`` has come).
_DUE = InboundWebhookEvent.status.in_(
    fixed((WebhookStatus.received.value, WebhookStatus.failed.value))
)


async def _ignore_unhandled(container: Container, registry: HandlerRegistry, *, limit: int) -> int:
    """Mark due events that no handler acts on ``ignored``, up to ``limit``, in one UPDATE
    (one transaction each would be most of the work when most events are of such kinds).

    Each is parsed first, as one at a time would be: a stored body that no longer parses is
    left to ``_process_one``, which marks it ``failed`` for an admin, not ``ignored``.
    """
    handled_kinds = [k.value for k in registry.kinds()]
    now = container.clock.now()
    e = InboundWebhookEvent
    q = (
        select(e.id, e.provider, e.raw_body)
        .where(
            _DUE,
            e.next_attempt_at <= now,
            e.kind.not_in(fixed(handled_kinds)),
        )
        .order_by(e.event_created, e.id)
        .limit(limit)
    )
    if container.db.dialect == "postgresql":
        q = q.with_for_update(skip_locked=True)  # another worker's rows are its own
    async with container.db.transaction() as s:
        ignored: list[int] = []
        for row in (await s.execute(q)).all():
            if _unhandled(registry, row.provider, row.raw_body):
                ignored.append(row.id)
        if ignored:
            await s.execute(
                update(e)
                .where(e.id.in_(ignored))
                .values(status=WebhookStatus.ignored.value, processed_at=now, next_attempt_at=None)
            )
    return len(ignored)


def _unhandled(registry: HandlerRegistry, provider: str, raw_body: bytes) -> bool:
    """Whether the stored body parses into an event no handler acts on (False when it does
    not parse: ``_process_one`` marks that one failed)."""
    try:
        event = PARSERS[provider](json.loads(raw_body))
    except Exception:
        return False
    return event.kind is EventKind.unknown or not registry.handlers_for(event.kind)


#: How many objects one event may need from the provider before it is given up as failing.
MAX_VERIFICATIONS = 4


class _NeedsTruth(Exception):  # noqa: N818  (control flow out of the event's transaction)
    def __init__(self, row_id: int, provider: str, request: VerificationRequired) -> None:
        super().__init__(str(request))
        self.row_id = row_id
        #: Whose event it is: the object is read from that provider (PayPal's from PayPal).
        self.provider = provider
        self.request = request


def _provider_of(container: Container, name: str) -> PaymentProvider:
    """The provider an event came from: its own objects are asked of it (a PayPal event's
    of PayPal), never of the default provider."""
    found = container.providers.get(name)
    if found is not None:
        return found
    if name == container.provider.name or name == stripe_events.PROVIDER:
        return container.provider
    raise RuntimeError(f"the event's provider {name!r} is not configured")


async def _process_one(container: Container, registry: HandlerRegistry) -> bool:
    claimed: list[int] = []
    verified: dict[tuple[str, str], object] = {}
    row_id: int | None = None
    for _ in range(MAX_VERIFICATIONS + 1):
        try:
            return await _claim_and_dispatch(
                container, registry, claimed, verified=verified, row_id=row_id
            )
        except _NeedsTruth as need:
            # The transaction is rolled back and no lock is held: ask the provider now.
            row_id, request = need.row_id, need.request
            claimed.clear()
            try:
                verified[(request.object_type, request.object_id)] = await fetch(
                    _provider_of(container, need.provider),
                    request.object_type,
                    request.object_id,
                    request.account,
                )
            except Exception as exc:
                await _record_failure(container, row_id, exc)
                return True
        except Exception as exc:
            if not claimed:
                raise
            # The transaction itself failed (at flush or commit, after the handlers): count the
            # attempt in a new one, or the same event would be retried at once, forever.
            await _record_failure(container, claimed[0], exc)
            return True
    assert row_id is not None
    await _record_failure(
        container, row_id, RuntimeError(f"more than {MAX_VERIFICATIONS} objects to verify")
    )
    return True


#: The next due event; or (``row_id``) the event whose objects were just fetched, taken again
#: unless it was settled meanwhile.
_NEXT = (
    select(InboundWebhookEvent)
    .where(_DUE, InboundWebhookEvent.next_attempt_at <= bindparam("now"))
    .order_by(InboundWebhookEvent.event_created, InboundWebhookEvent.id)
    .limit(1)
)
_AGAIN = select(InboundWebhookEvent).where(InboundWebhookEvent.id == bindparam("row_id"), _DUE)
#: By (again, PostgreSQL): each worker takes a different row and keeps it locked until the
#: event is settled. SQLite needs no lock: BEGIN IMMEDIATE makes this the only writer. The
#: statements are built once: every delivery is claimed, and building them per claim was a
#: measurable part of the serving process's CPU.
_CLAIM: Final = {
    (False, False): _NEXT,
    (True, False): _AGAIN,
    (False, True): _NEXT.with_for_update(skip_locked=True),
    (True, True): _AGAIN.with_for_update(),
}
_EVENTS_TABLE = cast(Table, InboundWebhookEvent.__table__)
#: An event's row updated: the SET clause is the parameters' columns besides ``row_id``.
_SETTLE: Final = update(_EVENTS_TABLE).where(_EVENTS_TABLE.c.id == bindparam("row_id"))


async def _settle(session: AsyncSession, row_id: int, **values: Any) -> None:
    """Set ``values`` on the event's row (its columns by name), by the prebuilt ``_SETTLE``."""
    await session.execute(_SETTLE, {"row_id": row_id, **values})


async def _claim_and_dispatch(
    container: Container,
    registry: HandlerRegistry,
    claimed: list[int],
    *,
    verified: dict[tuple[str, str], object],
    row_id: int | None,
) -> bool:
    db = container.db
    now = container.clock.now()
    claim = _CLAIM[(row_id is not None, db.dialect == "postgresql")]
    async with db.transaction() as s:
        row = (await s.scalars(claim, {"now": now, "row_id": row_id})).first()
        if row is None:
            return row_id is not None  # the re-taken event was settled by another worker
        row_id, attempts, provider = row.id, row.attempts, row.provider
        event_id, raw_body = row.event_id, row.raw_body
        # The row is settled below by a Core UPDATE, which the session's copy would not see:
        # out of the session, no flush can write that stale copy back over it.
        s.expunge(row)
        claimed.append(row_id)
        try:
            event = PARSERS[provider](json.loads(raw_body))
        except Exception as exc:  # stored before parsing rules changed; no retry will help
            await _settle(s, row_id, **_failure(exc, attempts + 1, now, give_up=True))
            log.error("webhook_unparseable", provider=provider, event_id=event_id)
            return True
        handlers = () if event.kind is EventKind.unknown else registry.handlers_for(event.kind)
        if not handlers:
            await _settle(
                s,
                row_id,
                status=WebhookStatus.ignored.value,
                processed_at=now,
                next_attempt_at=None,
            )
            return True
        event.verified.update(verified)
        try:
            # A savepoint: a failing handler's writes are undone, the failure mark is kept.
            async with s.begin_nested():
                for handler in handlers:
                    await handler(s, event, container.clock)
                await s.flush()  # surface the handlers' constraint errors here, not at commit
        except VerificationRequired as request:
            raise _NeedsTruth(row_id, provider, request) from None
        except EventMismatch as mismatch:
            await _reject(s, event, mismatch, row_id=row_id, attempts=attempts + 1, now=now)
            return True
        except Exception as exc:
            await _settle(s, row_id, **_failure(exc, attempts + 1, now))
            log.warning(
                "webhook_handler_failed",
                event_id=event.id,
                type=event.provider_type,
                attempts=attempts + 1,
                exc_info=exc,
            )
            return True
        await _settle(
            s,
            row_id,
            status=WebhookStatus.processed.value,
            attempts=attempts + 1,
            last_error=None,
            processed_at=now,
            next_attempt_at=None,
        )
    return True


async def _reject(
    session: AsyncSession,
    event: ProviderEvent,
    mismatch: EventMismatch,
    *,
    row_id: int,
    attempts: int,
    now: datetime,
) -> None:
    """Nothing moves; the event is kept as ``rejected`` and an admin sees both sides."""
    await _settle(
        session,
        row_id,
        status=WebhookStatus.rejected.value,
        attempts=attempts,
        last_error=mismatch.message[:_MAX_ERROR_CHARS],
        processed_at=now,
        next_attempt_at=None,
    )
    await incidents.open_incident(
        session,
        kind=MISMATCH_INCIDENT,
        subject=f"webhook:{event.provider}:{event.id}",
        error=mismatch.message,
        details=mismatch.details(event),
        now=now,
    )
    log.warning(
        "webhook_rejected",
        event_id=event.id,
        type=event.provider_type,
        account=event.account,
        reason=mismatch.message,
    )


async def _record_failure(container: Container, row_id: int, exc: Exception) -> None:
    now = container.clock.now()
    async with container.db.transaction() as s:
        q = select(InboundWebhookEvent).where(InboundWebhookEvent.id == row_id)
        if container.db.dialect == "postgresql":
            q = q.with_for_update()
        row = (await s.scalars(q)).one()
        for key, value in _failure(exc, row.attempts + 1, now).items():
            setattr(row, key, value)
    log.warning("webhook_processing_failed", row_id=row_id, exc_info=exc)


def _failure(
    exc: Exception, attempts: int, now: datetime, *, give_up: bool = False
) -> dict[str, Any]:
    retry = not give_up and attempts < MAX_ATTEMPTS
    return {
        "status": WebhookStatus.failed.value,
        "attempts": attempts,
        "last_error": f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS],
        "next_attempt_at": now + RETRY_DELAYS[attempts - 1] if retry else None,
    }


#: The settled outcomes an admin looks into: a ``failed`` event can be replayed (``requeue``)
#: once its cause is fixed; a ``rejected`` one has an incident with both sides and nothing to
#: replay. (``ignored`` is the normal end of a kind escrowd does not act on.)
NEEDS_A_LOOK = (WebhookStatus.failed, WebhookStatus.rejected)


def needing_a_look(*, statuses: tuple[WebhookStatus, ...] = NEEDS_A_LOOK) -> Select[Any]:
    """Settled inbound events an admin may look into, newest first (not due again: a failed
    event still being retried on its own has a ``next_attempt_at``)."""
    return (
        select(InboundWebhookEvent)
        .where(
            InboundWebhookEvent.status.in_([s.value for s in statuses]),
            InboundWebhookEvent.next_attempt_at.is_(None),
        )
        .order_by(InboundWebhookEvent.id.desc())
    )


async def requeue(container: Container, *, provider: str, event_id: str) -> bool:
    """Make a failed (or ignored) event due again now, e.g. after an admin fixed its cause.

    The attempt count is kept, so a requeued event that fails again is left failed at once.
    Returns False when no such settled event exists.
    """
    async with container.db.transaction() as s:
        result = await s.execute(
            update(InboundWebhookEvent)
            .where(
                InboundWebhookEvent.provider == provider,
                InboundWebhookEvent.event_id == event_id,
                InboundWebhookEvent.status.in_(
                    (WebhookStatus.failed.value, WebhookStatus.ignored.value)
                ),
            )
            .values(
                status=WebhookStatus.received.value,
                next_attempt_at=container.clock.now(),
                processed_at=None,
            )
            .returning(InboundWebhookEvent.id)
        )
        return result.scalar_one_or_none() is not None
