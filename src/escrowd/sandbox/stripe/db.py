"""The sandbox's lean path to the database: plain SQL on the driver under escrowd's pool.

Each unit of work takes one connection from ``container.db`` and talks to its driver
directly, which is what makes the emulator fast:
- SQLite: the whole unit (BEGIN IMMEDIATE … COMMIT and every statement) runs in one call on
  aiosqlite's worker thread — one thread hop per request instead of several per statement.
  The handlers are coroutines that never suspend on this backend (``SqliteSql`` answers at
  once), so they are driven to completion inside that thread.
- PostgreSQL: asyncpg directly, in a transaction with ``synchronous_commit`` off: sandbox data
  is test data, and waiting for the disk on every commit would make it the bottleneck.

SQL is written with ``?`` placeholders; ``PgSql`` numbers them for asyncpg.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.sandbox.stripe.host import Host

T = TypeVar("T")
Row = Sequence[Any]
Work = Callable[["Sql"], Coroutine[Any, Any, T]]


class Sql:
    postgres: bool = False

    async def rows(self, sql: str, *args: Any) -> list[Row]:
        raise NotImplementedError

    async def row(self, sql: str, *args: Any) -> Row | None:
        found = await self.rows(sql, *args)
        return found[0] if found else None

    async def run(self, sql: str, *args: Any) -> None:
        raise NotImplementedError

    async def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError


class SqliteSql(Sql):
    """Synchronous underneath: only ever used on aiosqlite's worker thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def rows(self, sql: str, *args: Any) -> list[Row]:
        return self.conn.execute(sql, args).fetchall()

    async def run(self, sql: str, *args: Any) -> None:
        self.conn.execute(sql, args)

    async def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(sql, params)


_PLACEHOLDER = re.compile(r"\?")
_PG_SQL: dict[str, str] = {}


def pg_sql(sql: str) -> str:
    found = _PG_SQL.get(sql)
    if found is None:
        counter = iter(range(1, 1000))
        found = _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
        _PG_SQL[sql] = found
    return found


class PgSql(Sql):
    postgres = True

    def __init__(self, conn: Any) -> None:
        self.conn = conn  # asyncpg.Connection

    async def rows(self, sql: str, *args: Any) -> list[Row]:
        result: list[Row] = await self.conn.fetch(pg_sql(sql), *args)
        return result

    async def run(self, sql: str, *args: Any) -> None:
        await self.conn.execute(pg_sql(sql), *args)

    async def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        await self.conn.executemany(pg_sql(sql), params)


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (its awaits all answer at once) to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a sandbox unit of work suspended on the SQLite worker thread")


def _sqlite_unit(
    work: Work[T], conn: sqlite3.Connection, own_transaction: bool, read_only: bool
) -> T:
    if not own_transaction:
        return _drive(work(SqliteSql(conn)))
    # Writers take the lock at BEGIN (as escrowd's own sessions do); readers need only a
    # snapshot, which WAL gives them without waiting for writers.
    conn.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
    try:
        result = _drive(work(SqliteSql(conn)))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


async def _on_driver(
    sa: AsyncConnection, work: Work[T], own_transaction: bool, read_only: bool = False
) -> T:
    driver: Any = (await sa.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has its driver
        raise RuntimeError("the database connection is closed")
    if sa.dialect.name == "sqlite":
        # aiosqlite runs ``fn`` on the thread that owns the sqlite3 connection.
        execute: Callable[..., Awaitable[T]] = driver._execute
        result: T = await execute(_sqlite_unit, work, driver._conn, own_transaction, read_only)
        return result
    if not own_transaction:
        return await work(PgSql(driver))
    # One round trip opens the transaction and makes its commit asynchronous.
    await driver.execute(
        "BEGIN READ ONLY" if read_only else "BEGIN; SET LOCAL synchronous_commit TO OFF"
    )
    try:
        result = await work(PgSql(driver))
    except BaseException:
        await driver.execute("ROLLBACK")
        raise
    await driver.execute("COMMIT")
    return result


async def run_unit(
    container: Host,
    work: Work[T],
    *,
    conn: AsyncConnection | None = None,
    read_only: bool = False,
) -> T:
    """Run ``work`` in one transaction (or inside ``conn``'s open transaction, if given).

    ``read_only`` units (GET requests, looking for due work) take no write lock.
    """
    if conn is not None:
        return await _on_driver(conn, work, own_transaction=False)
    async with container.db.engine.connect() as sa:
        return await _on_driver(sa, work, own_transaction=True, read_only=read_only)


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    return type(exc).__name__ == "UniqueViolationError"
