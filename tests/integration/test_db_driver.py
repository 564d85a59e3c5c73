"""``autocommit_driver``: one pooled asyncpg connection, each statement its own transaction.

A statement sent through it is committed when it returns (no BEGIN, no COMMIT); a server error
leaves the connection sound and back in the pool; a cancelled call leaves its state unknown, and
a block that left a transaction open leaves it mid-transaction, so in both cases the connection
is closed, never handed to the next caller; SQLite has no such path.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from escrowd.db.driver import autocommit_driver
from escrowd.db.session import Database


async def test_a_statement_commits_on_its_own(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE driver_probe (id int PRIMARY KEY)"))
        async with autocommit_driver(db) as driver:
            assert not driver.is_in_transaction()
            await driver.execute("INSERT INTO driver_probe VALUES (1)")
            assert not driver.is_in_transaction()
        # Seen by a connection of its own, straight away: nothing was left to commit.
        other = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            assert await other.fetchval("SELECT count(*) FROM driver_probe") == 1
        finally:
            await other.close()
    finally:
        await db.dispose()


async def _backend_pid(db: Database) -> int:
    async with autocommit_driver(db) as driver:
        pid = await driver.fetchval("SELECT pg_backend_pid()")
    assert isinstance(pid, int)
    return pid


async def _decide_after_a_statement(db: Database) -> None:
    async with autocommit_driver(db, sound=(LookupError,)) as driver:
        await driver.fetchval("SELECT 1")
        raise LookupError("decided after the statement")


async def test_a_server_error_hands_the_connection_back_for_reuse(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=1)
    pool = db.engine.pool
    try:
        before = await _backend_pid(db)
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with autocommit_driver(db) as driver:
                await driver.fetchval("SELECT 1 / 0")
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await _backend_pid(db) == before  # the same connection, kept
        # A caller's own error named as sound keeps it too.
        with pytest.raises(LookupError):
            await _decide_after_a_statement(db)
        assert await _backend_pid(db) == before
    finally:
        await db.dispose()


async def test_a_block_leaving_a_transaction_open_closes_its_connection(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, pool_size=1)
    pool = db.engine.pool
    try:
        before = await _backend_pid(db)
        async with autocommit_driver(db) as driver:
            await driver.execute("BEGIN")  # SQLAlchemy did not begin it and would not end it
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        after = await _backend_pid(db)
        assert after != before  # closed, not handed on mid-transaction
        async with autocommit_driver(db) as driver:
            assert not driver.is_in_transaction()
    finally:
        await db.dispose()


async def test_a_cancelled_call_closes_its_connection(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=1)
    pool = db.engine.pool
    try:
        before = await _backend_pid(db)
        started = asyncio.Event()

        async def slow() -> None:
            async with autocommit_driver(db) as driver:
                started.set()
                await driver.execute("SELECT pg_sleep(5)")

        task = asyncio.create_task(slow())
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await _backend_pid(db) != before  # a new connection: the cut one was closed
    finally:
        await db.dispose()


async def test_sqlite_has_no_driver_path(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.sqlite3'}")
    try:
        with pytest.raises(RuntimeError, match="PostgreSQL only"):
            async with autocommit_driver(db):
                pass
    finally:
        await db.dispose()
