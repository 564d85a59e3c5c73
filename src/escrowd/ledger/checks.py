"""The ledger's own invariants, one SQL statement each, for :mod:`escrowd.ledger.verify`.

Each check streams only the rows that break its invariant (normally none) and yields one
message per break naming the account or transfer. Aggregates and joins run in the database, so
the size of the ledger does not reach Python's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

#: A check yields one human message per break, each naming the account or transfer.
CheckFn = Callable[[AsyncConnection], AsyncIterator[str]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    description: str
    run: CheckFn


async def _rows(conn: AsyncConnection, sql: str) -> AsyncIterator[Any]:
    result = await conn.stream(text(sql))
    async for row in result:
        yield row


async def _balanced(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT currency, CAST(SUM(debits_posted) AS BIGINT) AS dpo,
               CAST(SUM(credits_posted) AS BIGINT) AS cpo,
               CAST(SUM(debits_pending) AS BIGINT) AS dpe,
               CAST(SUM(credits_pending) AS BIGINT) AS cpe
        FROM ledger_accounts GROUP BY currency
        HAVING SUM(debits_posted) <> SUM(credits_posted)
            OR SUM(debits_pending) <> SUM(credits_pending)
    """
    async for r in _rows(conn, sql):
        yield (
            f"{r.currency}: debits and credits differ — posted {r.dpo} vs {r.cpo}, "
            f"pending {r.dpe} vs {r.cpe}"
        )


async def _limits(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT id, code, currency, flags, debits_pending, debits_posted,
               credits_pending, credits_posted
        FROM ledger_accounts
        WHERE ((flags & 1) <> 0 AND debits_pending + debits_posted > credits_posted)
           OR ((flags & 2) <> 0 AND credits_pending + credits_posted > debits_posted)
           OR debits_pending < 0 OR debits_posted < 0
           OR credits_pending < 0 OR credits_posted < 0
    """
    async for r in _rows(conn, sql):
        yield (
            f"account {r.id} ({r.code}, {r.currency}, flags {r.flags}) is beyond its limit: "
            f"debits {r.debits_posted} posted + {r.debits_pending} pending, "
            f"credits {r.credits_posted} posted + {r.credits_pending} pending"
        )


_FIGURES = ("debits_posted", "debits_pending", "credits_posted", "credits_pending")


def _mismatches(r: Any, source: str, names: Sequence[str]) -> str:
    diffs = [
        f"{name} {getattr(r, name)} stored, {getattr(r, 'x_' + name)} from {source}"
        for name in names
        if getattr(r, name) != getattr(r, "x_" + name)
    ]
    return f"account {r.id} ({r.code}, {r.currency}): " + "; ".join(diffs)


async def _balances_match_entries(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT a.id, a.code, a.currency, a.debits_posted, a.debits_pending,
               a.credits_posted, a.credits_pending, a.version,
               CAST(COALESCE(e.dpo, 0) AS BIGINT) AS x_debits_posted,
               CAST(COALESCE(e.dpe, 0) AS BIGINT) AS x_debits_pending,
               CAST(COALESCE(e.cpo, 0) AS BIGINT) AS x_credits_posted,
               CAST(COALESCE(e.cpe, 0) AS BIGINT) AS x_credits_pending,
               COALESCE(e.n, 0) AS x_version, COALESCE(e.top, 0) AS top
        FROM ledger_accounts a
        LEFT JOIN (
            SELECT account_id,
                   SUM(CASE WHEN side = 'debit' THEN posted_before - posted_after ELSE 0 END)
                       AS dpo,
                   SUM(CASE WHEN side = 'debit' THEN pending_before - pending_after ELSE 0 END)
                       AS dpe,
                   SUM(CASE WHEN side = 'credit' THEN posted_after - posted_before ELSE 0 END)
                       AS cpo,
                   SUM(CASE WHEN side = 'credit' THEN pending_after - pending_before ELSE 0 END)
                       AS cpe,
                   COUNT(*) AS n, MAX(version_after) AS top
            FROM ledger_entries GROUP BY account_id
        ) e ON e.account_id = a.id
        WHERE a.debits_posted <> COALESCE(e.dpo, 0) OR a.debits_pending <> COALESCE(e.dpe, 0)
           OR a.credits_posted <> COALESCE(e.cpo, 0) OR a.credits_pending <> COALESCE(e.cpe, 0)
           OR a.version <> COALESCE(e.n, 0) OR a.version <> COALESCE(e.top, 0)
    """
    async for r in _rows(conn, sql):
        message = _mismatches(r, "entries", (*_FIGURES, "version"))
        if r.top != r.version:
            message += f"; entries' last version is {r.top}"
        yield message


async def _balances_match_transfers(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT a.id, a.code, a.currency, a.debits_posted, a.debits_pending,
               a.credits_posted, a.credits_pending,
               CAST(COALESCE(m.dpo, 0) AS BIGINT) AS x_debits_posted,
               CAST(COALESCE(m.dpe, 0) AS BIGINT) AS x_debits_pending,
               CAST(COALESCE(m.cpo, 0) AS BIGINT) AS x_credits_posted,
               CAST(COALESCE(m.cpe, 0) AS BIGINT) AS x_credits_pending
        FROM ledger_accounts a
        LEFT JOIN (
            SELECT account_id, SUM(dpo) AS dpo, SUM(dpe) AS dpe, SUM(cpo) AS cpo, SUM(cpe) AS cpe
            FROM (
                SELECT debit_account_id AS account_id,
                       CASE WHEN kind = 'pending' THEN 0 ELSE amount END AS dpo,
                       CASE WHEN kind = 'pending' AND state = 'pending' THEN amount ELSE 0 END
                           AS dpe,
                       0 AS cpo, 0 AS cpe
                FROM ledger_transfers WHERE kind <> 'void_pending'
                UNION ALL
                SELECT credit_account_id, 0, 0,
                       CASE WHEN kind = 'pending' THEN 0 ELSE amount END,
                       CASE WHEN kind = 'pending' AND state = 'pending' THEN amount ELSE 0 END
                FROM ledger_transfers WHERE kind <> 'void_pending'
            ) moves GROUP BY account_id
        ) m ON m.account_id = a.id
        WHERE a.debits_posted <> COALESCE(m.dpo, 0) OR a.debits_pending <> COALESCE(m.dpe, 0)
           OR a.credits_posted <> COALESCE(m.cpo, 0) OR a.credits_pending <> COALESCE(m.cpe, 0)
    """
    async for r in _rows(conn, sql):
        yield _mismatches(r, "transfers", _FIGURES)


async def _entry_chains(conn: AsyncConnection) -> AsyncIterator[str]:
    # Each entry starts where the account's previous entry ended, from zero at version 1.
    sql = """
        SELECT id, account_id, transfer_id, version_after, posted_before, pending_before,
               prev_posted, prev_pending, prev_version
        FROM (
            SELECT id, account_id, transfer_id, version_after, posted_before, pending_before,
                   LAG(posted_after, 1, 0) OVER w AS prev_posted,
                   LAG(pending_after, 1, 0) OVER w AS prev_pending,
                   LAG(version_after, 1, 0) OVER w AS prev_version
            FROM ledger_entries
            WINDOW w AS (PARTITION BY account_id ORDER BY version_after)
        ) chained
        WHERE posted_before <> prev_posted OR pending_before <> prev_pending
           OR version_after <> prev_version + 1
    """
    async for r in _rows(conn, sql):
        yield (
            f"account {r.account_id}: entry for transfer {r.transfer_id} (version "
            f"{r.version_after}) starts at posted {r.posted_before} / pending "
            f"{r.pending_before}, but the previous entry (version {r.prev_version}) ended at "
            f"{r.prev_posted} / {r.prev_pending}"
        )


async def _entries_match_transfers(conn: AsyncConnection) -> AsyncIterator[str]:
    # Signs: entries hold net figures (credits - debits), so a debit entry moves them down.
    sql = """
        SELECT e.transfer_id, e.account_id, e.side, t.kind
        FROM ledger_entries e
        JOIN ledger_transfers t ON t.id = e.transfer_id
        LEFT JOIN ledger_transfers p ON p.id = t.pending_id
        WHERE e.amount <> t.amount
           OR e.account_id <> CASE WHEN e.side = 'debit' THEN t.debit_account_id
                                   ELSE t.credit_account_id END
           OR (e.posted_after - e.posted_before) * CASE WHEN e.side = 'debit' THEN -1 ELSE 1 END
              <> CASE WHEN t.kind IN ('posted', 'post_pending') THEN t.amount ELSE 0 END
           OR (e.pending_after - e.pending_before) * CASE WHEN e.side = 'debit' THEN -1 ELSE 1 END
              <> CASE t.kind WHEN 'posted' THEN 0 WHEN 'pending' THEN t.amount
                             ELSE -p.amount END
    """
    async for r in _rows(conn, sql):
        yield (
            f"transfer {r.transfer_id} ({r.kind}): its {r.side} entry on account "
            f"{r.account_id} does not match the transfer's accounts or amounts"
        )
    counts = (
        await conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM ledger_entries) AS entries,"
                " (SELECT COUNT(*) FROM ledger_transfers) AS transfers"
            )
        )
    ).one()
    # (transfer_id, side) is unique, so exactly 2 entries per transfer on average means exactly
    # 2 for each: the search for the missing ones only runs when the counts disagree.
    if counts.entries != 2 * counts.transfers:
        sql = """
            SELECT t.id FROM ledger_transfers t
            WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e
                              WHERE e.transfer_id = t.id AND e.side = 'debit')
               OR NOT EXISTS (SELECT 1 FROM ledger_entries e
                              WHERE e.transfer_id = t.id AND e.side = 'credit')
        """
        async for r in _rows(conn, sql):
            yield f"transfer {r.id} is missing its debit or credit entry"


async def _two_phase(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT t.id, t.kind, t.pending_id, t.amount, p.id AS p_id, p.kind AS p_kind,
               p.state AS p_state, p.amount AS p_amount
        FROM ledger_transfers t
        LEFT JOIN ledger_transfers p ON p.id = t.pending_id
        WHERE t.kind IN ('post_pending', 'void_pending')
          AND (p.id IS NULL OR p.kind <> 'pending'
               OR p.debit_account_id <> t.debit_account_id
               OR p.credit_account_id <> t.credit_account_id
               OR p.currency <> t.currency
               OR (t.kind = 'post_pending' AND (t.amount > p.amount OR p.state <> 'posted'))
               OR (t.kind = 'void_pending' AND (t.amount <> p.amount OR p.state <> 'voided')))
    """
    async for r in _rows(conn, sql):
        if r.p_id is None:
            yield f"transfer {r.id} ({r.kind}) settles {r.pending_id}, which does not exist"
        else:
            yield (
                f"transfer {r.id} ({r.kind}, amount {r.amount}) does not agree with the "
                f"{r.p_kind} transfer {r.p_id} it settles (state {r.p_state}, amount "
                f"{r.p_amount}, or its accounts or currency)"
            )
    sql = """
        SELECT p.id, p.state FROM ledger_transfers p
        WHERE p.kind = 'pending' AND p.state <> 'pending'
          AND NOT EXISTS (SELECT 1 FROM ledger_transfers s WHERE s.pending_id = p.id)
    """
    async for r in _rows(conn, sql):
        yield f"pending transfer {r.id} is marked {r.state}, but nothing posted or voided it"


async def _currencies(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT t.id, t.currency, d.id AS d_id, d.currency AS d_cur,
               c.id AS c_id, c.currency AS c_cur
        FROM ledger_transfers t
        JOIN ledger_accounts d ON d.id = t.debit_account_id
        JOIN ledger_accounts c ON c.id = t.credit_account_id
        WHERE t.currency <> d.currency OR t.currency <> c.currency
    """
    async for r in _rows(conn, sql):
        yield (
            f"transfer {r.id} is in {r.currency} but moves {r.d_id} ({r.d_cur}) → "
            f"{r.c_id} ({r.c_cur})"
        )


async def _failed_ids(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT f.id, f.code FROM ledger_failed_transfers f
        JOIN ledger_transfers t ON t.id = f.id
    """
    async for r in _rows(conn, sql):
        yield f"transfer {r.id} exists although its id is recorded as failed ({r.code})"


LEDGER_CHECKS: tuple[Check, ...] = (
    Check("balanced", "debits equal credits in each currency", _balanced),
    Check("limits", "no flagged account beyond its limit", _limits),
    Check(
        "balances_match_entries",
        "stored balances equal the sums of entries",
        _balances_match_entries,
    ),
    Check(
        "balances_match_transfers",
        "stored balances equal the sums of transfers",
        _balances_match_transfers,
    ),
    Check("entry_chains", "each entry starts where the previous one ended", _entry_chains),
    Check(
        "entries_match_transfers",
        "each transfer has its two matching entries",
        _entries_match_transfers,
    ),
    Check("two_phase", "posts and voids agree with the holds they settle", _two_phase),
    Check("currencies", "transfers are in their accounts' currency", _currencies),
    Check("failed_ids", "a failed id never became a transfer", _failed_ids),
)
