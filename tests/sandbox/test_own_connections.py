"""The sandbox's own connections on PostgreSQL: asynchronous commit on its connections only,
lazy transactions that still keep a unit atomic, and a pool closed with the database."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from escrowd.bootstrap import Container
from escrowd.db.session import Database
from escrowd.sandbox.stripe.db import PgSql, Sql, own_pool, run_unit
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.store import Store
from tests.sandbox.conftest import Api


@pytest.fixture
def pg(container: Container) -> Container:
    if container.db.dialect != "postgresql":
        pytest.skip("the sandbox's own pool is PostgreSQL's")
    return container


def _in_transaction(sql: Sql) -> bool:
    assert isinstance(sql, PgSql)
    return bool(sql.conn.is_in_transaction())


def _probe(obj_id: str) -> tuple[str, dict[str, Any], str]:
    """A row no API call lists or reads (its own type and account): the suite's database is
    shared, and a half-made customer would show in other tests' lists."""
    return "own_connections_probe", {"id": obj_id}, "acct_own_connections_probe"


async def _stored(db: Database, obj_id: str) -> bool:
    async with db.transaction() as session:
        found = await session.execute(
            text("SELECT 1 FROM sandbox_stripe_objects WHERE id = :id"), {"id": obj_id}
        )
        return found.first() is not None


async def test_only_the_sandboxs_connections_commit_asynchronously(pg: Container) -> None:
    async def setting(sql: Sql) -> Any:
        row = await sql.row("SHOW synchronous_commit")
        assert row is not None
        return row[0]

    assert await run_unit(pg, setting) == "off"
    async with pg.db.transaction() as session:
        assert (await session.execute(text("SHOW synchronous_commit"))).scalar_one() == "on"


async def test_reads_run_outside_a_transaction_and_a_lock_begins_one(pg: Container) -> None:
    seen: list[bool] = []

    async def work(sql: Sql) -> None:
        await sql.row("SELECT offset_seconds FROM sandbox_stripe_clock WHERE id = 1")
        seen.append(_in_transaction(sql))
        await sql.row("SELECT offset_seconds FROM sandbox_stripe_clock WHERE id = 1 FOR UPDATE")
        seen.append(_in_transaction(sql))

    await run_unit(pg, work)
    assert seen == [False, True]


async def test_a_unit_whose_only_write_is_its_final_flush_stores_it(pg: Container) -> None:
    obj_id = new_id("probe")
    began: list[bool] = []

    async def work(sql: Sql) -> None:
        store = Store(sql)
        kind, data, account = _probe(obj_id)
        store.create(kind, data, account=account)
        await store.flush(final=True)
        began.append(_in_transaction(sql))

    await run_unit(pg, work)
    assert began == [False]
    assert await _stored(pg.db, obj_id)


async def test_a_unit_that_fails_after_writing_keeps_none_of_it(pg: Container) -> None:
    obj_id = new_id("probe")

    async def work(sql: Sql) -> None:
        store = Store(sql)
        kind, data, account = _probe(obj_id)
        store.create(kind, data, account=account)
        await store.flush()  # not the last statement: it opens the unit's transaction
        assert _in_transaction(sql)
        raise RuntimeError("the handler failed after a write")

    with pytest.raises(RuntimeError, match="after a write"):
        await run_unit(pg, work)
    assert not await _stored(pg.db, obj_id)

    async def after(sql: Sql) -> bool:  # the connection went back clean
        return _in_transaction(sql)

    assert await run_unit(pg, after) is False


async def test_the_cycle_through_the_api_on_the_own_pool(pg: Container, api: Api) -> None:
    params = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa"}
    params |= {"capture_method": "manual", "payment_method_types[]": "card"}
    run = uuid.uuid4().hex
    pi = await api.ok("POST", "/v1/payment_intents", params, key=f"{run}-c")
    again = await api.post("/v1/payment_intents", params, key=f"{run}-c")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == pi["id"]
    confirmed = await api.ok("POST", f"/v1/payment_intents/{pi['id']}/confirm", key=f"{run}-f")
    assert confirmed["status"] == "requires_capture"
    captured = await api.ok("POST", f"/v1/payment_intents/{pi['id']}/capture", key=f"{run}-p")
    assert captured["status"] == "succeeded"
    assert (await api.ok("GET", f"/v1/payment_intents/{pi['id']}"))["status"] == "succeeded"


async def test_disposing_the_database_closes_the_sandboxs_pool(pg: Container) -> None:
    async def nothing(sql: Sql) -> None:
        await sql.row("SELECT 1")

    await run_unit(pg, nothing)
    pool = await own_pool(pg.db)
    await pg.db.dispose()
    with pytest.raises(asyncpg.InterfaceError):
        async with pool.acquire():
            pass


@pytest.mark.parametrize("count", [1, 3, 20])
async def test_a_flush_writes_every_row_of_a_small_or_large_unit(pg: Container, count: int) -> None:
    # Few rows go as VALUES lists, many as arrays: both write them all, updates included.
    ids = [new_id("probe") for _ in range(count)]
    kind, _, account = _probe(ids[0])

    async def make(sql: Sql) -> None:
        store = Store(sql)
        for obj_id in ids:
            store.create(kind, {"id": obj_id, "n": 0}, account=account)
        await store.flush(final=True)

    async def change(sql: Sql) -> None:
        store = Store(sql)
        for obj_id in ids:
            obj = await store.get(obj_id, lock=True)
            assert obj is not None
            obj.data["n"] = 1
            obj.due_at = 7
            store.save(obj)
        await store.flush(final=True)

    await run_unit(pg, make)
    await run_unit(pg, change)
    async with pg.db.transaction() as session:
        rows = await session.execute(
            text("SELECT data, due_at FROM sandbox_stripe_objects WHERE id = ANY(:ids)"),
            {"ids": ids},
        )
        found = [(json.loads(data)["n"], due_at) for data, due_at in rows]
    assert found == [(1, 7)] * count
