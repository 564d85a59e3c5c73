"""The sandbox's lean path to the database: plain SQL on the driver, not the ORM.

What makes the emulator fast:
- SQLite: each unit takes one connection from ``container.db``'s pool, and the whole unit
  (BEGIN IMMEDIATE … COMMIT and every statement) runs in one call on aiosqlite's worker
  thread — one thread hop per request instead of several per statement. The handlers are
  coroutines that never suspend on this backend (``SqliteSql`` answers at once), so they are
  driven to completion inside that thread.
- PostgreSQL: the sandbox's own asyncpg pool on the same database (``own_pool``), apart from
  escrowd's engine, so that its settings stay the sandbox's:
  - ``synchronous_commit = off`` on its connections: sandbox data is test data standing in
    for a remote provider's, and waiting for the disk on every commit would make it the
    bottleneck (docs/sandbox.md, "Durability", says what a crash can lose);
  - no reset round trip when a connection goes back to the pool (its units leave no session
    state; an open transaction is still rolled back);
  - lazy transactions: a unit runs its plain reads outside a transaction (PostgreSQL's READ
    COMMITTED gives each statement its own snapshot either way) and sends BEGIN before its
    first statement that writes or locks. A unit whose only write is its final flush (one
    statement, atomic by itself) needs no BEGIN or COMMIT at all; a read-only request none.

SQL is written with ``?`` placeholders; ``PgSql`` numbers them for asyncpg.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.db.session import Database
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

    async def last(self, sql: str, *args: Any) -> None:
        """The unit's last statement (its final flush): nothing runs after it in the unit."""
        await self.run(sql, *args)


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


_NEEDS_TRANSACTION: dict[str, bool] = {}


def needs_transaction(sql: str) -> bool:
    """Whether a statement must run inside the unit's transaction: anything but a plain
    SELECT (a write, a row lock, a savepoint). When unsure, it does."""
    found = _NEEDS_TRANSACTION.get(sql)
    if found is None:
        words = sql.upper().split()
        found = not words or words[0] != "SELECT" or "FOR" in words
        _NEEDS_TRANSACTION[sql] = found
    return found


class PgSql(Sql):
    postgres = True

    def __init__(self, conn: Any, *, lazy: bool = False, read_only: bool = False) -> None:
        self.conn = conn  # asyncpg.Connection
        #: The unit owns its transaction and sends BEGIN only before the first statement that
        #: needs one (``needs_transaction``); otherwise it runs inside a caller's transaction.
        self.lazy = lazy
        self.read_only = read_only
        self.begun = False

    async def _begin_for(self, sql: str) -> None:
        if self.lazy and not self.begun and needs_transaction(sql):
            await self.conn.execute("BEGIN READ ONLY" if self.read_only else "BEGIN")
            self.begun = True

    async def rows(self, sql: str, *args: Any) -> list[Row]:
        await self._begin_for(sql)
        result: list[Row] = await self.conn.fetch(pg_sql(sql), *args)
        return result

    async def run(self, sql: str, *args: Any) -> None:
        await self._begin_for(sql)
        await self.conn.execute(pg_sql(sql), *args)

    async def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        await self._begin_for(sql)
        await self.conn.executemany(pg_sql(sql), params)

    async def last(self, sql: str, *args: Any) -> None:
        # With nothing written or locked before it, one statement is atomic on its own: it
        # needs no transaction around it (and saves BEGIN's and COMMIT's round trips).
        if not (self.lazy and not self.begun and not self.read_only):
            await self._begin_for(sql)
        await self.conn.execute(pg_sql(sql), *args)


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
    return await _pg_unit(driver, work, read_only)


async def _pg_unit(driver: Any, work: Work[T], read_only: bool) -> T:
    sql = PgSql(driver, lazy=True, read_only=read_only)
    try:
        result = await work(sql)
    except BaseException:
        if driver.is_in_transaction():
            await driver.execute("ROLLBACK")
        raise
    if sql.begun:
        await driver.execute("COMMIT")
    return result


class _OwnPool:
    """A database's sandbox pool, with the event loop it belongs to."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.ready = ready


_OWN_POOLS: weakref.WeakKeyDictionary[Database, _OwnPool] = weakref.WeakKeyDictionary()


async def _keep_session(_: Any) -> None:
    """The pool's reset: nothing to send (asyncpg still rolls back an open transaction)."""


async def _create_pool(db: Database) -> Any:
    url = make_url(db.url)
    return await asyncpg.create_pool(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        min_size=0,
        max_size=db.pool_size,
        # Named, so that pg_stat_activity tells the sandbox's connections from escrowd's.
        server_settings={"synchronous_commit": "off", "application_name": "escrowd-sandbox"},
        reset=_keep_session,
    )


async def _close_pool(pool: Any) -> None:
    try:
        await asyncio.wait_for(pool.close(), 10)
    except (TimeoutError, RuntimeError):  # still busy, or on a loop that has gone
        pool.terminate()


def _made(ready: asyncio.Task[Any]) -> Any:
    """The pool a creation task made, or None (still running, failed or cancelled)."""
    if not ready.done() or ready.cancelled() or ready.exception() is not None:
        return None
    return ready.result()


async def own_pool(db: Database) -> Any:
    """The sandbox's asyncpg pool on ``db`` (PostgreSQL), made at first use on this event
    loop and closed when ``db`` is disposed."""
    loop = asyncio.get_running_loop()
    own = _OWN_POOLS.get(db)
    if own is None or own.loop is not loop:
        if own is not None and (old := _made(own.ready)) is not None:
            old.terminate()  # its loop is gone: it cannot be closed politely
        own = _OwnPool(loop, loop.create_task(_create_pool(db)))
        _OWN_POOLS[db] = own
        ready = own.ready

        async def close() -> None:
            if _OWN_POOLS.get(db) is own:
                del _OWN_POOLS[db]
            if (pool := _made(ready)) is not None:
                await _close_pool(pool)

        db.on_dispose(close)
    try:
        return await asyncio.shield(own.ready)
    except Exception:
        if _OWN_POOLS.get(db) is own:  # a failed start is not kept: the next unit tries again
            del _OWN_POOLS[db]
        raise


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
    db = container.db
    if db.dialect == "postgresql":
        pool = await own_pool(db)
        async with pool.acquire() as driver:
            return await _pg_unit(driver, work, read_only)
    async with db.engine.connect() as sa:
        return await _on_driver(sa, work, own_transaction=True, read_only=read_only)


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    return type(exc).__name__ == "UniqueViolationError"
