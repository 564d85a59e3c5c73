"""Server-Sent Events for ``GET /v1/events/stream``: the events a caller may see, as they land.

Each connection polls the events table for ids past the last one it sent (ULIDs sort by time),
through ``service.list_query`` so visibility is the same as ``GET /v1/events``. Polling the
database, not process memory, is what lets several server processes serve streams: an event
committed by any process is found by every stream's next poll. A short transaction per poll
means no connection is held between polls. The cost is one indexed query per open stream per
``POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.events import service
from escrowd.events.models import Event as EventRow
from escrowd.events.schemas import Event

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
#: Most events sent per poll; the rest follow on the next poll.
BATCH: Final = 100


def frame(row: EventRow) -> str:
    payload = json.dumps(Event.of(row).to_json(), separators=(",", ":"))
    return f"id: {row.id}\nevent: {row.type}\ndata: {payload}\n\n"


async def may_watch(session: AsyncSession, *, actor: Principal, object_id: str) -> bool:
    """Whether ``actor`` may see at least one event about ``object_id`` (else: 404)."""
    stmt = service.list_query(actor=actor, object_id=object_id).with_only_columns(EventRow.id)
    return (await session.scalars(stmt.limit(1))).first() is not None


async def _after(
    container: Container, *, actor: Principal, object_id: str | None, last_id: str | None
) -> list[EventRow]:
    stmt = service.list_query(actor=actor, object_id=object_id)
    if last_id is not None:
        stmt = stmt.where(EventRow.id > last_id)
    stmt = stmt.order_by(EventRow.id).limit(BATCH)
    async with container.db.transaction() as session:
        return list((await session.scalars(stmt)).all())


async def latest_id(
    session: AsyncSession, *, actor: Principal, object_id: str | None
) -> str | None:
    stmt = service.list_query(actor=actor, object_id=object_id).with_only_columns(EventRow.id)
    return (await session.scalars(stmt.order_by(EventRow.id.desc()).limit(1))).first()


async def frames(
    container: Container,
    *,
    actor: Principal,
    object_id: str | None,
    last_id: str | None,
    seconds: float,
    disconnected: Callable[[], Awaitable[bool]],
    poll: float | None = None,
    heartbeat: float | None = None,
) -> AsyncIterator[str]:
    """Event frames past ``last_id`` (``None``: only what is recorded from now), heartbeat
    comments, until ``seconds`` pass or the client goes away."""
    poll = POLL_SECONDS if poll is None else poll
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    yield f"retry: {int(poll * 1000) + 1000}\n: connected\n\n"
    end = time.monotonic() + seconds
    beat = time.monotonic() + heartbeat
    while time.monotonic() < end and not await disconnected():
        rows = await _after(container, actor=actor, object_id=object_id, last_id=last_id)
        for row in rows:
            last_id = row.id
            yield frame(row)
        if time.monotonic() >= beat:
            beat = time.monotonic() + heartbeat
            yield ": heartbeat\n\n"
        if len(rows) < BATCH:
            await asyncio.sleep(poll)
