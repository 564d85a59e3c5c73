"""Chargebacks on money already released: the payees' transfers are reversed (outside the
webhook's transaction, by an outbox job) and the money stays frozen in the escrow; won, the
payees are paid again; lost, it pays what the provider took. Duplicate and out-of-order
events reverse nothing twice; a payee already paid out is handled by the shortfall policy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.disputes.chargebacks import AFTER_RELEASE_INCIDENT, DISPUTE_COSTS, DISPUTES
from escrowd.escrows.ledgering import (
    PLATFORM_FEES,
    PLATFORM_LOSSES,
    escrow_account,
    payee_available,
    payee_debt,
)
from escrowd.ledger.verify import verify
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.reconcile.service import reconcile_escrow
from escrowd.sandbox.stripe.resources.disputes import DISPUTE_FEE
from tests.clawback.conftest import accounts
from tests.disputes.conftest import (
    Body,
    admin,
    chargebacks_of,
    run_dispute_jobs,
    settle_dispute_at_provider,
)
from tests.escrows.conftest import (
    Ctx,
    Person,
    Sandbox,
    create_escrow,
    event_types,
    get,
    payees,
    payer,
    post,
    provider_switch,
    settle,
)
from tests.escrows.test_crash import CrashError, Faulty, recover
from tests.escrows.test_webhooks import captured_events, deliver
from tests.payouts.conftest import onboarded_payee, request_payout

FEE = {"rate_bps": 1000}


async def _verified(ctx: Ctx) -> None:
    report = await verify(ctx.container.db)
    assert report.ok, report


async def _paid_then_disputed(
    ctx: Ctx, who: Person, payee: str, amount: int, fee: dict[str, int]
) -> Body:
    """Funded with the card that is disputed at once, released before escrowd hears of it."""
    created = await create_escrow(ctx, who, [(payee, amount)], fee_policy=fee)
    escrow = await post(
        ctx, who, f"/v1/escrows/{created['id']}/fund", {"payment_method": "pm_card_createDispute"}
    )
    released = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    return released


async def _top_up(ctx: Ctx, who: Person, payee: str) -> None:
    """Money on the platform's available balance: a re-release is paid from it (the charge
    counts the reversed transfer as made); disputes and refunds of other tests drew on it."""
    top_up = await create_escrow(ctx, who, [(payee, 1_000_000)])
    await post(
        ctx, who, f"/v1/escrows/{top_up['id']}/fund", {"payment_method": "pm_card_bypassPending"}
    )


async def _connected(ctx: Ctx, account: str) -> int:
    r = await ctx.client.get(
        "/sandbox/stripe/v1/balance",
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}", "Stripe-Account": account},
    )
    assert r.status_code == 200, r.text
    return sum(b["amount"] for kind in ("available", "pending") for b in r.json()[kind])


async def _incidents(ctx: Ctx, escrow_id: str) -> list[Body]:
    key = await admin(ctx)
    r = await ctx.client.get(
        "/v1/incidents", params={"kind": AFTER_RELEASE_INCIDENT, "limit": 100}, headers=key.headers
    )
    assert r.status_code == 200, r.text
    return [i for i in r.json()["data"] if escrow_id in json.dumps(i)]


async def _recovered(ctx: Ctx, sandbox: Sandbox) -> tuple[Person, str, Body, Body, dict[str, int]]:
    """$100.00, 10 % fee, released ($90.00 to the payee), then charged back and recovered."""
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    codes = (payee_available(payee), PLATFORM_FEES, DISPUTES, DISPUTE_COSTS, payee_debt(payee))
    before = await accounts(ctx, *codes)
    escrow = await _paid_then_disputed(ctx, who, payee, 10_000, FEE)
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount"] == 9_000
    connected = await _connected(ctx, transfer["destination"])

    await settle(ctx.container)  # the dispute's events: frozen, booked; recovery enqueued
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    assert chargeback["status"] == "open"
    (untouched,) = await sandbox.transfers(escrow["id"])
    assert untouched["amount_reversed"] == 0  # nothing at the provider inside the webhook

    await run_dispute_jobs(ctx)
    (reversed_,) = await sandbox.transfers(escrow["id"])
    assert (reversed_["amount_reversed"], reversed_["reversed"]) == (9_000, True)
    assert await _connected(ctx, transfer["destination"]) == connected - 9_000
    after = await accounts(ctx, *codes, escrow_account(escrow["id"]))
    assert after[payee_available(payee)] == before[payee_available(payee)]  # 9,000 back
    assert after[PLATFORM_FEES] == before[PLATFORM_FEES]  # the 1,000 fee back too
    assert after[escrow_account(escrow["id"])] == 10_000  # all of it, frozen
    assert after[DISPUTES] - before[DISPUTES] == -10_000
    assert after[DISPUTE_COSTS] - before[DISPUTE_COSTS] == -DISPUTE_FEE
    assert after[payee_debt(payee)] == before[payee_debt(payee)]
    frozen = await get(ctx, who, escrow["id"])
    assert (frozen["status"], frozen["amount_released"], frozen["amount_refunded"]) == (
        "disputed",
        0,
        0,
    )
    allocation = escrow["allocations"][0]["id"]
    assert (await event_types(ctx, who, allocation))[-1] == "allocation.reversed"
    assert await _incidents(ctx, escrow["id"]) == []  # everything was recovered
    await _verified(ctx)
    return who, payee, escrow, chargeback, before


async def test_a_won_chargeback_pays_the_reversed_money_again(ctx: Ctx, sandbox: Sandbox) -> None:
    who, payee, escrow, chargeback, before = await _recovered(ctx, sandbox)
    await _top_up(ctx, who, payee)
    await settle(ctx.container)
    closing = await _closed_at_provider(ctx, escrow, chargeback, won=True)
    for body in closing:
        await deliver(ctx, body, 0)
    await run_dispute_jobs(ctx)

    key = await admin(ctx)
    (won,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (won["status"], won["outcome"]) == ("resolved", "won")
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_released"], after["amount_refunded"]) == (
        "released",
        10_000,
        0,
    )
    transfers = await sandbox.transfers(escrow["id"])
    (first,) = [t for t in transfers if t["source_transaction"] is not None]
    (second,) = [t for t in transfers if t["id"] != first["id"]]
    assert (first["amount_reversed"], second["amount"], second["amount_reversed"]) == (
        9_000,
        9_000,
        0,
    )
    assert second["source_transaction"] is None  # the charge counts the first as made
    codes = (payee_available(payee), PLATFORM_FEES, DISPUTES, DISPUTE_COSTS, payee_debt(payee))
    now = await accounts(ctx, *codes, escrow_account(escrow["id"]))
    assert now[payee_available(payee)] - before[payee_available(payee)] == 9_000
    assert now[PLATFORM_FEES] - before[PLATFORM_FEES] == 1_000
    assert now[DISPUTES] == before[DISPUTES]
    assert now[DISPUTE_COSTS] - before[DISPUTE_COSTS] == -DISPUTE_FEE
    assert now[escrow_account(escrow["id"])] == 0
    assert now[payee_debt(payee)] == before[payee_debt(payee)]
    allocation = escrow["allocations"][0]["id"]
    types = await event_types(ctx, who, allocation)
    assert types[-3:] == ["allocation.released", "allocation.reversed", "allocation.released"]
    assert (await event_types(ctx, who, escrow["id"]))[-1] == "escrow.released"
    assert (await event_types(ctx, who, chargeback["id"]))[-2:] == [
        "dispute.funds_reinstated",
        "dispute.resolved",
    ]
    # The provider's events once more (under new ids) pay nothing twice.
    for body in closing:
        await deliver(ctx, body, 1)
    await run_dispute_jobs(ctx)
    assert len(await sandbox.transfers(escrow["id"])) == 2
    assert (await get(ctx, who, escrow["id"]))["amount_released"] == 10_000
    assert (await reconcile_escrow(ctx.container, escrow["id"])).differences == []
    await _verified(ctx)


async def _closed_at_provider(ctx: Ctx, escrow: Body, chargeback: Body, *, won: bool) -> list[Body]:
    """The dispute settled at the sandbox; its events, held back to be delivered by hand."""
    text = "winning_evidence" if won else "losing_evidence"
    r = await ctx.client.post(
        f"/sandbox/stripe/v1/disputes/{chargeback['provider_dispute']}",
        data={"evidence[uncategorized_text]": text},
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
    )
    assert r.status_code == 200, r.text
    bodies = await captured_events(ctx, escrow["payment"]["id"])
    assert {b["type"] for b in bodies} >= {"charge.dispute.closed"}
    return bodies


async def test_a_lost_chargeback_is_paid_with_the_reversed_money(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who, payee, escrow, chargeback, before = await _recovered(ctx, sandbox)
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    await run_dispute_jobs(ctx)

    key = await admin(ctx)
    (lost,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (lost["status"], lost["outcome"], lost["amount_refunded"]) == (
        "resolved",
        "lost",
        10_000,
    )
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_released"], after["amount_refunded"]) == (
        "refunded",
        0,
        10_000,
    )
    codes = (payee_available(payee), PLATFORM_FEES, DISPUTES, DISPUTE_COSTS, payee_debt(payee))
    now = await accounts(ctx, *codes, escrow_account(escrow["id"]))
    assert now[payee_available(payee)] == before[payee_available(payee)]
    assert now[PLATFORM_FEES] == before[PLATFORM_FEES]
    assert now[DISPUTES] == before[DISPUTES]
    # Only the provider's dispute fee is the platform's: no shortfall was left to bear.
    assert now[DISPUTE_COSTS] - before[DISPUTE_COSTS] == -DISPUTE_FEE
    assert now[escrow_account(escrow["id"])] == 0
    # The payer was refunded by their bank, not by escrowd; the transfer stays reversed.
    assert await sandbox.refunds(escrow["payment"]["id"]) == []
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 9_000
    assert (await event_types(ctx, who, escrow["id"]))[-1] == "escrow.refunded"
    # The recovery refunds nothing at the provider, and escrowd's record says so.
    assert (await reconcile_escrow(ctx.container, escrow["id"])).differences == []
    await _verified(ctx)


async def test_duplicate_and_out_of_order_events_reverse_once(ctx: Ctx, sandbox: Sandbox) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    costs_before = await ledger_costs(ctx)
    escrow = await _paid_then_disputed(ctx, who, payee, 10_000, FEE)
    payment = escrow["payment"]["id"]
    created = [
        b for b in await captured_events(ctx, payment) if b["type"] == "charge.dispute.created"
    ]
    dp = created[0]["data"]["object"]["id"]
    r = await ctx.client.post(
        f"/sandbox/stripe/v1/disputes/{dp}",
        data={"evidence[uncategorized_text]": "losing_evidence"},
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
    )
    assert r.status_code == 200, r.text
    closed = [
        b for b in await captured_events(ctx, payment) if b["type"] == "charge.dispute.closed"
    ]
    # The close first: the chargeback opens, but its decision waits for the recovery.
    await deliver(ctx, closed[0], 0)
    key = await admin(ctx)
    (waiting,) = await chargebacks_of(ctx, key, escrow["id"])
    assert waiting["status"] == "open"
    for body, repeat in ((created[0], 0), (closed[0], 1), (created[0], 1)):
        await deliver(ctx, body, repeat)
    await run_dispute_jobs(ctx)
    for body, repeat in ((closed[0], 2), (created[0], 2)):
        await deliver(ctx, body, repeat)
    await run_dispute_jobs(ctx)

    (lost,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (lost["status"], lost["outcome"]) == ("resolved", "lost")
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 9_000
    assert transfer["reversals"]["total_count"] == 1
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"]) == ("refunded", 10_000)
    assert await ledger_costs(ctx) - costs_before == -DISPUTE_FEE
    await _verified(ctx)


async def ledger_costs(ctx: Ctx) -> int:
    return (await accounts(ctx, DISPUTE_COSTS))[DISPUTE_COSTS]


async def _drained_then_disputed(ctx: Ctx, amount: int) -> tuple[Person, Body, Person]:
    """A payee released ``amount`` (no fee) who asked to pay all of it out before escrowd
    heard of the chargeback: nothing of theirs is left to take back."""
    who = await payer(ctx)
    worker = await onboarded_payee(ctx)
    escrow = await _paid_then_disputed(ctx, who, worker.id, amount, {"rate_bps": 0})
    await request_payout(ctx, worker, amount)
    return who, escrow, worker


async def test_a_paid_out_payee_owes_what_was_reversed_under_recover(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    costs_before = await ledger_costs(ctx)
    who, escrow, worker = await _drained_then_disputed(ctx, 2_500)
    await settle(ctx.container)
    await run_dispute_jobs(ctx)
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 2_500  # the connected account goes negative
    debt = payee_debt(worker.id)
    assert (await accounts(ctx, debt))[debt] == -2_500
    assert await _incidents(ctx, escrow["id"]) == []
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    await run_dispute_jobs(ctx)
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"]) == ("refunded", 2_500)
    assert (await accounts(ctx, debt))[debt] == -2_500  # repaid from their next release
    assert await ledger_costs(ctx) - costs_before == -DISPUTE_FEE
    await _verified(ctx)


@pytest.fixture
def absorbing(db_url: str) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        clawback_shortfall="absorb",
    )


class TestAbsorb:
    @pytest.fixture
    def settings(self, absorbing: Settings) -> Settings:
        return absorbing

    async def test_what_a_paid_out_payee_keeps_is_the_platforms_loss_when_lost(
        self, ctx: Ctx, sandbox: Sandbox
    ) -> None:
        costs_before = await ledger_costs(ctx)
        losses_before = (await accounts(ctx, PLATFORM_LOSSES))[PLATFORM_LOSSES]
        who, escrow, worker = await _drained_then_disputed(ctx, 2_500)
        await settle(ctx.container)
        await run_dispute_jobs(ctx)
        (transfer,) = await sandbox.transfers(escrow["id"])
        assert transfer["amount_reversed"] == 0  # their balance covers nothing
        debt = payee_debt(worker.id)
        assert (await accounts(ctx, debt))[debt] == 0
        (incident,) = await _incidents(ctx, escrow["id"])
        assert incident["details"]["missing"] == 2_500
        key = await admin(ctx)
        (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
        await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
        await run_dispute_jobs(ctx)
        after = await get(ctx, who, escrow["id"])
        assert (after["status"], after["amount_released"]) == ("released", 2_500)
        assert await ledger_costs(ctx) - costs_before == -(2_500 + DISPUTE_FEE)
        assert (await accounts(ctx, PLATFORM_LOSSES))[PLATFORM_LOSSES] == losses_before
        assert len(await _incidents(ctx, escrow["id"])) == 1
        await _verified(ctx)

    async def test_nothing_is_paid_again_when_won(self, ctx: Ctx, sandbox: Sandbox) -> None:
        costs_before = await ledger_costs(ctx)
        who, escrow, _ = await _drained_then_disputed(ctx, 2_500)
        await run_dispute_jobs(ctx)
        key = await admin(ctx)
        (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
        await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=True)
        await run_dispute_jobs(ctx)
        after = await get(ctx, who, escrow["id"])
        assert (after["status"], after["amount_released"]) == ("released", 2_500)
        (transfer,) = await sandbox.transfers(escrow["id"])
        assert transfer["amount_reversed"] == 0
        assert await ledger_costs(ctx) - costs_before == -DISPUTE_FEE
        await _verified(ctx)


async def test_only_what_the_escrow_misses_is_taken_back(ctx: Ctx, sandbox: Sandbox) -> None:
    """$40.00 released to one payee, $60.00 still held for another: a chargeback of $100.00
    takes back the $40.00 allocation only; the held one is not touched."""
    who = await payer(ctx)
    first, second = await payees(ctx, 2)
    codes = (payee_available(first), payee_available(second), PLATFORM_FEES, DISPUTE_COSTS)
    before = await accounts(ctx, *codes)
    created = await create_escrow(ctx, who, [(first, 4_000), (second, 6_000)], fee_policy=FEE)
    escrow = await post(
        ctx, who, f"/v1/escrows/{created['id']}/fund", {"payment_method": "pm_card_createDispute"}
    )
    first_alloc, second_alloc = (a["id"] for a in escrow["allocations"])
    await post(
        ctx, who, f"/v1/escrows/{escrow['id']}/release", {"allocations": [{"id": first_alloc}]}
    )
    await settle(ctx.container)
    await run_dispute_jobs(ctx)

    (transfer,) = await sandbox.transfers(escrow["id"])
    assert (transfer["amount"], transfer["amount_reversed"]) == (3_600, 3_600)
    frozen = await get(ctx, who, escrow["id"])
    assert (frozen["status"], frozen["amount_released"]) == ("disputed", 0)
    assert await accounts(ctx, *codes) == {
        **before,
        DISPUTE_COSTS: before[DISPUTE_COSTS] - DISPUTE_FEE,
    }
    assert (await accounts(ctx, escrow_account(escrow["id"])))[
        escrow_account(escrow["id"])
    ] == 10_000
    assert "allocation.reversed" in await event_types(ctx, who, first_alloc)
    assert "allocation.reversed" not in await event_types(ctx, who, second_alloc)

    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    await run_dispute_jobs(ctx)
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_released"], after["amount_refunded"]) == (
        "refunded",
        0,
        10_000,
    )
    assert await accounts(ctx, *codes) == {
        **before,
        DISPUTE_COSTS: before[DISPUTE_COSTS] - DISPUTE_FEE,
    }
    await _verified(ctx)


async def test_a_recovery_that_died_after_its_reversal_is_finished_once(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    codes = (payee_available(payee), DISPUTE_COSTS)
    before = await accounts(ctx, *codes)
    escrow = await _paid_then_disputed(ctx, who, payee, 4_000, {"rate_bps": 0})
    switch = provider_switch(ctx)
    real = switch.target
    switch.target = Faulty(real, "reverse_transfer", "after", CrashError())
    await run_dispute_jobs(ctx)  # the chargeback opens; its recovery dies after the reversal
    switch.target = real
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 4_000
    stuck = await get(ctx, who, escrow["id"])
    assert [op["type"] for op in stuck["pending_operations"]] == ["clawback"]
    # Lost meanwhile: the decision waits for the reversal to be booked.
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    (waiting,) = await chargebacks_of(ctx, key, escrow["id"])
    assert waiting["status"] == "open"

    await recover(ctx, clock)  # the janitor settles the operation with the same keys
    clock.advance(timedelta(hours=3))  # the recovery job's retry, the reversal's event's
    await run_dispute_jobs(ctx)
    (lost,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (lost["status"], lost["outcome"]) == ("resolved", "lost")
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"], after["pending_operations"]) == (
        "refunded",
        4_000,
        [],
    )
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert (transfer["amount_reversed"], transfer["reversals"]["total_count"]) == (4_000, 1)
    now = await accounts(ctx, *codes)
    assert now[payee_available(payee)] == before[payee_available(payee)]
    assert now[DISPUTE_COSTS] - before[DISPUTE_COSTS] == -DISPUTE_FEE
    await _verified(ctx)


async def test_a_won_chargeback_repays_a_paid_out_payees_debt_first(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who, escrow, worker = await _drained_then_disputed(ctx, 2_500)
    available = payee_available(worker.id)
    paid = (await accounts(ctx, available))[available]
    await run_dispute_jobs(ctx)
    debt = payee_debt(worker.id)
    assert (await accounts(ctx, debt))[debt] == -2_500
    await _top_up(ctx, who, worker.id)
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=True)
    await run_dispute_jobs(ctx)
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_released"]) == ("released", 2_500)
    # The new transfer fills the connected account the reversal emptied; the ledger's net
    # repays the debt instead of adding to the payee's balance a second time.
    assert (await accounts(ctx, debt, available)) == {debt: 0, available: paid}
    transfers = await sandbox.transfers(escrow["id"])
    assert sorted((t["amount"], t["amount_reversed"]) for t in transfers) == [
        (2_500, 0),
        (2_500, 2_500),
    ]
    await _verified(ctx)


async def test_a_refused_reversal_leaves_the_loss_to_the_platform_and_an_incident(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    costs_before = await ledger_costs(ctx)
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    escrow = await _paid_then_disputed(ctx, who, payee, 4_000, {"rate_bps": 0})
    switch = provider_switch(ctx)
    real = switch.target
    refused = ProviderError(ProviderErrorKind.invalid_request, "No such transfer.")
    switch.target = Faulty(real, "reverse_transfer", "before", refused)
    await run_dispute_jobs(ctx)
    switch.target = real
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 0
    frozen = await get(ctx, who, escrow["id"])
    assert (frozen["status"], frozen["amount_released"], frozen["pending_operations"]) == (
        "disputed",
        4_000,
        [],
    )
    (incident,) = await _incidents(ctx, escrow["id"])
    assert incident["details"]["missing"] == 4_000
    key = await admin(ctx)
    (chargeback,) = await chargebacks_of(ctx, key, escrow["id"])
    await settle_dispute_at_provider(ctx, chargeback["provider_dispute"], won=False)
    (lost,) = await chargebacks_of(ctx, key, escrow["id"])
    assert (lost["status"], lost["outcome"]) == ("resolved", "lost")
    assert await ledger_costs(ctx) - costs_before == -(4_000 + DISPUTE_FEE)
    await _verified(ctx)
