"""The transfer poster: concurrent single transfers grouped into shared transactions.

Each caller must get what posting its transfer alone would give: money moves exactly as often
as it can, a refusal is that caller's alone and its id stays failed, a replay moves nothing.
"""

from __future__ import annotations

import asyncio

from ulid import ULID

from escrowd.db.session import Database
from escrowd.ledger import Account, Ledger, Refusal, TransferRequest
from escrowd.ledger.poster import TransferPoster
from escrowd.ledger.verify import summary_lines, verify
from tests.integration.ledger_accounts import open_accounts

FUNDING = 20
UNIT = 100
ATTEMPTS = 50


def payout(tag: str, n: int, payee: Account, out: Account) -> TransferRequest:
    return TransferRequest(
        id=f"{tag}-payout-{n}",
        debit_account_id=payee.id,
        credit_account_id=out.id,
        amount=UNIT,
        currency="usd",
    )


async def test_concurrent_posts_move_money_exactly_as_often_as_they_can(
    fresh_db_url: str,
) -> None:
    db = Database(fresh_db_url, pool_size=10)
    poster = TransferPoster(db)
    try:
        world, payee, out = await open_accounts(db, "a")
        funded = await poster.post_many(
            [
                TransferRequest(
                    id=f"a-fund-{n}",
                    debit_account_id=world.id,
                    credit_account_id=payee.id,
                    amount=UNIT,
                    currency="usd",
                )
                for n in range(FUNDING)
            ]
        )
        assert all(r.ok and not r.replayed for r in funded)
        results = await poster.post_many([payout("a", n, payee, out) for n in range(ATTEMPTS)])
        codes = [r.code for r in results]
        assert codes.count(None) == FUNDING
        assert codes.count(Refusal.exceeds_credits) == ATTEMPTS - FUNDING
        async with db.transaction() as session:
            balance = await Ledger(session).balance(account=payee)
        assert (balance.net_posted, balance.credits_posted) == (0, FUNDING * UNIT)

        # A refused id stays failed, even now that the account could pay it.
        refused = next(i for i, r in enumerate(results) if not r.ok)
        await poster.post(
            TransferRequest(
                id="a-refund",
                debit_account_id=world.id,
                credit_account_id=payee.id,
                amount=UNIT,
                currency="usd",
            )
        )
        again = await poster.post(payout("a", refused, payee, out))
        assert again.code is Refusal.id_already_failed
        # A success replays: nothing moves the second time.
        succeeded = next(i for i, r in enumerate(results) if r.ok)
        replay = await poster.post(payout("a", succeeded, payee, out))
        assert replay.ok
        assert replay.replayed
        assert replay.transfer == results[succeeded].transfer

        report = await verify(db)
        assert report.ok, summary_lines(report)
        assert report.failed_ids == ATTEMPTS - FUNDING
    finally:
        await db.dispose()


async def test_one_id_posted_twice_at_once_moves_money_once(db: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, out = await open_accounts(db, tag)
    # One group at a time: while the first caller's group runs, the three below queue into
    # the next group together (each in a group of its own, which one committed first would be
    # a race between connections).
    poster = TransferPoster(db, groups=1)
    first_in = poster.post(payout(tag, 0, payee, out))
    fund = TransferRequest(
        id=f"{tag}-fund",
        debit_account_id=world.id,
        credit_account_id=payee.id,
        amount=3 * UNIT,
        currency="usd",
    )
    other = TransferRequest(
        id=f"{tag}-fund",
        debit_account_id=world.id,
        credit_account_id=payee.id,
        amount=UNIT,
        currency="usd",
    )
    alone, (first, second, third) = await asyncio.gather(
        first_in, poster.post_many([fund, fund, other])
    )
    assert alone.code is Refusal.exceeds_credits
    assert first.ok
    assert not first.replayed
    assert second.ok
    assert second.replayed
    assert second.transfer == first.transfer
    assert third.code is Refusal.exists_with_different_fields
    async with db.transaction() as session:
        assert (await Ledger(session).balance(account=payee)).net_posted == 3 * UNIT


async def test_a_linked_request_is_not_chained_to_another_callers(db: Database) -> None:
    tag = str(ULID()).lower()
    world, payee, _ = await open_accounts(db, tag)
    poster = TransferPoster(db)
    linked = TransferRequest(
        id=f"{tag}-linked",
        debit_account_id=world.id,
        credit_account_id=payee.id,
        amount=UNIT,
        currency="usd",
        linked=True,
    )
    plain = TransferRequest(
        id=f"{tag}-plain",
        debit_account_id=world.id,
        credit_account_id=payee.id,
        amount=UNIT,
        currency="usd",
    )
    results = await asyncio.gather(poster.post(linked), poster.post(plain))
    assert [r.code for r in results] == [Refusal.linked_event_chain_open, None]
    assert results[1].transfer is not None
    assert results[1].transfer.batch_id is None
