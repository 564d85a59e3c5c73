"""One single-statement unit of work, three ways: what SQLAlchemy's layers cost per statement.

    .venv/bin/python bench/statement_paths.py               # 2,000 statements per path, 3 rounds
    .venv/bin/python bench/statement_paths.py --statements 5000 --rounds 5

The statement is the ``Idempotency-Key`` claim every POST sends (``INSERT … ON CONFLICT DO
NOTHING RETURNING id`` into ``idempotency_keys``, a new key each time), on a pooled connection
outside any explicit transaction, one after another from one coroutine:

- orm-session: ``Database.autocommit()`` (an ``AsyncSession`` on an AUTOCOMMIT connection)
  and the ORM ``insert(IdempotencyKey)`` statement, as the middleware sent it before;
- core-connection: ``engine.connect()`` with AUTOCOMMIT and a Core ``insert`` on the table;
- asyncpg: ``escrowd.db.driver.autocommit_driver`` and the same SQL as text, as the
  middleware sends it now on PostgreSQL.

Each path's CPU time (``time.process_time``, this process only: PostgreSQL's is excluded) and
wall time per statement are printed per round; the rounds alternate the paths. A database
``escrowd_bench_statements`` is created on the local server, migrated, and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from ulid import ULID

from escrowd.api.idempotency import _CLAIM_SQL, IdempotencyKey
from escrowd.db.driver import autocommit_driver
from escrowd.db.migrate import upgrade
from escrowd.db.session import Database

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "escrowd_bench_statements"


def _fresh(now: datetime) -> dict[str, object]:
    return {
        "request_hash": "0" * 64,
        "method": "POST",
        "path": "/v1/escrows",
        "state": "in_flight",
        "response_status": None,
        "response_headers": None,
        "response_body": None,
        "created_at": now,
        "locked_until": now + timedelta(seconds=300),
        "expires_at": now + timedelta(days=1),
    }


async def orm_session(db: Database, key: str, now: datetime) -> None:
    claim = (
        pg_insert(IdempotencyKey)
        .values(scope="bench", key=key, **_fresh(now))
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(IdempotencyKey.id)
    )
    async with db.autocommit() as s:
        assert await s.scalar(claim) is not None


async def core_connection(db: Database, key: str, now: datetime) -> None:
    table = IdempotencyKey.__table__
    assert isinstance(table, Table)
    claim = (
        pg_insert(table)
        .values(scope="bench", key=key, **_fresh(now))
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(table.c.id)
    )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        assert (await conn.execute(claim)).scalar() is not None


async def driver(db: Database, key: str, now: datetime) -> None:
    async with autocommit_driver(db) as conn:
        assert await conn.fetchval(_CLAIM_SQL, "bench", key, *_fresh(now).values()) is not None


PATHS: dict[str, Callable[[Database, str, datetime], Awaitable[None]]] = {
    "orm-session": orm_session,
    "core-connection": core_connection,
    "asyncpg": driver,
}


async def _admin(server: str, sql: str) -> None:
    u = make_url(server)
    conn = await asyncpg.connect(
        host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure(url: str, statements: int, rounds: int) -> None:
    db = Database(url, pool_size=2)
    try:
        for path in PATHS.values():  # warm: connections opened, statements prepared
            for _ in range(50):
                await path(db, str(ULID()), datetime.now(UTC))
        print(f"{'round':>5}  {'path':<16} {'CPU ms/stmt':>11} {'wall ms/stmt':>12}")
        for round_ in range(1, rounds + 1):
            for name, path in PATHS.items():
                now = datetime.now(UTC)
                keys = [str(ULID()) for _ in range(statements)]
                cpu, wall = time.process_time(), time.perf_counter()
                for key in keys:
                    await path(db, key, now)
                cpu = (time.process_time() - cpu) * 1000 / statements
                wall = (time.perf_counter() - wall) * 1000 / statements
                print(f"{round_:>5}  {name:<16} {cpu:>11.3f} {wall:>12.3f}")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statements", type=int, default=2000, help="per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running every path")
    parser.add_argument(
        "--url", default=DEFAULT_SERVER, help=f"PostgreSQL server (default {DEFAULT_SERVER})"
    )
    args = parser.parse_args()
    if not (1 <= args.statements <= 1_000_000 and 1 <= args.rounds <= 100):
        parser.error("--statements must be 1..1000000 and --rounds 1..100")
    asyncio.run(_admin(args.url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
    asyncio.run(_admin(args.url, f'CREATE DATABASE "{BENCH_DB}"'))
    try:
        url = make_url(args.url).set(database=BENCH_DB).render_as_string(hide_password=False)
        upgrade(url)
        asyncio.run(measure(url, args.statements, args.rounds))
    finally:
        asyncio.run(_admin(args.url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
