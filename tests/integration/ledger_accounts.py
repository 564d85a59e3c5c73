"""``await open_accounts(db, tag)`` → ``(world, payee, out)``: the outside world, a payee that
may not pay out more than it holds, and payouts in transit, their codes under the test's own
tag so tests can share the session's databases."""

from __future__ import annotations

from escrowd.db.session import Database
from escrowd.ledger import Account, AccountFlags, Ledger


async def open_accounts(db: Database, tag: str) -> tuple[Account, Account, Account]:
    async with db.transaction() as session:
        ledger = Ledger(session)
        world = await ledger.open_account(code=f"provider:stripe:clearing:{tag}", currency="usd")
        payee = await ledger.open_account(
            code=f"payee:{tag}:available",
            currency="usd",
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        )
        out = await ledger.open_account(code=f"payouts:in_transit:{tag}", currency="usd")
    return world, payee, out
