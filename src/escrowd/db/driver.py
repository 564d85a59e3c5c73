"""PostgreSQL: statements straight to asyncpg, past SQLAlchemy's per-statement work.

``autocommit_driver``: a pooled connection's own asyncpg connection, each statement its own
transaction. For the statements every request or every delivery runs once, alone: an
``Idempotency-Key``'s claim and stored answer, an inbound webhook's row, a plain ledger
transfer, the user behind a token. SQLAlchemy's per-statement work (an ``AsyncSession`` or
``Connection`` to build, the statement's cache key, parameter processing, the greenlet
bridge, result wrapping) cost 1.5 ms of CPU for such an ``INSERT`` through an ORM session and
1.0 ms through a Core connection on the benchmark machine, against 0.3 ms straight to asyncpg
with the same pool checkout (``bench/statement_paths.py``). A statement sent here is the whole
unit of work: no ``BEGIN`` or ``COMMIT`` is sent (SQLAlchemy begins lazily, before a statement
of its own, and there is none), so never use it for two statements that must hold or fail
together.

``transaction_driver``: the asyncpg connection under a SQLAlchemy connection in a transaction,
for statements of a unit of work that SQLAlchemy commits or rolls back (a ledger posting, an
event and its audience).

SQLite has no such path: callers keep their SQLAlchemy statement there (``Database.dialect``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from escrowd.db.session import Database


@asynccontextmanager
async def autocommit_driver(
    database: Database, *, sound: tuple[type[BaseException], ...] = ()
) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection of one pooled connection, handed back to the pool on exit.

    An ``asyncpg.PostgresError`` (the server answered) or one of ``sound`` raised in the block
    leaves the connection sound: it goes back to the pool. Anything else — a cancellation or a
    cut connection mid-call — leaves its state unknown, so it is closed, never reused.
    """
    if database.dialect != "postgresql":
        raise RuntimeError("autocommit_driver is for PostgreSQL only")
    pooled = await database.engine.raw_connection()
    try:
        yield pooled.driver_connection
    except (asyncpg.PostgresError, *sound):
        await _release(pooled)
        raise
    except BaseException:
        await greenlet_spawn(pooled.invalidate)
        raise
    await _release(pooled)


async def _release(pooled: PoolProxiedConnection) -> None:
    driver: asyncpg.Connection = pooled.driver_connection
    if driver.is_closed() or driver.is_in_transaction():
        # The server ended the session (an error it answered with), or the block left a
        # transaction open that SQLAlchemy, which did not begin it, would not roll back.
        await greenlet_spawn(pooled.invalidate)
        return
    # Returning a connection runs the pool's reset and, past pool_size, closes it; with asyncpg
    # both await the driver, which only works inside SQLAlchemy's greenlet bridge. Closed
    # outside it, an overflow connection raises and stays counted as checked out.
    await greenlet_spawn(pooled.close)


def placeholders(count: int, *, after: int = 0) -> str:
    """``$1, $2, …, $count``: asyncpg's numbered parameters, for a statement's VALUES
    (numbered from ``after + 1`` for a row after ``after`` parameters)."""
    return ", ".join(f"${n}" for n in range(after + 1, after + count + 1))


async def transaction_driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under ``conn``, inside the transaction ``conn`` commits.

    SQLAlchemy's asyncpg adapter sends ``BEGIN`` lazily, before its first statement of its
    own; if none ran yet, it is asked to begin now, so that its ``COMMIT`` or ``ROLLBACK``
    covers what is sent here. Use it only between SQLAlchemy's own statements on ``conn``,
    never concurrently with them.
    """
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        start = getattr(raw.dbapi_connection, "_start_transaction", None)
        if start is not None:
            await start()
        else:  # pragma: no cover - a future SQLAlchemy without the private hook
            await conn.exec_driver_sql("SELECT 1")
    return driver
