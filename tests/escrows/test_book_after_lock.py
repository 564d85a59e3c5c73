"""``store.book_of(lock=True)`` reads what a writer that held the escrow's lock committed.

The book is two statements: the escrow ``FOR UPDATE``, then its allocations and open
operations, sent once the lock is granted. Under READ COMMITTED the second statement takes a
new snapshot, so it sees the writer's changes; reading the allocations by a join in the
locking statement would not (PostgreSQL re-reads only the locked row after a lock wait), and
a release would then decide on allocations as they were before the writer's commit.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from escrowd.escrows import store
from escrowd.escrows.models import Allocation, Escrow
from tests.escrows.conftest import Ctx, funded, payees, payer

#: Far longer than the wait needs; a wrong result fails, a lost wake-up does not hang.
PATIENCE = 30


async def test_a_locked_book_sees_what_the_lock_holder_committed(ctx: Ctx) -> None:
    db = ctx.container.db
    if db.dialect != "postgresql":
        pytest.skip("row locks and lock waits are PostgreSQL's; SQLite serializes writers")
    [payee] = await payees(ctx, 1)
    escrow = await funded(ctx, await payer(ctx), [(payee, 1000)])
    escrow_id = escrow["id"]
    locked = asyncio.Event()
    release_lock = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as s:
            await s.execute(select(Escrow.id).where(Escrow.id == escrow_id).with_for_update())
            locked.set()
            await release_lock.wait()
            await s.execute(
                update(Allocation)
                .where(Allocation.escrow_id == escrow_id)
                .values(released={"written": 700})
            )

    async def reader() -> dict[str, int]:
        async with db.transaction() as s:
            book = await store.book_of(s, escrow_id, lock=True)
            [allocation] = book.escrow.allocations
            return allocation.released

    writing = asyncio.create_task(writer())
    await asyncio.wait_for(locked.wait(), PATIENCE)
    reading = asyncio.create_task(reader())
    await asyncio.sleep(0.2)
    assert not reading.done()  # it waits for the writer's lock
    release_lock.set()
    await asyncio.wait_for(writing, PATIENCE)
    assert await asyncio.wait_for(reading, PATIENCE) == {"written": 700}
