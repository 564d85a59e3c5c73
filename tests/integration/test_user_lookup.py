"""``escrowd.users.lookup.user_by_id``: the user behind a token, read outside any session.

On PostgreSQL it reads the row straight through asyncpg and builds the ``User`` itself, so it
must give back what a session's read gives: every column, the metadata as a dict, timestamps
aware and in UTC, and an object a later session can merge without inserting it again.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import inspect

from escrowd.bootstrap import Container
from escrowd.users.lookup import user_by_id
from escrowd.users.models import User
from tests.integration.conftest import make_user


async def test_a_user_reads_as_a_session_reads_it(container: Container) -> None:
    account = await make_user(container, role="worker")
    async with container.db.transaction() as session:
        stored = await session.get(User, account.id)
        assert stored is not None
        stored.meta = {"team": "blue", "tier": "2"}
        stored.disabled = True
    async with container.db.read() as session:
        expected = await session.get(User, account.id)
    assert expected is not None

    user = await user_by_id(container.db, account.id)

    assert user is not None
    columns = [a.key for a in inspect(User).column_attrs]
    assert {c: getattr(user, c) for c in columns} == {c: getattr(expected, c) for c in columns}
    assert user.meta == {"team": "blue", "tier": "2"}
    assert user.disabled is True
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() == UTC.utcoffset(None)
    assert inspect(user).detached


async def test_the_user_read_can_be_merged_into_a_session_without_a_second_row(
    container: Container,
) -> None:
    account = await make_user(container)
    user = await user_by_id(container.db, account.id)
    assert user is not None
    async with container.db.transaction() as session:
        merged = await session.merge(user)
        merged.name = "Renamed"
    async with container.db.read() as session:
        again = await session.get(User, account.id)
    assert again is not None
    assert again.name == "Renamed"


async def test_an_unknown_user_is_none(container: Container) -> None:
    assert await user_by_id(container.db, "usr_01J00000000000000000000000") is None
