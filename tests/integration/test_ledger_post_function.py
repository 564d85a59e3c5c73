"""``ledger_post_transfer`` (migration 0027): a single transfer in one call, on PostgreSQL.

The function writes a transfer only when it succeeds; otherwise it writes nothing and says
why, and the service decides the transfer the general way. Input that could not make a
balanced transfer is an error. Every test opens its own accounts on the shared database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select
from ulid import ULID

from escrowd.db.session import Database
from escrowd.ledger import (
    Account,
    AccountFlags,
    Balances,
    Ledger,
    LedgerError,
    Refusal,
    TransferKind,
)
from escrowd.ledger.domain import MAX_BALANCE
from escrowd.ledger.models import ENTRIES, FAILED, TRANSFERS
from escrowd.ledger.pgstore import PgStore
from escrowd.ledger.verify import summary_lines, verify

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def pg(db: Database) -> Database:
    if db.dialect != "postgresql":
        pytest.skip("the function is PostgreSQL's; SQLite keeps the general path")
    return db


@pytest.fixture
async def fresh_pg(postgres_url: str) -> AsyncIterator[Database]:
    """A database of the test's own, for ``ledger verify`` over all of it."""
    database = Database(postgres_url)
    try:
        yield database
    finally:
        await database.dispose()


@asynccontextmanager
async def driver(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """An asyncpg connection in a transaction that commits when the block ends."""
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        native: asyncpg.Connection = raw.driver_connection
        async with native.transaction():
            yield native


async def call(
    conn: asyncpg.Connection,
    id: str,
    debit: str,
    credit: str,
    amount: int | None,
    *,
    currency: str | None = "usd",
    kind: str = "posted",
) -> Any:
    return await conn.fetchval(
        "SELECT ledger_post_transfer($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7, $7, $8)",
        id,
        kind,
        debit,
        credit,
        amount,
        currency,
        NOW,
        "0" * 64,
    )


async def open_accounts(db: Database, tag: str) -> tuple[Account, Account, Account]:
    async with db.transaction() as session:
        ledger = Ledger(session)
        world = await ledger.open_account(code=f"world:{tag}", currency="usd")
        payee = await ledger.open_account(
            code=f"payee:{tag}",
            currency="usd",
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        )
        euros = await ledger.open_account(code=f"euros:{tag}", currency="eur")
    return world, payee, euros


async def state(db: Database, tag: str, accounts: tuple[Account, ...]) -> tuple[object, ...]:
    """The accounts' figures and versions, and this test's transfers, entries, failed ids."""
    async with db.transaction() as session:
        ledger = Ledger(session)
        figures = [await ledger.get_account(account_id=a.id) for a in accounts]
        mine = TRANSFERS.c.id.like(f"{tag}%")
        transfers = (await session.execute(select(func.count()).where(mine))).scalar_one()
        entries = (
            await session.execute(select(func.count()).where(ENTRIES.c.transfer_id.like(f"{tag}%")))
        ).scalar_one()
        failed = (
            await session.execute(select(func.count()).where(FAILED.c.id.like(f"{tag}%")))
        ).scalar_one()
    return (
        [(a.balances, a.version) for a in figures],
        transfers,
        entries,
        failed,
    )


async def test_a_single_transfer_is_one_call_that_writes_what_the_general_path_would(
    fresh_pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg = fresh_pg
    tag = str(ULID()).lower()
    world, payee, _ = await open_accounts(pg, tag)
    reads = 0
    read = PgStore.read

    async def counting_read(self: PgStore, *args: Any) -> Any:
        nonlocal reads
        reads += 1
        return await read(self, *args)

    monkeypatch.setattr(PgStore, "read", counting_read)
    async with pg.transaction() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            id=f"{tag}:fund", debit=world, credit=payee, amount=500, currency="usd"
        )
        hold = await ledger.hold(
            id=f"{tag}:hold", debit=payee, credit=world, amount=200, currency="usd"
        )
        assert (hold.kind, hold.state) == (TransferKind.pending, "pending")
    assert reads == 0  # neither went the general way
    async with pg.transaction() as session:
        ledger = Ledger(session)
        b = await ledger.balance(account=payee)
        assert (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted) == (
            200,
            0,
            0,
            500,
        )
        rows = await session.execute(
            select(ENTRIES).where(ENTRIES.c.transfer_id.like(f"{tag}%")).order_by(ENTRIES.c.id)
        )
        assert [
            (e.transfer_id.split(":")[1], e.account_id == payee.id, e.side, e.amount,
             e.posted_before, e.posted_after, e.pending_before, e.pending_after, e.version_after)
            for e in rows
        ] == [
            ("fund", False, "debit", 500, 0, -500, 0, 0, 1),
            ("fund", True, "credit", 500, 0, 500, 0, 0, 1),
            ("hold", True, "debit", 200, 500, 500, 0, -200, 2),
            ("hold", False, "credit", 200, -500, -500, 0, 200, 2),
        ]  # fmt: skip
    report = await verify(pg)
    assert report.ok, summary_lines(report)


async def test_refusals_write_nothing_and_say_why(pg: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, euros = await open_accounts(pg, tag)
    async with driver(pg) as conn:
        assert await call(conn, f"{tag}:fund", world.id, payee.id, 100) == "ok"
    before = await state(pg, tag, (world, payee, euros))
    async with driver(pg) as conn:
        # Currency: the transfer's against either account's.
        assert await call(conn, f"{tag}:a", world.id, payee.id, 5, currency="eur") == (
            "currency_mismatch"
        )
        assert await call(conn, f"{tag}:b", world.id, euros.id, 5) == "currency_mismatch"
        # Unknown accounts, on either side.
        assert await call(conn, f"{tag}:c", "la_nosuch", payee.id, 5) == "debit_account_not_found"
        assert await call(conn, f"{tag}:d", world.id, "la_nosuch", 5) == (
            "credit_account_not_found"
        )
        # The id is taken, whatever the fields: the service tells a replay from a conflict.
        assert await call(conn, f"{tag}:fund", world.id, payee.id, 100) == "id_exists"
        assert await call(conn, f"{tag}:fund", world.id, payee.id, 7) == "id_exists"
        # Limits, pending amounts included.
        assert await call(conn, f"{tag}:e", payee.id, world.id, 101) == "exceeds_credits"
        assert await call(conn, f"{tag}:f", payee.id, world.id, 60, kind="pending") == "ok"
        assert await call(conn, f"{tag}:g", payee.id, world.id, 41) == "exceeds_credits"
        # Past 64 bits is a refusal, not an arithmetic error.
        assert await call(conn, f"{tag}:h", world.id, payee.id, MAX_BALANCE) == (
            "overflows_balance"
        )
    after = await state(pg, tag, (world, payee, euros))
    # Only the hold (f) moved anything: one transfer, two entries, both versions + 1.
    assert before == (
        [(Balances(0, 100, 0, 0), 1), (Balances(0, 0, 0, 100), 1), (Balances(), 0)],
        1,
        2,
        0,
    )
    assert after == (
        [(Balances(0, 100, 60, 0), 2), (Balances(60, 0, 0, 100), 2), (Balances(), 0)],
        2,
        4,
        0,
    )


async def test_a_failed_id_is_refused_before_any_account_is_read(pg: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, _ = await open_accounts(pg, tag)
    async with pg.transaction() as session:
        with pytest.raises(LedgerError) as info:
            await Ledger(session).transfer(
                id=f"{tag}:x", debit=world, credit=payee, amount=5, currency="eur"
            )
        assert info.value.refusal is Refusal.currency_mismatch
    # The refusal was recorded once that transaction ended: the id stays failed.
    async with driver(pg) as conn:
        assert await call(conn, f"{tag}:x", world.id, payee.id, 5) == "id_already_failed"
        assert await call(conn, f"{tag}:x", "la_nosuch", payee.id, 5) == "id_already_failed"


@pytest.mark.parametrize(
    ("amount", "same_account", "kind", "currency"),
    [
        (0, False, "posted", "usd"),  # legs of nothing
        (-5, False, "posted", "usd"),  # legs that would run backwards
        (None, False, "posted", "usd"),
        (5, True, "posted", "usd"),  # both legs on one account
        (5, False, "post_pending", "usd"),  # settles a hold: not this function's
        (5, False, "posted", None),
    ],
)
async def test_what_cannot_be_a_balanced_transfer_is_an_error(
    pg: Database, amount: int | None, same_account: bool, kind: str, currency: str | None
) -> None:
    tag = str(ULID()).lower()
    world, payee, euros = await open_accounts(pg, tag)
    before = await state(pg, tag, (world, payee, euros))
    credit = world if same_account else payee
    with pytest.raises(asyncpg.InvalidParameterValueError):
        async with driver(pg) as conn:
            await call(
                conn, f"{tag}:bad", world.id, credit.id, amount, kind=kind, currency=currency
            )
    assert await state(pg, tag, (world, payee, euros)) == before


async def test_through_the_ledger_the_refusals_are_the_general_paths(fresh_pg: Database) -> None:
    pg = fresh_pg
    tag = str(ULID()).lower()
    world, payee, euros = await open_accounts(pg, tag)

    async def transfer(id: str, debit: str, credit: str, amount: int, currency: str) -> Any:
        async with pg.transaction() as session:
            return await Ledger(session).transfer(
                id=f"{tag}:{id}", debit=debit, credit=credit, amount=amount, currency=currency
            )

    first = await transfer("fund", world.id, payee.id, 100, "usd")
    assert await transfer("fund", world.id, payee.id, 100, "usd") == first  # a replay
    cases = [
        (("fund", world.id, payee.id, 99, "usd"), Refusal.exists_with_different_fields, 409),
        (("m", world.id, euros.id, 5, "usd"), Refusal.currency_mismatch, 400),
        (("u", "la_nosuch", payee.id, 5, "usd"), Refusal.debit_account_not_found, 404),
        (("v", world.id, "la_nosuch", 5, "usd"), Refusal.credit_account_not_found, 404),
        (("l", payee.id, world.id, 101, "usd"), Refusal.exceeds_credits, 409),
    ]
    for args, refusal, status in cases:
        with pytest.raises(LedgerError) as info:
            await transfer(*args)
        assert (info.value.refusal, info.value.http_status) == (refusal, status)
    # Refused ids stay failed, as on the general path.
    with pytest.raises(LedgerError) as info:
        await transfer("m", world.id, payee.id, 5, "usd")
    assert info.value.refusal is Refusal.id_already_failed
    assert info.value.original_code is Refusal.currency_mismatch
    report = await verify(pg)
    assert report.ok, summary_lines(report)
