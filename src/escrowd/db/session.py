"""Engines and sessions for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite(engine: AsyncEngine) -> None:
    # Python's sqlite3 module opens transactions lazily and never for SELECT, which lets two
    # writers read the same balance. Take the write lock at BEGIN instead (BEGIN IMMEDIATE):
    # SQLite then serializes writers the way row locks do on PostgreSQL.
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    url: str, *, pool_size: int = 10, close_overflow: bool = False, echo: bool = False
) -> AsyncEngine:
    """An engine whose pool opens at most ``2 * pool_size`` connections on PostgreSQL.

    It keeps every connection it opens (``close_overflow=False``): under a load that needs
    more than ``pool_size`` at once, SQLAlchemy's overflow would close each connection past
    ``pool_size`` when it is handed back and open a new one for the next request, which then
    connects, sets up its type codecs and prepares every statement again (measured in the
    escrow flow bench at 16 clients: 110 connections opened in 30 s, a third of the
    statements prepared anew). ``close_overflow=True`` keeps that behaviour (a test of it).
    """
    if is_sqlite(url):
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo)
        _prepare_sqlite(engine)
        return engine
    # No pool_pre_ping: with asyncpg it costs three round trips per checkout (measured 15-25 %
    # of a single ledger transfer). Stale connections are recycled instead, and a dropped one
    # fails its transaction, which callers retry with the same idempotency key.
    size, overflow = (pool_size, pool_size) if close_overflow else (2 * pool_size, 0)
    return create_async_engine(
        url, echo=echo, pool_size=size, max_overflow=overflow, pool_recycle=1800
    )


class Database:
    """One engine and its session factory; the only way code reaches the database."""

    def __init__(
        self, url: str, *, pool_size: int = 10, close_overflow: bool = False, echo: bool = False
    ) -> None:
        self.url = url
        #: Connections kept ready (the engine's pool may open up to twice as many).
        self.pool_size = pool_size
        self.engine = create_engine(
            url, pool_size=pool_size, close_overflow=close_overflow, echo=echo
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._on_dispose: list[Callable[[], Awaitable[None]]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends, rolls back if it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only, outside a transaction where the database allows it.

        On PostgreSQL each statement runs on its own (autocommit): no ``BEGIN`` and
        ``COMMIT`` round trips around a lookup. Each statement sees its own snapshot, so use it
        only where one statement answers (a row by key) and never to write. SQLite keeps
        ``transaction()``: its ``BEGIN`` is issued by this module's listener, not the driver.
        """
        async with self.autocommit() as session:
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """A session whose every statement commits on its own, where the database allows it.

        For a unit of work that is one statement (an ``INSERT … ON CONFLICT`` that claims a
        key, an ``UPDATE`` by primary key): the statement is atomic by itself, so on
        PostgreSQL the ``BEGIN`` and ``COMMIT`` round trips around it are pure cost. Never
        for two statements that must hold or fail together. SQLite keeps ``transaction()``.
        """
        if self.dialect != "postgresql":
            async with self.transaction() as session:
                yield session
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def on_dispose(self, close: Callable[[], Awaitable[None]]) -> None:
        """Have ``dispose()`` also close something built on this database (a pool of its
        own, such as the Stripe sandbox's)."""
        self._on_dispose.append(close)

    async def dispose(self) -> None:
        closers, self._on_dispose = self._on_dispose, []
        for close in closers:
            await close()
        await self.engine.dispose()
