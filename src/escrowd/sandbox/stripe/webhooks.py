"""Signed webhook delivery of the sandbox's events to escrowd's ``/v1/webhooks/stripe``.

Stripe's scheme: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">`` with
``escrowd.config.SANDBOX_WEBHOOK_SECRET``. Delivery is in process (ASGI, no sockets), oldest
event first; a 2xx marks it delivered, anything else retries later on escrowd's own clock
(5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h, 24 h), then it is marked failed.

A batch is sent up to ``IN_FLIGHT`` deliveries at a time, as Stripe itself sends in
parallel; events about the same object go one after the other, in the order they happened,
so a receiver sees an object's ``created`` before its ``succeeded``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import ColumnElement, bindparam, select, update
from starlette.types import ASGIApp

from escrowd.clock import unix
from escrowd.config import SANDBOX_WEBHOOK_SECRET
from escrowd.logging import get_logger
from escrowd.sandbox.stripe import models as m
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.speccheck import SpecHook

log = get_logger(__name__)

PAYPAL_ACCOUNT = "paypal"

WEBHOOK_PATH = "/v1/webhooks/stripe"
BATCH = 100
#: While a batch is being sent, its events are leased so a second worker skips them.
LEASE_SECONDS = 60
#: Deliveries of one batch sent at once (events about one object still go in order).
IN_FLIGHT = 8
BACKOFF = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)

#: (path, body, headers) → HTTP status. The default posts in process to escrowd's webhook
#: endpoint (``Container.webhook_intake``).
Sender = Callable[[str, bytes, dict[str, str]], Awaitable[int]]


@functools.cache
def _spec() -> SpecHook:
    return SpecHook()


def sign(body: bytes, timestamp: int, secret: str = SANDBOX_WEBHOOK_SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class _AsgiSender:
    """Posts to escrowd's own app in process; one client per batch (a client is costly)."""

    def __init__(self, app: ASGIApp) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://escrowd.internal"
        )

    async def __call__(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        response = await self.client.post(path, content=body, headers=headers)
        return response.status_code

    async def aclose(self) -> None:
        await self.client.aclose()


async def deliver(container: Host, *, to: ASGIApp | None = None, send: Sender | None = None) -> int:
    """Send one batch of due events, with ``send`` or else by posting in process to the ASGI
    app ``to``; returns how many were attempted."""
    if send is None and to is None:
        return 0
    # The PayPal sandbox's events share the table; it delivers them itself.
    rows = await claim_due(container, m.events.c.account.is_distinct_from(PAYPAL_ACCOUNT))
    if not rows:
        return 0
    return await send_and_record(
        container, rows, path=WEBHOOK_PATH, headers=_stripe_headers(container), to=to, send=send
    )


async def claim_due(container: Host, which: ColumnElement[bool]) -> list[Any]:
    """Lease the oldest due events that ``which`` selects, so a second worker skips them."""
    c = m.events.c
    real_now = unix(container.clock.now())
    async with container.db.engine.begin() as conn:
        stmt = (
            select(c.id, c.data, c.attempts)
            .where(which, c.state == "pending", c.next_attempt_at <= real_now)
            .order_by(c.seq)
            .limit(BATCH)
        )
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(await conn.execute(stmt))
        if rows:
            await conn.execute(
                update(m.events)
                .where(c.id.in_([r.id for r in rows]))
                .values(next_attempt_at=real_now + LEASE_SECONDS)
            )
    return rows


async def send_and_record(
    container: Host,
    rows: Sequence[Any],
    *,
    path: str,
    headers: Callable[[bytes], dict[str, str]],
    to: ASGIApp | None,
    send: Sender | None,
) -> int:
    """Post each claimed event to ``path`` with its provider's ``headers`` and record the
    outcome: delivered on a 2xx, else retried on ``BACKOFF`` and then marked failed."""
    own = _AsgiSender(to) if send is None and to is not None else None
    sender = send or own
    assert sender is not None
    by_object: dict[str, list[Any]] = {}
    for row in rows:  # rows come oldest first: each object's list keeps that order
        by_object.setdefault(_object_of(row), []).append(row)
    gate = asyncio.Semaphore(IN_FLIGHT)
    outcomes: list[dict[str, Any]] = []

    async def send_in_order(chain: list[Any]) -> None:
        for row in chain:
            async with gate:
                outcomes.append(await _send(container, sender, row, path, headers))

    try:
        await asyncio.gather(*(send_in_order(chain) for chain in by_object.values()))
    finally:
        if own is not None:
            await own.aclose()
    async with container.db.engine.begin() as conn:
        await conn.execute(
            update(m.events)
            .where(m.events.c.id == bindparam("b_id"))
            .values(
                state=bindparam("state"),
                attempts=bindparam("attempts"),
                next_attempt_at=bindparam("next_attempt_at"),
                last_error=bindparam("last_error"),
            ),
            outcomes,
        )
    return len(rows)


def _object_of(row: Any) -> str:
    """What the event is about (a Stripe event's ``data.object``, a PayPal event's
    ``resource``); the event's own id when the body names none."""
    try:
        body = json.loads(row.data)
        found = (body.get("data") or {}).get("object") or body.get("resource") or {}
        object_id = found.get("id")
    except (ValueError, AttributeError, TypeError):
        object_id = None
    return f"object:{object_id}" if isinstance(object_id, str) else f"event:{row.id}"


def _stripe_headers(container: Host) -> Callable[[bytes], dict[str, str]]:
    def headers(body: bytes) -> dict[str, str]:
        if _spec().checker is not None:
            _spec().event_object(json.loads(body)["data"]["object"])
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(body, unix(container.clock.now())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }

    return headers


async def _send(
    container: Host,
    sender: Sender,
    row: Any,
    path: str,
    headers: Callable[[bytes], dict[str, str]],
) -> dict[str, Any]:
    body = row.data.encode()
    sent = headers(body)
    try:
        status = await sender(path, body, sent)
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except Exception as exc:  # a receiver that crashes is a failed delivery, retried
        error = f"{type(exc).__name__}: {exc}"
    attempts = row.attempts + 1
    now = unix(container.clock.now())
    if error is None:
        state, next_at = "delivered", now
    elif attempts > len(BACKOFF):
        state, next_at = "failed", now
        log.warning("sandbox_webhook_gave_up", event_id=row.id, path=path, error=error)
    else:
        state, next_at = "pending", now + BACKOFF[attempts - 1]
    return {
        "b_id": row.id,
        "state": state,
        "attempts": attempts,
        "next_attempt_at": next_at,
        "last_error": error,
    }
