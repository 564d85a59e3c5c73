"""The ledger service, as worked accounting examples, on SQLite and PostgreSQL.

Every test opens its own accounts (codes carry a ULID) on the shared databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from ulid import ULID

from escrowd.clock import FrozenClock
from escrowd.db.session import Database
from escrowd.errors import InvalidRequestError
from escrowd.ledger import (
    Account,
    AccountFlags,
    Ledger,
    LedgerError,
    PendingState,
    Refusal,
    TransferKind,
    TransferRequest,
)
from escrowd.ledger.models import ENTRIES
from escrowd.ledger.pgstore import PgStore
from escrowd.ledger.store import CoreStore, Store

NO_NEGATIVE = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS


@dataclass
class Chart:
    """A marketplace's chart of accounts in one currency (DESIGN.md §2)."""

    tag: str
    clearing: Account  # provider:stripe:clearing, the outside world
    escrow: Account
    fees: Account
    processing: Account
    payee: Account  # payee:<party>:available
    in_transit: Account

    def id(self, name: str) -> str:
        """A transfer id unique to this test."""
        return f"{self.tag}:{name}"


async def open_chart(db: Database, currency: str = "usd") -> Chart:
    tag = str(ULID()).lower()
    async with db.transaction() as session:
        ledger = Ledger(session)

        async def acct(code: str, flags: AccountFlags = AccountFlags.NONE) -> Account:
            return await ledger.open_account(code=f"{code}:{tag}", currency=currency, flags=flags)

        return Chart(
            tag=tag,
            clearing=await acct("provider:stripe:clearing"),
            escrow=await acct("escrow", NO_NEGATIVE),
            fees=await acct("platform:fees", NO_NEGATIVE),
            processing=await acct("platform:processing_costs"),
            payee=await acct("payee:tester:available", NO_NEGATIVE),
            in_transit=await acct("payouts:in_transit"),
        )


async def net(db: Database, account: Account) -> int:
    async with db.transaction() as session:
        return (await Ledger(session).balance(account=account)).net_posted


@pytest.fixture
async def chart(db: Database) -> Chart:
    return await open_chart(db)


async def test_client_pays_100_platform_keeps_15_tester_gets_85(db: Database, chart: Chart) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            id=chart.id("fund"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=100_00,
            currency="usd",
            reference="esc_1",
            category="payment",
        )
        released = await ledger.create_linked(
            [
                TransferRequest(
                    id=chart.id("fee"),
                    debit_account_id=chart.escrow.id,
                    credit_account_id=chart.fees.id,
                    amount=15_00,
                    currency="usd",
                    category="fee",
                ),
                TransferRequest(
                    id=chart.id("earning"),
                    debit_account_id=chart.escrow.id,
                    credit_account_id=chart.payee.id,
                    amount=85_00,
                    currency="usd",
                    category="earning",
                ),
            ]
        )
    assert [t.batch_id for t in released] == [chart.id("fee")] * 2
    assert await net(db, chart.escrow) == 0
    assert await net(db, chart.fees) == 15_00
    assert await net(db, chart.payee) == 85_00
    assert await net(db, chart.clearing) == -100_00  # what the outside world is owed back


async def test_seed_000_tester_nets_82_45_after_3_percent_processing(
    db: Database, chart: Chart
) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            id=chart.id("fund"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=100_00,
            currency="usd",
        )
        await ledger.create_linked(
            [
                TransferRequest(
                    id=chart.id("fee"),
                    debit_account_id=chart.escrow.id,
                    credit_account_id=chart.fees.id,
                    amount=15_00,
                    currency="usd",
                ),
                TransferRequest(
                    id=chart.id("gross"),
                    debit_account_id=chart.escrow.id,
                    credit_account_id=chart.payee.id,
                    amount=85_00,
                    currency="usd",
                ),
                TransferRequest(
                    id=chart.id("processing"),
                    debit_account_id=chart.payee.id,
                    credit_account_id=chart.processing.id,
                    amount=2_55,
                    currency="usd",
                ),
            ]
        )
    assert await net(db, chart.payee) == 82_45
    assert await net(db, chart.processing) == 2_55


async def test_card_authorized_for_100_captured_for_80_releases_the_other_20(
    db: Database, chart: Chart
) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        auth = await ledger.hold(
            id=chart.id("auth"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=100_00,
            currency="usd",
            reference="esc_2",
        )
        escrow = await ledger.balance(account=chart.escrow)
        assert (escrow.credits_pending, escrow.credits_posted) == (100_00, 0)
        capture = await ledger.post(id=chart.id("capture"), pending_id=auth.id, amount=80_00)
    assert capture.kind is TransferKind.post_pending
    assert (capture.debit_account_id, capture.credit_account_id) == (
        chart.clearing.id,
        chart.escrow.id,
    )
    async with db.transaction() as session:
        ledger = Ledger(session)
        escrow = await ledger.balance(account=chart.escrow)
        held = await ledger.get_transfer(transfer_id=auth.id)
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 80_00)
    assert held is not None
    assert held.state is PendingState.posted


async def test_payout_in_flight_is_reserved_then_voided_when_it_bounces(
    db: Database, chart: Chart
) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            id=chart.id("earn"),
            debit=chart.clearing,
            credit=chart.payee,
            amount=50_00,
            currency="usd",
        )
        await ledger.hold(
            id=chart.id("payout"),
            debit=chart.payee,
            credit=chart.in_transit,
            amount=50_00,
            currency="usd",
        )
        # While the payout is in flight the money is reserved: nothing more can leave.
        with pytest.raises(LedgerError) as info:
            await ledger.transfer(
                id=chart.id("double"),
                debit=chart.payee,
                credit=chart.fees,
                amount=1,
                currency="usd",
            )
        assert info.value.code == "exceeds_credits"
        payee = await ledger.balance(account=chart.payee)
        assert (payee.net_posted, payee.available) == (50_00, 0)
        await ledger.void(id=chart.id("returned"), pending_id=chart.id("payout"))
        payee = await ledger.balance(account=chart.payee)
        assert (payee.net_posted, payee.available) == (50_00, 50_00)


async def test_entries_keep_a_running_balance_per_account(db: Database, chart: Chart) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        for n, amount in enumerate((10_00, 5_00, 2_50)):
            await ledger.transfer(
                id=chart.id(f"t{n}"),
                debit=chart.clearing,
                credit=chart.escrow,
                amount=amount,
                currency="usd",
            )
        await ledger.hold(
            id=chart.id("h"), debit=chart.escrow, credit=chart.fees, amount=1_00, currency="usd"
        )
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(
                    ENTRIES.c.posted_before,
                    ENTRIES.c.posted_after,
                    ENTRIES.c.pending_after,
                    ENTRIES.c.version_after,
                )
                .where(ENTRIES.c.account_id == chart.escrow.id)
                .order_by(ENTRIES.c.version_after)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (0, 10_00, 0, 1),
        (10_00, 15_00, 0, 2),
        (15_00, 17_50, 0, 3),
        (17_50, 17_50, -1_00, 4),
    ]


async def test_replaying_an_id_returns_the_first_transfer_and_moves_nothing(
    db: Database, chart: Chart
) -> None:
    kwargs = {
        "id": chart.id("fund"),
        "debit": chart.clearing,
        "credit": chart.escrow,
        "amount": 30_00,
        "currency": "usd",
        "reference": "esc_9",
    }
    async with db.transaction() as session:
        first = await Ledger(session).transfer(**kwargs)  # type: ignore[arg-type]
    async with db.transaction() as session:
        ledger = Ledger(session)
        again = await ledger.transfer(**{**kwargs, "currency": "USD"})  # type: ignore[arg-type]
        (result,) = await ledger.create_transfers(
            [
                TransferRequest(
                    id=first.id,
                    debit_account_id=chart.clearing.id,
                    credit_account_id=chart.escrow.id,
                    amount=30_00,
                    currency="usd",
                    reference="esc_9",
                )
            ]
        )
        with pytest.raises(LedgerError) as info:
            await ledger.transfer(**{**kwargs, "amount": 31_00})  # type: ignore[arg-type]
    assert again == first
    assert result.replayed
    assert result.transfer == first
    assert info.value.code == "exists_with_different_fields"
    assert info.value.http_status == 409
    assert await net(db, chart.escrow) == 30_00


async def test_a_failed_id_stays_failed_even_after_the_account_is_funded(
    db: Database, chart: Chart
) -> None:
    # The unit of work lets the refusal propagate, so its transaction rolls back...
    with pytest.raises(LedgerError) as first:
        async with db.transaction() as session:
            await Ledger(session).transfer(
                id=chart.id("payout"),
                debit=chart.payee,
                credit=chart.in_transit,
                amount=10_00,
                currency="usd",
            )
    assert first.value.code == "exceeds_credits"
    async with db.transaction() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            id=chart.id("earn"),
            debit=chart.clearing,
            credit=chart.payee,
            amount=10_00,
            currency="usd",
        )
    # ...and yet the failure was recorded: the same id cannot succeed later.
    async with db.transaction() as session:
        with pytest.raises(LedgerError) as again:
            await Ledger(session).transfer(
                id=chart.id("payout"),
                debit=chart.payee,
                credit=chart.in_transit,
                amount=10_00,
                currency="usd",
            )
    assert again.value.code == "id_already_failed"
    assert again.value.original_code is Refusal.exceeds_credits
    assert await net(db, chart.payee) == 10_00


async def test_a_refusal_leaves_the_transaction_clean_for_the_callers_other_work(
    db: Database, chart: Chart
) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            id=chart.id("ok"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=5_00,
            currency="usd",
        )
        with pytest.raises(LedgerError):
            await ledger.transfer(
                id=chart.id("too-much"),
                debit=chart.escrow,
                credit=chart.payee,
                amount=5_01,
                currency="usd",
            )
        await ledger.transfer(
            id=chart.id("fits"), debit=chart.escrow, credit=chart.payee, amount=5_00, currency="usd"
        )
    assert await net(db, chart.payee) == 5_00
    async with db.transaction() as session:
        with pytest.raises(LedgerError) as info:
            await Ledger(session).transfer(
                id=chart.id("too-much"),
                debit=chart.clearing,
                credit=chart.payee,
                amount=1,
                currency="usd",
            )
    assert info.value.code == "id_already_failed"


async def test_a_linked_batch_is_all_or_nothing_and_unlinked_ones_stand_alone(
    db: Database, chart: Chart
) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            id=chart.id("fund"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=100_00,
            currency="usd",
        )
        with pytest.raises(LedgerError) as info:
            await ledger.create_linked(
                [
                    TransferRequest(
                        id=chart.id("fee"),
                        debit_account_id=chart.escrow.id,
                        credit_account_id=chart.fees.id,
                        amount=15_00,
                        currency="usd",
                    ),
                    TransferRequest(
                        id=chart.id("pay"),
                        debit_account_id=chart.escrow.id,
                        credit_account_id=chart.payee.id,
                        amount=85_01,
                        currency="usd",
                    ),
                ]
            )
        assert info.value.code == "exceeds_credits"
        assert info.value.transfer_id == chart.id("pay")
        assert (await ledger.balance(account=chart.escrow)).net_posted == 100_00
        results = await ledger.create_transfers(
            [
                TransferRequest(
                    id=chart.id("a"),
                    debit_account_id=chart.escrow.id,
                    credit_account_id=chart.fees.id,
                    amount=1_00,
                    currency="usd",
                    linked=True,
                ),
                TransferRequest(
                    id=chart.id("b"),
                    debit_account_id=chart.escrow.id,
                    credit_account_id=chart.fees.id,
                    amount=1_00,
                    currency="eur",
                ),
                TransferRequest(
                    id=chart.id("c"),
                    debit_account_id=chart.escrow.id,
                    credit_account_id=chart.payee.id,
                    amount=2_00,
                    currency="usd",
                ),
            ]
        )
    assert [r.code for r in results] == [
        Refusal.linked_event_failed,
        Refusal.currency_mismatch,
        None,
    ]
    assert await net(db, chart.fees) == 0
    assert await net(db, chart.payee) == 2_00
    assert await net(db, chart.escrow) == 98_00


async def test_a_hold_is_settled_exactly_once(db: Database, chart: Chart) -> None:
    async with db.transaction() as session:
        ledger = Ledger(session)
        await ledger.hold(
            id=chart.id("h1"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=10_00,
            currency="usd",
        )
        await ledger.hold(
            id=chart.id("h2"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=10_00,
            currency="usd",
        )
        await ledger.post(id=chart.id("p1"), pending_id=chart.id("h1"))
        await ledger.void(id=chart.id("v2"), pending_id=chart.id("h2"))
    codes = {}
    async with db.transaction() as session:
        ledger = Ledger(session)
        for name, call in {
            "post-posted": ledger.post(id=chart.id("p1b"), pending_id=chart.id("h1")),
            "void-posted": ledger.void(id=chart.id("v1"), pending_id=chart.id("h1")),
            "post-voided": ledger.post(id=chart.id("p2"), pending_id=chart.id("h2")),
            "void-voided": ledger.void(id=chart.id("v2b"), pending_id=chart.id("h2")),
        }.items():
            with pytest.raises(LedgerError) as info:
                await call
            codes[name] = info.value.code
    assert codes == {
        "post-posted": "pending_transfer_already_posted",
        "void-posted": "pending_transfer_already_posted",
        "post-voided": "pending_transfer_already_voided",
        "void-voided": "pending_transfer_already_voided",
    }
    assert await net(db, chart.escrow) == 10_00


async def refusal(db: Database, request: TransferRequest) -> LedgerError:
    async with db.transaction() as session:
        (result,) = await Ledger(session).create_transfers([request])
    assert result.error is not None
    return result.error


async def test_every_state_refusal_has_its_code(db: Database, chart: Chart) -> None:
    eur = await open_chart(db, "eur")
    async with db.transaction() as session:
        ledger = Ledger(session)
        debit_normal = await ledger.open_account(
            code=f"bank:{chart.tag}",
            currency="usd",
            flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
        )
        await ledger.hold(
            id=chart.id("h"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=10_00,
            currency="usd",
        )
        await ledger.transfer(
            id=chart.id("t"), debit=chart.clearing, credit=chart.escrow, amount=1_00, currency="usd"
        )

    def req(name: str, **kw: object) -> TransferRequest:
        fields = {
            "debit_account_id": chart.clearing.id,
            "credit_account_id": chart.escrow.id,
            "amount": 1,
            "currency": "usd",
            **kw,
        }
        return TransferRequest(id=chart.id(name), **fields)  # type: ignore[arg-type]

    def settle(name: str, kind: TransferKind, **kw: object) -> TransferRequest:
        return TransferRequest(id=chart.id(name), kind=kind, **kw)  # type: ignore[arg-type]

    post, void = TransferKind.post_pending, TransferKind.void_pending
    cases = {
        "exceeds_credits": req("r1", debit_account_id=chart.payee.id),
        "exceeds_debits": req("r2", credit_account_id=debit_normal.id),
        "debit_account_not_found": req("r3", debit_account_id="lacct_nope"),
        "credit_account_not_found": req("r4", credit_account_id="lacct_nope"),
        "currency_mismatch": req("r5", credit_account_id=eur.escrow.id),
        "pending_transfer_not_found": settle("r6", post, pending_id=chart.id("nope")),
        "pending_transfer_not_pending": settle("r7", post, pending_id=chart.id("t")),
        "post_amount_exceeds_pending": settle("r8", post, pending_id=chart.id("h"), amount=10_01),
        "pending_transfer_has_different_accounts": settle(
            "r9", post, pending_id=chart.id("h"), debit_account_id=chart.fees.id
        ),
        "pending_transfer_has_different_amount": settle(
            "r10", void, pending_id=chart.id("h"), amount=5_00
        ),
        "accounts_must_differ": req("r11", credit_account_id=chart.clearing.id),
        "linked_event_chain_open": req("r12", linked=True),
        "amount_invalid": req("r13", amount=0),
        "currency_invalid": req("r14", currency="xyz"),
    }
    for code, request in cases.items():
        error = await refusal(db, request)
        assert error.code == code, (code, error.message)
    # Recorded ones stay failed; malformed ones do not burn the id.
    retry = await refusal(db, req("r1", debit_account_id=chart.payee.id))
    assert retry.code == "id_already_failed"
    async with db.transaction() as session:
        (fixed,) = await Ledger(session).create_transfers([req("r13", amount=1)])
    assert fixed.ok


async def test_accounts_are_get_or_create_and_validated(db: Database) -> None:
    code = f"escrow:{ULID()}"
    async with db.transaction() as session:
        ledger = Ledger(session)
        first = await ledger.open_account(code=code, currency="USD", flags=NO_NEGATIVE)
        again = await ledger.open_account(code=code, currency="usd", flags=NO_NEGATIVE)
        other_currency = await ledger.open_account(code=code, currency="eur")
        assert again == first
        assert first.id.startswith("lacct_")
        assert (first.currency, first.flags, first.version) == ("usd", NO_NEGATIVE, 0)
        assert other_currency.id != first.id
        assert await ledger.get_account(account_id=first.id) == first
        assert await ledger.find_account(code=code, currency="usd") == first
        assert await ledger.find_account(code=code + "x", currency="usd") is None
        # Several codes in one read: only those that exist, in that currency, by code.
        found = await ledger.find_accounts(codes=[code + "x", code, code], currency="USD")
        assert found == {code: first}
        assert await ledger.find_accounts(codes=[code], currency="eur") == {code: other_currency}
        assert await ledger.find_accounts(codes=[], currency="usd") == {}
        with pytest.raises(LedgerError) as info:
            await ledger.open_account(code=code, currency="usd")
        assert info.value.code == "account_exists_with_different_flags"
        with pytest.raises(LedgerError) as info:
            await ledger.get_account(account_id="lacct_missing")
        assert (info.value.code, info.value.http_status) == ("account_not_found", 404)
        with pytest.raises(InvalidRequestError) as bad:
            await ledger.open_account(code=code, currency="xyz")
        assert bad.value.code == "currency_invalid"


async def test_transfers_keep_reference_category_and_effective_time(db: Database) -> None:
    chart = await open_chart(db)
    clock = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    effective = datetime(2026, 2, 28, 23, 59, tzinfo=UTC)
    async with db.transaction() as session:
        ledger = Ledger(session, clock=clock)
        made = await ledger.transfer(
            id=chart.id("t"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=1_23,
            currency="usd",
            reference="esc_7",
            category="payment",
            effective_at=effective,
        )
    async with db.transaction() as session:
        stored = await Ledger(session).get_transfer(transfer_id=made.id)
    assert stored == made
    assert (stored.reference, stored.category) == ("esc_7", "payment")
    assert (stored.effective_at, stored.created_at) == (effective, clock.now())
    assert stored.state is None


async def test_a_zero_decimal_currency_moves_whole_units(db: Database) -> None:
    chart = await open_chart(db, "jpy")
    async with db.transaction() as session:
        await Ledger(session).transfer(
            id=chart.id("yen"),
            debit=chart.clearing,
            credit=chart.escrow,
            amount=1500,
            currency="JPY",
        )
    assert await net(db, chart.escrow) == 1500


class PortableLedger(Ledger):
    """The service on the portable store, which only SQLite uses in production."""

    async def _store(self) -> Store:
        return CoreStore(await self._session.connection())


async def history(ledger: Ledger, chart: Chart) -> list[tuple[str | None, ...]]:
    """A little of everything; returns each step's outcome and every account's figures."""
    results = await ledger.create_transfers(
        [
            TransferRequest(
                id=chart.id("fund"),
                debit_account_id=chart.clearing.id,
                credit_account_id=chart.escrow.id,
                amount=100_00,
                currency="usd",
            ),
            TransferRequest(
                id=chart.id("hold"),
                kind=TransferKind.pending,
                debit_account_id=chart.escrow.id,
                credit_account_id=chart.payee.id,
                amount=60_00,
                currency="usd",
            ),
            TransferRequest(
                id=chart.id("post"),
                kind=TransferKind.post_pending,
                pending_id=chart.id("hold"),
                amount=45_00,
                linked=True,
            ),
            TransferRequest(
                id=chart.id("fee"),
                debit_account_id=chart.escrow.id,
                credit_account_id=chart.fees.id,
                amount=5_00,
                currency="usd",
            ),
            TransferRequest(
                id=chart.id("over"),
                debit_account_id=chart.escrow.id,
                credit_account_id=chart.fees.id,
                amount=51_00,
                currency="usd",
            ),
            TransferRequest(
                id=chart.id("fund"),
                debit_account_id=chart.clearing.id,
                credit_account_id=chart.escrow.id,
                amount=100_00,
                currency="usd",
            ),
        ]
    )
    outcome: list[tuple[str | None, ...]] = [
        (None if r.code is None else r.code.value, str(r.replayed)) for r in results
    ]
    for account in (chart.clearing, chart.escrow, chart.fees, chart.payee):
        b = await ledger.balance(account=account)
        outcome.append(
            (
                str(b.debits_pending),
                str(b.debits_posted),
                str(b.credits_pending),
                str(b.credits_posted),
            )
        )
    return outcome


async def test_the_portable_store_agrees_with_the_postgres_store(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite only has the portable store")
    fast, portable = await open_chart(db), await open_chart(db)
    async with db.transaction() as session:
        assert await history(Ledger(session), fast) == await history(
            PortableLedger(session), portable
        )
        probe = [
            TransferRequest(
                id=fast.id("post"), kind=TransferKind.void_pending, pending_id=fast.id("hold")
            ),
            TransferRequest(
                id=fast.id("fund"),
                debit_account_id=fast.clearing.id,
                credit_account_id=fast.payee.id,
                amount=1,
                currency="usd",
            ),
        ]
        conn = await session.connection()
        assert await CoreStore(conn).read(probe, {}) == await PgStore(conn).read(probe, {})


async def plain_history(ledger: Ledger, chart: Chart) -> list[tuple[object, ...]]:
    """Plain batches (no hold settled): ones that succeed whole, and ones that must not.

    Returns each result (code, replayed, the transfer's batch id), then every account's
    figures and every entry's running figures, in order.
    """
    t = chart.id

    def move(name: str, debit: Account, credit: Account, amount: int, **kw: object) -> Any:
        return TransferRequest(
            id=t(name),
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount=amount,
            currency=str(kw.pop("currency", "usd")),
            **kw,  # type: ignore[arg-type]
        )

    batches: list[list[TransferRequest]] = [
        [move("fund", chart.clearing, chart.escrow, 100_00)],  # one, succeeds
        [  # a chain and a single, all succeed; the escrow is spent in order
            move("fee", chart.escrow, chart.fees, 10_00, linked=True),
            move("pay", chart.escrow, chart.payee, 90_00),
            move("hold", chart.payee, chart.in_transit, 50_00, kind=TransferKind.pending),
        ],
        [move("over", chart.escrow, chart.fees, 1)],  # the escrow is empty: refused
        [move("over", chart.escrow, chart.fees, 1)],  # ...and the id stays failed
        [move("fund", chart.clearing, chart.escrow, 100_00)],  # a replay
        [move("fund", chart.clearing, chart.escrow, 5)],  # the id, other fields
        [move("eur", chart.clearing, chart.escrow, 5, currency="eur")],  # currency mismatch
        [  # the second leg only fits after the first: order matters, both succeed
            move("refill", chart.clearing, chart.escrow, 5_00),
            move("spend", chart.escrow, chart.fees, 5_00),
        ],
        [  # the first leg does not fit before the second: the first is refused alone
            move("early", chart.escrow, chart.fees, 3_00),
            move("late", chart.clearing, chart.escrow, 3_00),
        ],
        [  # the same id twice in one batch: the second is a replay
            move("twice", chart.clearing, chart.processing, 7),
            move("twice", chart.clearing, chart.processing, 7),
        ],
        [move("held", chart.payee, chart.in_transit, 41_00)],  # 50 of the 90 held: refused
    ]
    outcome: list[tuple[object, ...]] = []
    for batch in batches:
        for r in await ledger.create_transfers(batch):
            code = None if r.code is None else r.code.value
            batch_id = None if r.transfer is None else r.transfer.batch_id
            outcome.append((code, r.replayed, batch_id and batch_id.split(":")[-1]))
    accounts = (
        chart.clearing,
        chart.escrow,
        chart.fees,
        chart.processing,
        chart.payee,
        chart.in_transit,
    )
    for account in accounts:
        b = await ledger.balance(account=account)
        outcome.append((b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted))
    conn = await ledger._session.connection()
    rows = await conn.execute(
        select(ENTRIES)
        .where(ENTRIES.c.account_id.in_([a.id for a in accounts]))
        .order_by(ENTRIES.c.id)
    )
    for e in rows:
        outcome.append(
            (
                e.transfer_id.split(":")[-1],
                [a.id for a in accounts].index(e.account_id),
                e.side,
                e.amount,
                e.posted_before,
                e.posted_after,
                e.pending_before,
                e.pending_after,
                e.version_after,
            )
        )
    return outcome


async def test_plain_batches_in_one_statement_agree_with_the_general_path(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's")
    reads = 0
    read = PgStore.read

    async def counting_read(self: PgStore, *args: Any) -> Any:
        nonlocal reads
        reads += 1
        return await read(self, *args)

    monkeypatch.setattr(PgStore, "read", counting_read)
    fast, portable = await open_chart(db), await open_chart(db)
    async with db.transaction() as session:
        assert await plain_history(Ledger(session), fast) == await plain_history(
            PortableLedger(session), portable
        )
    # Only the 8 batches with a refusal, a replay or an id twice took the general path; the
    # other 3 were one statement each.
    assert reads == 8
