"""``Database.read()`` and ``Database.autocommit()``: statements outside a transaction on
PostgreSQL, a transaction on SQLite; and the pool keeping the connections it opened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text

from escrowd.api.idempotency import IdempotencyKey
from escrowd.db.session import Database
from escrowd.users.models import User


async def test_reads_see_committed_rows(db: Database) -> None:
    async with db.read() as s:
        assert await s.scalar(text("SELECT 1")) == 1
        # An ORM query too (the user-token lookup reads a User this way).
        assert (await s.scalars(select(User).where(User.id == "usr_none"))).first() is None


async def test_on_postgresql_each_statement_is_its_own_transaction(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite reads in a transaction: its BEGIN is this module's own")
    async with db.read() as s:
        # No BEGIN was sent: each statement gets a transaction id of its own.
        first = await s.scalar(text("SELECT txid_current()"))
        second = await s.scalar(text("SELECT txid_current()"))
    assert first != second
    async with db.transaction() as s:  # the contrast: one transaction, one id
        first = await s.scalar(text("SELECT txid_current()"))
        second = await s.scalar(text("SELECT txid_current()"))
    assert first == second
    # The pooled connection went back in its usual mode.
    async with db.transaction() as s:
        assert await s.scalar(text("SHOW transaction_isolation")) == "read committed"
        first = await s.scalar(text("SELECT txid_current()"))
        second = await s.scalar(text("SELECT txid_current()"))
    assert first == second


async def test_an_autocommit_write_is_committed_when_its_statement_returns(db: Database) -> None:
    """What the Idempotency-Key's claim relies on: the row it inserts is there for every other
    connection at once, and an error later in the block takes nothing back (on PostgreSQL)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite writes in a transaction: its BEGIN is this module's own")
    key = "autocommit-" + str(id(db))
    row = {
        "scope": "anonymous",
        "key": key,
        "request_hash": "0" * 64,
        "method": "POST",
        "path": "/v1/test",
        "state": "in_flight",
        "created_at": datetime.now(UTC),
        "locked_until": datetime.now(UTC),
        "expires_at": datetime.now(UTC),
    }
    where = (IdempotencyKey.scope == "anonymous", IdempotencyKey.key == key)

    async def write_then_fail() -> None:
        async with db.autocommit() as s:
            await s.execute(insert(IdempotencyKey).values(**row))
            async with db.read() as other:  # another pooled connection sees it already
                assert await other.scalar(select(IdempotencyKey.id).where(*where)) is not None
            raise RuntimeError("the block fails after the statement")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    async with db.transaction() as s:  # still there: nothing was rolled back
        assert await s.scalar(select(IdempotencyKey.id).where(*where)) is not None
        await s.execute(delete(IdempotencyKey).where(*where))


@pytest.mark.parametrize("close_overflow", [False, True])
async def test_the_pool_keeps_the_connections_a_burst_opened(
    db_url: str, close_overflow: bool
) -> None:
    """Past ``pool_size`` at once the pool opens up to twice as many; by default it keeps
    them for the next requests (a reopened connection prepares its statements again), and
    ``close_overflow=True`` closes those past ``pool_size`` when they come back."""
    if db_url.startswith("sqlite"):
        pytest.skip("the connection pool is PostgreSQL's")
    db = Database(db_url, pool_size=2, close_overflow=close_overflow)
    try:
        all_in = asyncio.Event()
        held = 0

        async def hold() -> None:
            nonlocal held
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                held += 1
                if held == 4:
                    all_in.set()
                await all_in.wait()

        await asyncio.wait_for(asyncio.gather(*(hold() for _ in range(4))), 30)
        pool: Any = db.engine.pool
        assert pool.checkedin() == (2 if close_overflow else 4)
    finally:
        await db.dispose()
