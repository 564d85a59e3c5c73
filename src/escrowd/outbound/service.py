"""Outbound webhook use cases: endpoints (admins'), the fan-out of events into deliveries, one
delivery attempt, and an admin's redelivery.

Nothing here runs in a money request: events are written with the change they describe, and the
fan-out sweep (``tasks``) turns them into deliveries later, one per matching endpoint and event
(a unique constraint makes it exactly one), each with its job. A delivery job makes one attempt:
``begin_attempt`` reads what to send in a short transaction, the POST happens outside any
transaction, and ``finish_attempt`` records the answer and schedules the next attempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.clock import Clock, unix
from escrowd.config import Environment, Settings
from escrowd.db.inserts import insert_new
from escrowd.errors import ConflictError, NotFoundError
from escrowd.events.models import Event
from escrowd.events.schemas import Event as EventObject
from escrowd.ids import Prefix, new_id
from escrowd.jobs import incidents
from escrowd.jobs import service as jobs
from escrowd.outbound import domain
from escrowd.outbound.domain import DeliveryStatus, Outcome
from escrowd.outbound.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFanout,
)
from escrowd.outbound.sender import Answer

#: The delivery job's kind; its payload is ``{"delivery", "attempt", "trigger"}``.
DELIVER: Final = "webhook_endpoints.deliver"
#: How far back each fan-out run looks again before its read position: an event is dated when
#: its transaction writes it, and a transaction still open when the sweep ran commits later.
LOOKBACK: Final = timedelta(minutes=5)
#: Events read per query of the fan-out sweep, and at most per run.
PAGE: Final = 1000
MAX_PER_RUN: Final = 50_000
_FANOUT: Final = "events"

DISABLED_GONE: Final = "gone"
DISABLED_MANUAL: Final = "manual"


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# ---- endpoints ------------------------------------------------------------------------------


def _check_url(settings: Settings, url: str) -> str:
    return domain.check_url(
        url,
        require_https=settings.env is Environment.production,
        allow_private=settings.webhooks_allow_private,
    )


async def create(
    session: AsyncSession,
    *,
    clock: Clock,
    settings: Settings,
    actor: Principal,
    url: str,
    enabled_events: Sequence[str],
    description: str | None = None,
) -> WebhookEndpoint:
    """A new, enabled endpoint with a fresh secret; it receives events from now on."""
    checked = _check_url(settings, url)
    filters = domain.check_filters(enabled_events)
    now = clock.now()
    endpoint = WebhookEndpoint(
        id=new_id(Prefix.webhook_endpoint),
        url=checked,
        description=description,
        enabled_events=filters,
        secret=domain.new_secret(),
        enabled=True,
        disabled_reason=None,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


def list_query() -> Select[WebhookEndpoint]:
    return select(WebhookEndpoint)


async def get(
    session: AsyncSession, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if for_update and _dialect(session) == "postgresql":
        stmt = stmt.with_for_update()
    endpoint = (await session.scalars(stmt)).one_or_none()
    if endpoint is None:
        raise NotFoundError(f"No such webhook endpoint: '{endpoint_id}'.", param="id")
    return endpoint


async def update(
    session: AsyncSession,
    *,
    clock: Clock,
    settings: Settings,
    endpoint_id: str,
    url: str | None = None,
    enabled_events: Sequence[str] | None = None,
    description: str | None = None,
    disabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; ``disabled=False`` enables it again (also after a 410)."""
    checked = None if url is None else _check_url(settings, url)
    filters = None if enabled_events is None else domain.check_filters(enabled_events)
    endpoint = await get(session, endpoint_id, for_update=True)
    if checked is not None:
        endpoint.url = checked
    if filters is not None:
        endpoint.enabled_events = filters
    if description is not None:
        endpoint.description = description
    if disabled is True and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason = False, DISABLED_MANUAL
    elif disabled is False and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason = True, None
    endpoint.updated_at = clock.now()
    await session.flush()
    return endpoint


async def rotate_secret(
    session: AsyncSession, *, clock: Clock, endpoint_id: str
) -> WebhookEndpoint:
    """A new secret, in use from the next attempt on; the old one stops at once."""
    endpoint = await get(session, endpoint_id, for_update=True)
    endpoint.secret = domain.new_secret()
    endpoint.updated_at = clock.now()
    await session.flush()
    return endpoint


# ---- the delivery log -----------------------------------------------------------------------


def deliveries_query(
    endpoint_id: str, *, status: DeliveryStatus | None = None, event_id: str | None = None
) -> Select[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    if event_id is not None:
        stmt = stmt.where(WebhookDelivery.event_id == event_id)
    return stmt


async def attempts_of(
    session: AsyncSession, deliveries: Sequence[WebhookDelivery]
) -> dict[str, list[WebhookAttempt]]:
    """Each delivery's attempts, oldest first, in one query for the whole page."""
    out: dict[str, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    if not out:
        return out
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(list(out)))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
    )
    for row in rows:
        out[row.delivery_id].append(row)
    return out


async def get_delivery(
    session: AsyncSession, *, endpoint_id: str, delivery_id: str, for_update: bool = False
) -> WebhookDelivery:
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    if for_update and _dialect(session) == "postgresql":
        stmt = stmt.with_for_update()
    delivery = (await session.scalars(stmt)).one_or_none()
    if delivery is None:
        raise NotFoundError(
            f"No such delivery: '{delivery_id}' of webhook endpoint '{endpoint_id}'.",
            param="delivery_id",
        )
    return delivery


async def _enqueue(
    session: AsyncSession,
    *,
    clock: Clock,
    delivery: WebhookDelivery,
    run_at: datetime,
    trigger: str,
) -> None:
    attempt = delivery.attempts + 1
    # An admin's redelivery may come while a scheduled attempt of the same number is queued;
    # whichever runs first makes it, the other finds the number taken and does nothing.
    suffix = "" if trigger == "schedule" else f":{trigger}:{new_id(Prefix.request)}"
    await jobs.enqueue(
        session,
        clock=clock,
        kind=DELIVER,
        payload={"delivery": delivery.id, "attempt": attempt, "trigger": trigger},
        run_at=run_at,
        dedupe_key=f"webhook:{delivery.id}:{attempt}{suffix}",
        max_attempts=3,
    )


async def redeliver(
    session: AsyncSession, *, clock: Clock, endpoint_id: str, delivery_id: str
) -> WebhookDelivery:
    """One more attempt, due now (an admin's). A delivery still on its schedule keeps it: if
    this attempt fails, the next scheduled one follows."""
    endpoint = await get(session, endpoint_id)
    if not endpoint.enabled:
        raise ConflictError(
            f"Webhook endpoint {endpoint_id} is disabled ({endpoint.disabled_reason}); enable "
            "it (disabled: false) before redelivering.",
            code="endpoint_disabled",
        )
    delivery = await get_delivery(
        session, endpoint_id=endpoint_id, delivery_id=delivery_id, for_update=True
    )
    now = clock.now()
    if delivery.status != DeliveryStatus.pending:
        delivery.status = DeliveryStatus.pending.value
        delivery.scheduled = False
    delivery.next_attempt_at = now
    delivery.updated_at = now
    await _enqueue(session, clock=clock, delivery=delivery, run_at=now, trigger="admin")
    await session.flush()
    return delivery


# ---- fan-out: events into deliveries --------------------------------------------------------


async def fan_out(session: AsyncSession, *, clock: Clock) -> int:
    """Make the deliveries (and their first jobs) of events not yet fanned out; how many.

    Reads events from its read position minus ``LOOKBACK``; what was made before is skipped
    (unique endpoint + event), so a re-read makes nothing twice. An endpoint gets the events
    created from its own creation on.
    """
    now = clock.now()
    endpoints = list(
        (await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled))).all()
    )
    cursor_q = select(WebhookFanout).where(WebhookFanout.name == _FANOUT)
    if _dialect(session) == "postgresql":
        cursor_q = cursor_q.with_for_update()
    cursor = (await session.scalars(cursor_q)).one_or_none()
    if cursor is None:
        cursor = WebhookFanout(name=_FANOUT, read_until=now)
        session.add(cursor)
        start = min((e.created_at for e in endpoints), default=now)
    else:
        start = cursor.read_until - LOOKBACK
    if not endpoints:
        cursor.read_until = max(cursor.read_until, now)
        return 0
    start = max(start, min(e.created_at for e in endpoints))

    made = 0
    read = 0
    after: tuple[datetime, str] | None = None
    last_seen = start
    while read < MAX_PER_RUN:
        stmt = select(Event.id, Event.type, Event.created_at).where(Event.created_at >= start)
        if after is not None:
            stmt = stmt.where(tuple_(Event.created_at, Event.id) > tuple_(*after))
        rows = (await session.execute(stmt.order_by(Event.created_at, Event.id).limit(PAGE))).all()
        if not rows:
            break
        read += len(rows)
        after = (rows[-1].created_at, rows[-1].id)
        last_seen = rows[-1].created_at
        made += await _deliveries_for(session, clock=clock, endpoints=endpoints, events=rows)
        if len(rows) < PAGE:
            break
    # Capped: continue from the last event read (the next run re-reads only LOOKBACK of it).
    cursor.read_until = last_seen if read >= MAX_PER_RUN else max(cursor.read_until, now)
    return made


def _after(event: Any, endpoint: WebhookEndpoint) -> bool:
    """Whether the event was recorded after the endpoint was made: by escrowd's clock, and by
    the time in both ids (a ULID's first characters), which a moved clock cannot reorder."""
    return bool(
        event.created_at >= endpoint.created_at
        and event.id.partition("_")[2] > endpoint.id.partition("_")[2]
    )


async def _deliveries_for(
    session: AsyncSession,
    *,
    clock: Clock,
    endpoints: Sequence[WebhookEndpoint],
    events: Sequence[Any],
) -> int:
    wanted = [
        (endpoint, event)
        for event in events
        for endpoint in endpoints
        if _after(event, endpoint) and domain.wants(endpoint.enabled_events, event.type)
    ]
    if not wanted:
        return 0
    existing = set(
        (
            await session.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                    WebhookDelivery.event_id.in_({e.id for _, e in wanted})
                )
            )
        ).all()
    )
    now = clock.now()
    values = [
        {
            "id": new_id(Prefix.webhook_delivery),
            "endpoint_id": endpoint.id,
            "event_id": event.id,
            "event_type": event.type,
            "status": DeliveryStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "scheduled": True,
            "created_at": now,
            "updated_at": now,
        }
        for endpoint, event in wanted
        if (endpoint.id, event.id) not in existing
    ]
    if not values:
        return 0
    inserted = await insert_new(
        session,
        WebhookDelivery,
        values,
        conflict=("endpoint_id", "event_id"),
        returning=("id",),
    )
    made = [row.id for row in inserted]
    await jobs.enqueue_many(
        session,
        clock=clock,
        jobs=[
            jobs.NewJob(
                DELIVER,
                {"delivery": delivery_id, "attempt": 1, "trigger": "schedule"},
                run_at=now,
                dedupe_key=f"webhook:{delivery_id}:1",
                max_attempts=3,
            )
            for delivery_id in made
        ],
    )
    return len(made)


# ---- one attempt ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt sends, read in ``begin_attempt``."""

    delivery_id: str
    number: int
    trigger: str
    url: str
    body: bytes
    headers: dict[str, str]


def _body(event: Event) -> bytes:
    wire = EventObject.of(event).to_json()
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode()


async def begin_attempt(
    session: AsyncSession, *, clock: Clock, delivery_id: str, number: int, trigger: str
) -> Attempt | None:
    """What attempt ``number`` sends; None when it is no longer due (made already, the
    delivery is over, or its endpoint is disabled: then the delivery fails here)."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if (
        delivery is None
        or delivery.status != DeliveryStatus.pending
        or delivery.attempts != number - 1
    ):
        return None
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    event = await session.get(Event, delivery.event_id)
    assert endpoint is not None, delivery.endpoint_id  # foreign keys
    assert event is not None, delivery.event_id
    if not endpoint.enabled:
        delivery.status = DeliveryStatus.failed.value
        delivery.next_attempt_at = None
        delivery.last_error = f"endpoint_disabled: {endpoint.disabled_reason}"
        delivery.updated_at = clock.now()
        return None
    body = _body(event)
    timestamp = unix(clock.now())
    headers = {
        "content-type": "application/json",
        "user-agent": "escrowd-webhooks/1",
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": domain.sign(
            endpoint.secret, msg_id=event.id, timestamp=timestamp, body=body
        ),
    }
    return Attempt(delivery.id, number, trigger, endpoint.url, body, headers)


async def finish_attempt(
    session: AsyncSession, *, clock: Clock, attempt: Attempt, answer: Answer
) -> DeliveryStatus | None:
    """Record the attempt and apply its answer: delivered, the endpoint disabled (410), the
    next attempt scheduled, or the delivery failed for good (and an incident opened)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.id == attempt.delivery_id)
    if _dialect(session) == "postgresql":
        stmt = stmt.with_for_update()
    delivery = (await session.scalars(stmt)).one()
    if delivery.attempts != attempt.number - 1 or delivery.status != DeliveryStatus.pending:
        return None  # another run of the same attempt recorded it first
    now = clock.now()
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=attempt.number,
            status_code=answer.status_code,
            error=answer.error,
            response_body=answer.response_body,
            duration_ms=answer.duration_ms,
            trigger=attempt.trigger,
            attempted_at=now,
        )
    )
    delivery.attempts = attempt.number
    delivery.last_status_code = answer.status_code
    delivery.last_error = answer.error
    delivery.updated_at = now
    result = domain.outcome(answer.status_code)
    if result is Outcome.delivered:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.delivered.value, None
    elif result is Outcome.gone:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.failed.value, None
        endpoint = await get(session, delivery.endpoint_id, for_update=True)
        endpoint.enabled, endpoint.disabled_reason = False, DISABLED_GONE
        endpoint.updated_at = now
    elif delivery.scheduled and attempt.number < domain.MAX_ATTEMPTS:
        delivery.next_attempt_at = now + domain.wait_before(attempt.number + 1)
        await _enqueue(
            session,
            clock=clock,
            delivery=delivery,
            run_at=delivery.next_attempt_at,
            trigger="schedule",
        )
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.failed.value, None
        if delivery.scheduled:
            await incidents.add(
                session,
                kind=DELIVER,
                error=answer.error or f"HTTP {answer.status_code}",
                now=now,
                attempts=attempt.number,
                subject=f"webhook_delivery:{delivery.id}",
                details={
                    "endpoint": delivery.endpoint_id,
                    "delivery": delivery.id,
                    "event": delivery.event_id,
                    "last_status_code": answer.status_code,
                },
            )
    await session.flush()
    return DeliveryStatus(delivery.status)
