"""PayPal sandbox state, in the Stripe sandbox's tables (no tables of its own).

Objects are rows of ``sandbox_stripe_objects`` with ``account = 'paypal'`` and a ``paypal.``
type (``paypal.order``, ``paypal.authorization``, …): the JSON PayPal would return in ``data``,
what PayPal keeps to itself (funding choice, return URLs, sums) in ``private``. Replies stored
for ``PayPal-Request-Id`` are rows of ``sandbox_stripe_idempotency`` with ``scope = 'paypal'``.
Time is the sandbox clock shared with the Stripe sandbox (escrowd's clock plus the stored
offset), so advancing it expires PayPal authorizations too.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.sandbox.stripe import clock
from escrowd.sandbox.stripe import models as m
from escrowd.sandbox.stripe.host import Host

ACCOUNT = "paypal"
IDEMPOTENCY_SCOPE = "paypal"
_ALNUM = string.ascii_uppercase + string.digits


def new_id(length: int = 17) -> str:
    """PayPal's ids: upper-case letters and digits (orders, captures: 17; batches: 13)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def debug_id() -> str:
    return secrets.token_hex(7)[:13]


def stamp(unix_time: int) -> str:
    """PayPal's Internet date-time: ``2026-01-27T10:17:41Z``."""
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Obj:
    id: str
    type: str
    data: dict[str, Any]
    private: dict[str, Any] = field(default_factory=dict)
    created: int = 0
    new: bool = False


class Unit:
    """One request's view of the sandbox: the clock's now and the objects it reads or writes."""

    def __init__(self, conn: AsyncConnection, now: int, base_url: str) -> None:
        self.conn = conn
        self.now = now
        self.base_url = base_url

    @classmethod
    async def open(cls, conn: AsyncConnection, host: Host, base_url: str) -> Unit:
        return cls(conn, await clock.now(conn, host), base_url)

    async def get(self, obj_id: str, type_: str, *, lock: bool = False) -> Obj | None:
        """``lock``: the object is about to change; concurrent changes of it (two refunds of one
        capture) wait for each other on PostgreSQL instead of losing one's update. SQLite
        already serializes writers."""
        stmt = select(m.objects.c.data, m.objects.c.private, m.objects.c.created).where(
            m.objects.c.id == obj_id,
            m.objects.c.type == f"paypal.{type_}",
            m.objects.c.account == ACCOUNT,
        )
        if lock:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        return Obj(obj_id, type_, json.loads(row[0]), json.loads(row[1] or "{}"), int(row[2]))

    async def save(self, obj: Obj, *, parent: str | None = None) -> None:
        data, private = json.dumps(obj.data), json.dumps(obj.private)
        if obj.new:
            await self.conn.execute(
                insert(m.objects).values(
                    id=obj.id,
                    type=f"paypal.{obj.type}",
                    account=ACCOUNT,
                    parent=parent,
                    created=obj.created or self.now,
                    data=data,
                    private=private,
                )
            )
            obj.new = False
            return
        await self.conn.execute(
            update(m.objects)
            .where(m.objects.c.id == obj.id, m.objects.c.account == ACCOUNT)
            .values(data=data, private=private)
        )

    def create(self, type_: str, obj_id: str, data: dict[str, Any], **private: Any) -> Obj:
        return Obj(obj_id, type_, data, dict(private), created=self.now, new=True)

    def link(self, path: str, rel: str, method: str = "GET") -> dict[str, str]:
        return {"href": self.base_url + path, "rel": rel, "method": method}

    # --- PayPal-Request-Id -------------------------------------------------------------------

    async def replay(self, key: str) -> tuple[str, int, str] | None:
        """(fingerprint, status, body) stored for this PayPal-Request-Id, if any."""
        row = (
            await self.conn.execute(
                select(m.idempotency.c.fingerprint, m.idempotency.c.status, m.idempotency.c.body)
                .where(m.idempotency.c.scope == IDEMPOTENCY_SCOPE, m.idempotency.c.key == key)
                .limit(1)
            )
        ).first()
        return (str(row[0]), int(row[1]), str(row[2])) if row else None

    async def remember(self, key: str, fingerprint: str, status: int, body: str) -> None:
        await self.conn.execute(
            insert(m.idempotency).values(
                scope=IDEMPOTENCY_SCOPE,
                key=key,
                fingerprint=fingerprint,
                request_id=debug_id(),
                status=status,
                body=body,
                created_at=self.now,
            )
        )
