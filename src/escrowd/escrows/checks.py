"""Escrow invariants for ``escrowd ledger verify`` (``CHECKS``, run after the ledger's own).

- ``escrow_balances``: each escrow's ledger account holds exactly funded − released − refunded
  (the ``ledger_*`` columns), and has a pending credit (the card hold) only while
  ``authorized`` — of exactly the amount charged.
- ``escrow_amounts``: the gross released and refunded never exceed the escrow's amount, and
  an escrow whose money is all gone is closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.ledger.checks import Check


async def escrow_balances(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT e.id, e.status, e.ledger_funded, e.ledger_released, e.ledger_refunded,
               e.amount + e.surcharge AS charged,
               COALESCE(a.credits_posted - a.debits_posted, 0) AS balance,
               COALESCE(a.credits_pending - a.debits_pending, 0) AS pending
        FROM escrows e
        LEFT JOIN ledger_accounts a ON a.code = 'escrow:' || e.id AND a.currency = e.currency
        WHERE COALESCE(a.credits_posted - a.debits_posted, 0)
                  <> e.ledger_funded - e.ledger_released - e.ledger_refunded
           OR COALESCE(a.credits_pending - a.debits_pending, 0)
                  <> CASE WHEN e.status = 'authorized' THEN e.amount + e.surcharge ELSE 0 END
    """
    result = await conn.stream(text(sql))
    async for r in result:
        yield (
            f"escrow {r.id} ({r.status}): ledger balance {r.balance} posted + {r.pending} "
            f"pending, expected {r.ledger_funded} funded - {r.ledger_released} released - "
            f"{r.ledger_refunded} refunded"
            + (f" and a hold of {r.charged}" if r.status == "authorized" else "")
        )


async def escrow_amounts(conn: AsyncConnection) -> AsyncIterator[str]:
    sql = """
        SELECT id, status, amount, amount_released, amount_refunded
        FROM escrows
        WHERE amount_released + amount_refunded > amount
           OR (amount_released + amount_refunded = amount
               AND status NOT IN ('released', 'refunded', 'disputed'))
           OR (ledger_funded = 0 AND (amount_released > 0 OR amount_refunded > 0))
    """
    result = await conn.stream(text(sql))
    async for r in result:
        yield (
            f"escrow {r.id} is {r.status} with {r.amount_released} released and "
            f"{r.amount_refunded} refunded of {r.amount}"
        )


CHECKS = (
    Check(
        "escrow_balances",
        "each escrow's ledger balance equals funded - released - refunded",
        escrow_balances,
    ),
    Check("escrow_amounts", "escrow amounts agree with their state", escrow_amounts),
)
