"""Count the statements escrowd sends, SQLAlchemy's and those sent straight to asyncpg.

``with counted(engine) as seen:`` … ``await flushed()`` … then ``seen`` holds, per first word
(``SELECT``, ``INSERT``, …), the statements sent while the block ran, and ``seen["commits"]``
the transactions SQLAlchemy committed. A statement sent straight to the driver (the ledger's
PostgreSQL store, ``escrowd.db.driver``) never passes SQLAlchemy's cursor events: on
PostgreSQL those are counted by an asyncpg query logger on every connection checked out
meanwhile. Transaction control (``BEGIN``, ``COMMIT`` …) is not a statement here, and the
in-process sandbox's own tables (``sandbox_…``) stand in for Stripe: neither is counted.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import ExecuteStyle
from sqlalchemy.ext.asyncio import AsyncEngine

_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START"}


def _word(statement: str) -> str:
    return statement.lstrip().split(None, 1)[0].rstrip(";").upper()


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[collections.Counter[str]]:
    seen: collections.Counter[str] = collections.Counter()
    sync = engine.sync_engine
    postgres = sync.dialect.name == "postgresql"

    def on_cursor(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        # asyncpg logs a driver-level executemany itself (below); anything else SQLAlchemy
        # sends prepared, which its query loggers do not see: a single statement, or a batch
        # of an INSERT's rows with RETURNING ("insertmanyvalues", flagged executemany too).
        driver_many = context is not None and context.execute_style is ExecuteStyle.EXECUTEMANY
        if "sandbox_" not in statement and not (postgres and driver_many):
            seen[_word(statement)] += 1

    def on_query(record: Any) -> None:
        if "sandbox_" not in record.query and _word(record.query) not in _CONTROL:
            seen[_word(record.query)] += 1

    def on_checkout(dbapi: Any, record: Any, proxy: Any) -> None:
        record.driver_connection.add_query_logger(on_query)

    def on_checkin(dbapi: Any, record: Any) -> None:
        if record.driver_connection is not None:
            record.driver_connection.remove_query_logger(on_query)

    def on_commit(conn: Any) -> None:
        seen["commits"] += 1

    listeners: list[tuple[Any, str, Any]] = [
        (sync, "before_cursor_execute", on_cursor),
        (sync, "commit", on_commit),
    ]
    if postgres:
        listeners += [(sync.pool, "checkout", on_checkout), (sync.pool, "checkin", on_checkin)]
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    try:
        yield seen
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)


async def flushed() -> None:
    """Let asyncpg's query loggers report: it schedules them on the event loop."""
    for _ in range(3):
        await asyncio.sleep(0)


def statements(seen: collections.Counter[str]) -> int:
    return sum(n for word, n in seen.items() if word != "commits")


@contextmanager
def compiled_forms(engine: AsyncEngine, marker: str) -> Iterator[list[Any]]:
    """The distinct compiled forms SQLAlchemy used for the statements containing ``marker``
    while the block ran: one when the statement is cached, one per execution when it cannot
    be (a statement holding its rows in VALUES is compiled anew each time). The forms are
    kept, not their ids: a form compiled and freed could leave its id to the next one."""
    forms: list[Any] = []
    sync = engine.sync_engine

    def on_cursor(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        compiled = getattr(context, "compiled", None)
        if marker in statement and compiled is not None and all(f is not compiled for f in forms):
            forms.append(compiled)

    event.listen(sync, "before_cursor_execute", on_cursor)
    try:
        yield forms
    finally:
        event.remove(sync, "before_cursor_execute", on_cursor)
