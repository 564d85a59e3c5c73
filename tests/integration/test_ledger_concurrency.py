"""Concurrent transfers against one account: money moves exactly as often as it can.

Every transfer runs in its own session and transaction, all started together. PostgreSQL
serializes them on row locks, SQLite on its write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import text

from escrowd.db.session import Database
from escrowd.ledger import Account, AccountFlags, Ledger, LedgerError, Refusal, Transfer
from escrowd.ledger.verify import summary_lines, verify

FUNDING_TRANSFERS = 20
UNIT = 100
ATTEMPTS = 50


async def open_accounts(db: Database) -> tuple[Account, Account, Account]:
    async with db.transaction() as session:
        ledger = Ledger(session)
        world = await ledger.open_account(code="provider:stripe:clearing", currency="usd")
        payee = await ledger.open_account(
            code="payee:p1:available",
            currency="usd",
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        )
        out = await ledger.open_account(code="payouts:in_transit", currency="usd")
        for n in range(FUNDING_TRANSFERS):
            await ledger.transfer(
                id=f"fund-{n}", debit=world, credit=payee, amount=UNIT, currency="usd"
            )
    return world, payee, out


async def attempt(db: Database, transfer_id: str, payee: Account, out: Account) -> Transfer | str:
    try:
        async with db.transaction() as session:
            return await Ledger(session).transfer(
                id=transfer_id, debit=payee, credit=out, amount=UNIT, currency="usd"
            )
    except LedgerError as exc:
        return exc.code


async def drain_concurrently(url: str) -> None:
    db = Database(url, pool_size=ATTEMPTS)
    try:
        _, payee, out = await open_accounts(db)
        outcomes = await asyncio.gather(
            *(attempt(db, f"payout-{n}", payee, out) for n in range(ATTEMPTS))
        )
        succeeded = [o for o in outcomes if isinstance(o, Transfer)]
        refused = [o for o in outcomes if not isinstance(o, Transfer)]
        assert len(succeeded) == FUNDING_TRANSFERS
        assert refused == ["exceeds_credits"] * (ATTEMPTS - FUNDING_TRANSFERS)
        async with db.transaction() as session:
            balance = await Ledger(session).balance(account=payee)
        assert (balance.net_posted, balance.credits_posted) == (0, FUNDING_TRANSFERS * UNIT)
        report = await verify(db)
        assert report.ok, summary_lines(report)
        assert report.failed_ids == ATTEMPTS - FUNDING_TRANSFERS
    finally:
        await db.dispose()


async def test_fifty_concurrent_payouts_from_twenty_units_on_postgres(postgres_url: str) -> None:
    await drain_concurrently(postgres_url)


@pytest.fixture
def sqlite_url(fresh_db_url_factory: Callable[[str], str]) -> str:
    return fresh_db_url_factory("sqlite")


async def test_fifty_concurrent_payouts_from_twenty_units_on_sqlite(sqlite_url: str) -> None:
    await drain_concurrently(sqlite_url)


async def test_concurrent_settles_of_one_hold_post_it_once(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=20)
    try:
        _, payee, out = await open_accounts(db)
        async with db.transaction() as session:
            await Ledger(session).hold(
                id="hold", debit=payee, credit=out, amount=5 * UNIT, currency="usd"
            )

        async def settle(n: int) -> str:
            try:
                async with db.transaction() as session:
                    ledger = Ledger(session)
                    if n % 2:
                        await ledger.void(id=f"void-{n}", pending_id="hold")
                    else:
                        await ledger.post(id=f"post-{n}", pending_id="hold", amount=UNIT)
                return "ok"
            except LedgerError as exc:
                return exc.code

        outcomes = await asyncio.gather(*(settle(n) for n in range(20)))
        assert outcomes.count("ok") == 1
        assert set(outcomes) - {"ok"} <= {
            "pending_transfer_already_posted",
            "pending_transfer_already_voided",
        }
        report = await verify(db)
        assert report.ok, summary_lines(report)
    finally:
        await db.dispose()


async def test_the_same_new_id_from_two_transactions_moves_money_once(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=5)
    try:
        world, payee, _ = await open_accounts(db)

        async def same_transfer() -> Transfer:
            async with db.transaction() as session:
                return await Ledger(session).transfer(
                    id="dup", debit=world, credit=payee, amount=UNIT, currency="usd"
                )

        async with db.transaction() as first:
            await Ledger(first).transfer(
                id="dup", debit=world, credit=payee, amount=UNIT, currency="usd"
            )
            second = asyncio.create_task(same_transfer())
            await wait_for_a_lock_waiter(db)
        # The second read its snapshot before the first committed: it can only roll back...
        with pytest.raises(LedgerError) as info:
            await second
        assert info.value.refusal is Refusal.id_in_flight
        assert info.value.http_status == 409
        # ...and its retry replays the first.
        replay = await same_transfer()
        assert replay.id == "dup"
        async with db.transaction() as session:
            balance = await Ledger(session).balance(account=payee)
        assert balance.credits_posted == (FUNDING_TRANSFERS + 1) * UNIT
        report = await verify(db)
        assert report.ok, summary_lines(report)
        assert report.failed_ids == 0
    finally:
        await db.dispose()


async def wait_for_a_lock_waiter(db: Database) -> None:
    for _ in range(200):
        async with db.engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    )
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second transaction never waited for the first one's locks")
