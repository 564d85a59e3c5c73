"""A settling transaction posts to the ledger last, just before its commit.

A posting locks its ledger accounts until the commit, and some of them (the platform's fee
account, the provider's clearing account) every fund and release in the currency needs: any
statement sent after the posting keeps all the others waiting. PostgreSQL records, on each row
version, the command of its transaction that wrote it (``cmin``, counted from 0); in every
transaction that posted an escrow's transfers, the escrow's own rows and its events must have
been written by earlier commands than the ledger's.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.escrows.conftest import Ctx, funded, payees, payer, post

#: The escrow's own rows written by a settling transaction, by table: the column naming it.
OWN_ROWS = {
    "escrows": "id",
    "escrow_allocations": "escrow_id",
    "escrow_operations": "escrow_id",
    "events": "object_id",
}


async def _commands(ctx: Ctx, escrow_id: str) -> dict[str, tuple[list[int], list[int]]]:
    """Per transaction that posted the escrow's transfers: the commands that wrote the
    escrow's own rows, and those that wrote its ledger transfers."""
    async with ctx.container.db.engine.connect() as conn:
        ledger = await conn.execute(
            text("SELECT xmin::text, cmin::text::int FROM ledger_transfers WHERE reference = :e"),
            {"e": escrow_id},
        )
        found: dict[str, tuple[list[int], list[int]]] = {}
        for xid, cmin in ledger:
            found.setdefault(xid, ([], []))[1].append(cmin)
        for table, column in OWN_ROWS.items():
            rows = await conn.execute(
                text(
                    f"SELECT xmin::text, cmin::text::int FROM {table} "
                    f"WHERE {column} = :e OR {column} IN "
                    "(SELECT id FROM escrow_allocations WHERE escrow_id = :e)"
                ),
                {"e": escrow_id},
            )
            for xid, cmin in rows:
                if xid in found:
                    found[xid][0].append(cmin)
    return found


async def test_fund_and_release_post_to_the_ledger_after_everything_else(ctx: Ctx) -> None:
    if ctx.container.db.dialect != "postgresql":
        pytest.skip("row versions' command ids are PostgreSQL's; SQLite serializes writers")
    client_ = await payer(ctx)
    first, second = await payees(ctx, 2)
    escrow = await funded(ctx, client_, [(first, 3000), (second, 2000)])
    await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    found = await _commands(ctx, escrow["id"])
    # Fund's settlement and release's: both wrote rows of the escrow besides the ledger's.
    settling = {xid: c for xid, c in found.items() if c[0]}
    assert len(settling) == 2, found
    for own, ledger in settling.values():
        assert max(own) < min(ledger), (own, ledger)
