"""The sandbox clock: escrowd's clock plus a stored offset, shared by every process.

Everything the sandbox dates (``created``, ``capture_before``, link expiry, payout arrival,
subscription periods) reads it. Advancing it never moves time backwards; what comes due is run
by ``escrowd.sandbox.stripe.due.run_due``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.clock import unix
from escrowd.sandbox.stripe import models as m
from escrowd.sandbox.stripe.db import Sql
from escrowd.sandbox.stripe.host import Host

#: How far one call may move the clock: about ten years.
MAX_ADVANCE = 10 * 366 * 86400


@dataclass(frozen=True, slots=True)
class ClockState:
    now: int
    offset_seconds: int
    real_now: int

    def as_dict(self) -> dict[str, int]:
        return {"now": self.now, "offset_seconds": self.offset_seconds, "real_now": self.real_now}


async def offset(conn: AsyncConnection) -> int:
    value = (await conn.execute(select(m.clock.c.offset_seconds).where(m.clock.c.id == 1))).scalar()
    return int(value or 0)


async def now(conn: AsyncConnection, container: Host) -> int:
    return unix(container.clock.now()) + await offset(conn)


async def state(container: Host, *, conn: AsyncConnection | None = None) -> ClockState:
    if conn is not None:
        off = await offset(conn)
    else:
        async with container.db.engine.begin() as own:
            off = await offset(own)
    real = unix(container.clock.now())
    return ClockState(now=real + off, offset_seconds=off, real_now=real)


async def shift(
    container: Host, seconds: int, *, conn: AsyncConnection | None = None
) -> ClockState:
    """Move the clock forward by ``seconds`` (what comes due is not run here)."""
    if seconds < 0 or seconds > MAX_ADVANCE:
        raise ValueError(f"seconds must be between 0 and {MAX_ADVANCE}")
    if conn is not None:
        off = await _shift(conn, seconds)
    else:
        async with container.db.engine.begin() as own:
            off = await _shift(own, seconds)
    real = unix(container.clock.now())
    return ClockState(now=real + off, offset_seconds=off, real_now=real)


async def _shift(conn: AsyncConnection, seconds: int) -> int:
    stmt = select(m.clock.c.offset_seconds).where(m.clock.c.id == 1)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    current = (await conn.execute(stmt)).scalar()
    if current is None:
        await conn.execute(insert(m.clock).values(id=1, offset_seconds=seconds))
        return seconds
    off = int(current) + seconds
    await conn.execute(update(m.clock).where(m.clock.c.id == 1).values(offset_seconds=off))
    return off


async def offset_of(sql: Sql) -> int:
    """The stored offset, read on the sandbox's lean path (``escrowd.sandbox.stripe.db``)."""
    row = await sql.row("SELECT offset_seconds FROM sandbox_stripe_clock WHERE id = 1")
    return int(row[0]) if row else 0
