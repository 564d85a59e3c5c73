"""``verify`` passes on a good ledger and names every kind of break, on a fresh database.

Each tamper is plain SQL that bypasses the service, checked, then undone, so one small ledger
serves every case on each backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.db.session import Database
from escrowd.ledger import Account, AccountFlags, Ledger, LedgerError, TransferRequest
from escrowd.ledger.checks import Check
from escrowd.ledger.verify import (
    LEDGER_CHECKS,
    VerifyReport,
    summary_lines,
    verify,
)


@dataclass
class Books:
    db: Database
    clearing: Account
    escrow: Account
    payee: Account


@pytest.fixture
async def books(fresh_db_url: str) -> AsyncIterator[Books]:
    db = Database(fresh_db_url)
    try:
        async with db.transaction() as session:
            ledger = Ledger(session)
            clearing = await ledger.open_account(code="provider:stripe:clearing", currency="usd")
            escrow = await ledger.open_account(
                code="escrow:esc_1",
                currency="usd",
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            )
            payee = await ledger.open_account(code="payee:p1:available", currency="usd")
            await ledger.open_account(code="provider:stripe:clearing", currency="eur")
            await ledger.transfer(
                id="fund", debit=clearing, credit=escrow, amount=100_00, currency="usd"
            )
            await ledger.hold(id="hold", debit=escrow, credit=payee, amount=60_00, currency="usd")
            await ledger.post(id="post", pending_id="hold", amount=50_00)
            await ledger.hold(id="hold2", debit=escrow, credit=payee, amount=5_00, currency="usd")
            await ledger.void(id="void2", pending_id="hold2")
            await ledger.hold(id="open", debit=escrow, credit=payee, amount=1_00, currency="usd")
            await ledger.create_linked(
                [
                    TransferRequest(
                        id="l1",
                        debit_account_id=escrow.id,
                        credit_account_id=payee.id,
                        amount=1,
                        currency="usd",
                    ),
                    TransferRequest(
                        id="l2",
                        debit_account_id=escrow.id,
                        credit_account_id=payee.id,
                        amount=2,
                        currency="usd",
                    ),
                ]
            )
        with contextlib.suppress(LedgerError):  # refused, and recorded as a failed id
            async with db.transaction() as session:
                await Ledger(session).transfer(
                    id="too-much", debit=escrow, credit=payee, amount=10**9, currency="usd"
                )
    except BaseException:
        await db.dispose()
        raise
    books = Books(db, clearing, escrow, payee)
    try:
        yield books
    finally:
        await db.dispose()


async def sql(db: Database, *statements: str) -> None:
    async with db.transaction() as session:
        for statement in statements:
            await session.execute(text(statement))


async def breaks(db: Database) -> dict[str, list[str]]:
    report = await verify(db)
    found: dict[str, list[str]] = {}
    for b in report.breaks:
        found.setdefault(b.check, []).append(b.message)
    assert report.break_count == len(report.breaks)
    assert report.ok is (not found)
    return found


async def test_verify_passes_on_good_books_and_counts_them(books: Books) -> None:
    steps: list[tuple[int, int, str]] = []
    report = await verify(
        books.db, progress=lambda done, total, step: steps.append((done, total, step))
    )
    assert report.ok, summary_lines(report)
    assert (report.accounts, report.transfers, report.entries) == (4, 8, 16)
    assert (report.currencies, report.failed_ids) == (2, 1)
    assert report.checks == [c.name for c in LEDGER_CHECKS]
    total = len(report.checks)
    assert steps[0] == (0, total, LEDGER_CHECKS[0].description)
    assert steps[-1] == (total, total, "done")
    lines = summary_lines(report)
    assert lines[0] == "ledger verify: OK"
    assert "8 transfers" in lines[1]


async def test_a_tampered_balance_column_is_found(books: Books) -> None:
    e = books.escrow.id
    await sql(
        books.db, f"UPDATE ledger_accounts SET credits_posted = credits_posted + 7 WHERE id = '{e}'"
    )
    found = await breaks(books.db)
    assert set(found) == {"balanced", "balances_match_entries", "balances_match_transfers"}
    assert "usd: debits and credits differ" in found["balanced"][0]
    assert f"account {e}" in found["balances_match_entries"][0]
    assert "credits_posted 10007 stored, 10000 from entries" in found["balances_match_entries"][0]
    assert "10000 from transfers" in found["balances_match_transfers"][0]
    await sql(
        books.db, f"UPDATE ledger_accounts SET credits_posted = credits_posted - 7 WHERE id = '{e}'"
    )
    assert await breaks(books.db) == {}


async def test_a_deleted_entry_is_found(books: Books) -> None:
    async with books.db.transaction() as session:
        row = (
            await session.execute(
                text("SELECT * FROM ledger_entries WHERE transfer_id = 'post' AND side = 'credit'")
            )
        ).one()
    await sql(books.db, f"DELETE FROM ledger_entries WHERE id = {row.id}")
    found = await breaks(books.db)
    assert "transfer post is missing its debit or credit entry" in found["entries_match_transfers"]
    assert any(books.payee.id in m for m in found["balances_match_entries"])
    assert any(books.payee.id in m for m in found["entry_chains"])
    columns = ", ".join(str(column) for column in row._mapping)
    values = ", ".join(repr(v) for v in row)
    await sql(books.db, f"INSERT INTO ledger_entries ({columns}) VALUES ({values})")
    assert await breaks(books.db) == {}


async def test_an_unbalanced_insert_is_found(books: Books) -> None:
    e, c = books.escrow.id, books.clearing.id
    await sql(
        books.db,
        "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency,"
        " kind, effective_at, created_at, payload_hash) VALUES"
        f" ('sneaky', '{c}', '{e}', 500, 'usd', 'posted', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
        " 'x')",
        # Only the debit side is written: money appears from nowhere on one side.
        "UPDATE ledger_accounts SET debits_posted = debits_posted + 500, version = version + 1"
        f" WHERE id = '{c}'",
        "INSERT INTO ledger_entries (transfer_id, account_id, side, amount, posted_before,"
        " posted_after, pending_before, pending_after, version_after) VALUES"
        f" ('sneaky', '{c}', 'debit', 500, -10000, -10500, 0, 0, 2)",
    )
    found = await breaks(books.db)
    assert "balanced" in found
    assert (
        "transfer sneaky is missing its debit or credit entry" in found["entries_match_transfers"]
    )
    assert any(e in m for m in found["balances_match_transfers"])
    await sql(
        books.db,
        "DELETE FROM ledger_entries WHERE transfer_id = 'sneaky'",
        "DELETE FROM ledger_transfers WHERE id = 'sneaky'",
        "UPDATE ledger_accounts SET debits_posted = debits_posted - 500, version = version - 1"
        f" WHERE id = '{c}'",
    )
    assert await breaks(books.db) == {}


async def test_an_account_below_its_limit_is_found(books: Books) -> None:
    # The database refuses this too (a CHECK constraint); take it away to see verify catch it.
    c = books.clearing.id
    async with books.db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        else:
            await conn.exec_driver_sql(
                "ALTER TABLE ledger_accounts"
                " DROP CONSTRAINT ck_ledger_accounts_debits_within_credits"
            )
        await conn.exec_driver_sql(f"UPDATE ledger_accounts SET flags = 1 WHERE id = '{c}'")
        await conn.commit()
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
    found = await breaks(books.db)
    assert list(found) == ["limits"]
    assert found["limits"][0].startswith(f"account {c} (provider:stripe:clearing, usd, flags 1)")
    await sql(books.db, f"UPDATE ledger_accounts SET flags = 0 WHERE id = '{c}'")
    assert await breaks(books.db) == {}


async def test_two_phase_and_chain_breaks_are_found(books: Books) -> None:
    await sql(books.db, "UPDATE ledger_transfers SET state = 'pending' WHERE id = 'hold'")
    found = await breaks(books.db)
    assert any("transfer post (post_pending" in m for m in found["two_phase"])
    await sql(
        books.db,
        "UPDATE ledger_transfers SET state = 'posted' WHERE id = 'hold'",
        "UPDATE ledger_transfers SET state = 'voided' WHERE id = 'open'",
    )
    found = await breaks(books.db)
    assert (
        "pending transfer open is marked voided, but nothing posted or voided it"
        in (found["two_phase"])
    )
    await sql(
        books.db,
        "UPDATE ledger_transfers SET state = 'pending' WHERE id = 'open'",
        "UPDATE ledger_entries SET posted_before = posted_before + 1 WHERE transfer_id = 'l2'",
    )
    found = await breaks(books.db)
    assert set(found) == {"entry_chains", "entries_match_transfers", "balances_match_entries"}
    assert all("l2" in m for m in found["entry_chains"])
    await sql(
        books.db,
        "UPDATE ledger_entries SET posted_before = posted_before - 1 WHERE transfer_id = 'l2'",
        "UPDATE ledger_transfers SET currency = 'eur' WHERE id = 'fund'",
        "INSERT INTO ledger_failed_transfers (id, payload_hash, code, created_at)"
        " VALUES ('l1', 'x', 'exceeds_credits', CURRENT_TIMESTAMP)",
    )
    found = await breaks(books.db)
    assert found["currencies"][0].startswith("transfer fund is in eur")
    assert found["failed_ids"] == [
        "transfer l1 exists although its id is recorded as failed (exceeds_credits)"
    ]


async def test_extra_checks_run_and_breaks_are_capped(books: Books) -> None:
    async def every_account_is_wrong(conn: AsyncConnection) -> AsyncIterator[str]:
        for row in await conn.execute(text("SELECT id FROM ledger_accounts ORDER BY id")):
            yield f"account {row.id} is wrong on purpose"

    extra = Check(
        "escrow_balances", "each escrow holds funded - released - refunded", every_account_is_wrong
    )
    report: VerifyReport = await verify(books.db, max_breaks=2, extra=[extra])
    assert report.checks[-1] == "escrow_balances"
    assert (report.break_count, len(report.breaks)) == (4, 2)
    assert not report.ok
    lines = summary_lines(report)
    assert lines[0] == "ledger verify: 4 break(s) found"
    assert lines[-1] == "  … and 2 more"
