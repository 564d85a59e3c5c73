"""A single transfer posted as a unit of work of its own (``post_alone``), on both databases.

It must give what posting the transfer through ``Ledger`` in its own transaction gives: the
same rows, replays that move nothing, refusals that write nothing and stay failed, exact
balances under concurrency, and every pooled connection handed back.
"""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import select, text
from ulid import ULID

from escrowd.db.session import Database
from escrowd.ledger import (
    Account,
    Balances,
    Ledger,
    PendingState,
    Refusal,
    TransferKind,
    TransferRequest,
)
from escrowd.ledger.alone import post_alone
from escrowd.ledger.models import ENTRIES
from escrowd.ledger.verify import summary_lines, verify
from tests.integration.ledger_accounts import open_accounts

UNIT = 100


def move(transfer_id: str, debit: Account, credit: Account, amount: int) -> TransferRequest:
    return TransferRequest(
        id=transfer_id,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        amount=amount,
        currency="usd",
    )


async def balances(db: Database, *accounts: Account) -> list[Balances]:
    async with db.transaction() as session:
        ledger = Ledger(session)
        return [await ledger.balance(account=a) for a in accounts]


async def entries_of(db: Database, transfer_id: str) -> list[tuple[object, ...]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(
                ENTRIES.c.account_id,
                ENTRIES.c.side,
                ENTRIES.c.amount,
                ENTRIES.c.posted_before,
                ENTRIES.c.posted_after,
                ENTRIES.c.pending_before,
                ENTRIES.c.pending_after,
                ENTRIES.c.version_after,
            )
            .where(ENTRIES.c.transfer_id == transfer_id)
            .order_by(ENTRIES.c.side.desc())  # debit, then credit
        )
        return [tuple(row) for row in rows]


async def test_a_transfer_posted_alone_moves_money_and_writes_both_entries(db: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, out = await open_accounts(db, tag)
    funded = await post_alone(db, move(f"{tag}-fund", world, payee, 3 * UNIT))
    paid = await post_alone(db, move(f"{tag}-pay", payee, out, UNIT))

    assert funded.ok
    assert not funded.replayed
    assert paid.ok
    assert paid.transfer is not None
    assert (paid.transfer.kind, paid.transfer.amount, paid.transfer.batch_id) == (
        TransferKind.posted,
        UNIT,
        None,
    )
    async with db.transaction() as session:
        assert await Ledger(session).get_transfer(transfer_id=f"{tag}-pay") == paid.transfer
    world_b, payee_b, out_b = await balances(db, world, payee, out)
    assert (world_b.debits_posted, world_b.net_posted) == (3 * UNIT, -3 * UNIT)
    assert (payee_b.debits_posted, payee_b.credits_posted) == (UNIT, 3 * UNIT)
    assert (out_b.credits_posted, out_b.net_posted) == (UNIT, UNIT)
    # Running figures as the general path writes them: posted before/after, pending, version.
    assert await entries_of(db, f"{tag}-pay") == [
        (payee.id, "debit", UNIT, 3 * UNIT, 2 * UNIT, 0, 0, 2),
        (out.id, "credit", UNIT, 0, UNIT, 0, 0, 1),
    ]


async def test_the_same_id_again_replays_and_other_fields_are_refused(db: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, _ = await open_accounts(db, tag)
    request = move(f"{tag}-fund", world, payee, 2 * UNIT)
    first = await post_alone(db, request)
    again = await post_alone(db, request)
    other = await post_alone(db, move(f"{tag}-fund", world, payee, 5 * UNIT))

    assert first.ok
    assert not first.replayed
    assert again.ok
    assert again.replayed
    assert again.transfer == first.transfer
    assert other.code is Refusal.exists_with_different_fields
    (payee_b,) = await balances(db, payee)
    assert payee_b.net_posted == 2 * UNIT
    assert len(await entries_of(db, f"{tag}-fund")) == 2


async def test_insufficient_funds_are_refused_write_nothing_and_stay_failed(
    db: Database,
) -> None:
    tag = str(ULID()).lower()
    world, payee, out = await open_accounts(db, tag)
    refused = await post_alone(db, move(f"{tag}-pay", payee, out, UNIT))

    assert refused.code is Refusal.exceeds_credits
    assert refused.transfer is None
    async with db.transaction() as session:
        assert await Ledger(session).get_transfer(transfer_id=f"{tag}-pay") is None
    assert await entries_of(db, f"{tag}-pay") == []
    assert await balances(db, payee, out) == [Balances(0, 0, 0, 0), Balances(0, 0, 0, 0)]

    # Now that the account could pay it, the refused id still cannot succeed.
    assert (await post_alone(db, move(f"{tag}-fund", world, payee, UNIT))).ok
    again = await post_alone(db, move(f"{tag}-pay", payee, out, UNIT))
    assert again.code is Refusal.id_already_failed
    assert await balances(db, payee, out) == [Balances(0, 0, 0, UNIT), Balances(0, 0, 0, 0)]


async def test_holds_and_settles_take_the_general_path_and_keep_its_rules(db: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, _ = await open_accounts(db, tag)
    held = await post_alone(
        db,
        TransferRequest(
            id=f"{tag}-hold",
            kind=TransferKind.pending,
            debit_account_id=world.id,
            credit_account_id=payee.id,
            amount=3 * UNIT,
            currency="usd",
        ),
    )
    posted = await post_alone(
        db,
        TransferRequest(
            id=f"{tag}-capture",
            kind=TransferKind.post_pending,
            pending_id=f"{tag}-hold",
            amount=2 * UNIT,
        ),
    )
    twice = await post_alone(
        db,
        TransferRequest(id=f"{tag}-void", kind=TransferKind.void_pending, pending_id=f"{tag}-hold"),
    )

    assert held.ok
    assert posted.ok
    assert twice.code is Refusal.pending_transfer_already_posted
    async with db.transaction() as session:
        hold = await Ledger(session).get_transfer(transfer_id=f"{tag}-hold")
    assert hold is not None
    assert hold.state is PendingState.posted
    (payee_b,) = await balances(db, payee)
    assert (payee_b.credits_pending, payee_b.credits_posted) == (0, 2 * UNIT)


async def test_a_linked_request_alone_is_refused_as_an_open_chain(db: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, _ = await open_accounts(db, tag)
    request = TransferRequest(
        id=f"{tag}-linked",
        debit_account_id=world.id,
        credit_account_id=payee.id,
        amount=UNIT,
        currency="usd",
        linked=True,
    )
    result = await post_alone(db, request)
    assert result.code is Refusal.linked_event_chain_open
    (payee_b,) = await balances(db, payee)
    assert payee_b.net_posted == 0


async def test_concurrent_transfers_alone_keep_balances_exact_and_the_books_verified(
    fresh_db_url: str,
) -> None:
    db = Database(fresh_db_url, pool_size=10)
    try:
        world, payee, out = await open_accounts(db, "c")
        funded = await asyncio.gather(
            *(post_alone(db, move(f"c-fund-{n}", world, payee, UNIT)) for n in range(20))
        )
        assert all(r.ok and not r.replayed for r in funded)
        # 50 payouts of one unit each from an account holding 20, all at once.
        results = await asyncio.gather(
            *(post_alone(db, move(f"c-pay-{n}", payee, out, UNIT)) for n in range(50))
        )
        codes = [r.code for r in results]
        assert codes.count(None) == 20
        assert codes.count(Refusal.exceeds_credits) == 30
        assert await balances(db, payee, out) == [
            Balances(0, 20 * UNIT, 0, 20 * UNIT),
            Balances(0, 0, 0, 20 * UNIT),
        ]

        # Random pairs among a few accounts, both directions at once (locks in id order).
        async with db.transaction() as session:
            ledger = Ledger(session)
            ring = [await ledger.open_account(code=f"ring:{i}", currency="usd") for i in range(4)]
        rng = random.Random(15)
        pairs = [rng.sample(ring, 2) for _ in range(60)]
        amounts = [rng.randint(1, 1000) for _ in pairs]
        moved = await asyncio.gather(
            *(
                post_alone(db, move(f"c-ring-{n}", a, b, amount))
                for n, ((a, b), amount) in enumerate(zip(pairs, amounts, strict=True))
            )
        )
        assert all(r.ok for r in moved)
        expected = {a.id: 0 for a in ring}
        for (a, b), amount in zip(pairs, amounts, strict=True):
            expected[a.id] -= amount
            expected[b.id] += amount
        got = await balances(db, *ring)
        assert {a.id: b.net_posted for a, b in zip(ring, got, strict=True)} == expected

        report = await verify(db)
        assert report.ok, summary_lines(report)
        assert report.failed_ids == 30
    finally:
        await db.dispose()


async def test_one_id_posted_alone_many_times_at_once_moves_money_once(db: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, _ = await open_accounts(db, tag)
    request = move(f"{tag}-fund", world, payee, UNIT)
    results = await asyncio.gather(*(post_alone(db, request) for _ in range(8)))
    assert all(r.ok for r in results)
    assert [r.replayed for r in results].count(False) == 1
    assert len({r.transfer for r in results}) == 1
    (payee_b,) = await balances(db, payee)
    assert payee_b.net_posted == UNIT


async def server_connections(db: Database) -> int:
    """Connections the server holds open to this database (SQLite: those the pool holds)."""
    if db.dialect != "postgresql":
        return db.engine.pool.checkedin()  # type: ignore[attr-defined, no-any-return]
    async with db.transaction() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        )
    assert isinstance(count, int)
    return count


async def test_no_pooled_connection_is_kept_past_a_call(fresh_db_url: str) -> None:
    # A pool of one, so concurrent calls overflow it and one of two connections must be closed
    # on its return: a close that fails leaves the server holding it.
    db = Database(fresh_db_url, pool_size=1, close_overflow=True)
    pool = db.engine.pool
    try:
        world, payee, out = await open_accounts(db, "l")
        for round in range(3):
            results = await asyncio.gather(
                *(
                    post_alone(db, request)
                    for n in range(6)
                    for request in (
                        move(f"l-fund-{round}-{n}", world, payee, UNIT),  # posts
                        move(f"l-fund-{round}-{n}", world, payee, UNIT),  # replays
                        move(f"l-pay-{round}-{n}", payee, out, 1000 * UNIT),  # refused
                    )
                )
            )
            assert all(r.ok for r in results[0::3] + results[1::3])
            assert all(r.code is Refusal.exceeds_credits for r in results[2::3])
            assert pool.checkedout() == 0  # type: ignore[attr-defined]
            assert await server_connections(db) <= pool.size()  # type: ignore[attr-defined]
        # Calls cancelled at every point of their way hand their connection back too.
        for n in range(40):
            task = asyncio.create_task(post_alone(db, move(f"l-cancel-{n}", world, out, UNIT)))
            for _ in range(n):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        # And the pool still serves: nothing it holds is broken.
        assert (await post_alone(db, move("l-after", world, payee, UNIT))).ok
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await server_connections(db) <= pool.size()  # type: ignore[attr-defined]
        report = await verify(db)
        assert report.ok, summary_lines(report)
    finally:
        await db.dispose()
