from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import inspect

from escrowd.db.migrate import downgrade, upgrade
from escrowd.db.session import Database


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                names = await conn.run_sync(lambda c: inspect(c).get_table_names())
                return set(names) - {"alembic_version"}
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_go_from_empty_to_head_and_back_down(
    backend: str, fresh_db_url_factory: Callable[[str], str]
) -> None:
    url = fresh_db_url_factory(backend)  # already at head
    assert "idempotency_keys" in _tables(url)
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url, "head")
    assert "idempotency_keys" in _tables(url)
