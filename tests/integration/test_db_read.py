"""``Database.read()``: reads outside a transaction on PostgreSQL, a transaction on SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

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
