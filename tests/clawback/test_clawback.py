"""Refunds of released money: the payee gives back the net, the platform its fee, the payer
gets everything back, and the provider's objects say the same (docs/refunds.md)."""

from __future__ import annotations

import asyncio

from escrowd.escrows.ledgering import (
    PLATFORM_FEES,
    PROCESSING_COSTS,
    clearing,
    escrow_account,
    payee_available,
    payee_debt,
)
from tests.balances.conftest import fresh_payee
from tests.clawback.conftest import accounts, clawback, drained_payee
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    event_types,
    funded,
    get,
    keyed,
    payees,
    payer,
    post,
    settle,
)
from tests.integration.conftest import assert_error, make_user

FEE = {"rate_bps": 1000}


async def test_a_released_escrow_refunded_in_full_puts_every_account_back(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    codes = (payee_available(payee), PLATFORM_FEES, PROCESSING_COSTS, clearing("stripe"))
    before = await accounts(ctx, *codes)
    escrow = await funded(ctx, who, [(payee, 10_000)], fee_policy=FEE)
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    # Without clawback, released money is still never refunded.
    refused = await post(ctx, who, f"/v1/escrows/{escrow['id']}/refund", status=409)
    assert refused["error"]["code"] == "escrow_state_conflict"

    done = await clawback(ctx, who, escrow["id"])
    await settle(ctx.container)

    assert (done["status"], done["amount_refunded"], done["amount_released"]) == (
        "refunded",
        10_000,
        0,
    )
    after = await accounts(ctx, *codes, escrow_account(escrow["id"]), payee_debt(payee))
    assert after[payee_available(payee)] == before[payee_available(payee)]  # 9,000 net back
    assert after[PLATFORM_FEES] == before[PLATFORM_FEES]  # the 1,000 fee returned
    assert after[escrow_account(escrow["id"])] == 0
    assert after[payee_debt(payee)] == 0
    # Only the provider's own fee on the charge is not returned (Stripe keeps it on refunds):
    # the platform bore it, exactly as for a refund of money never released.
    fee = done["payment"]["processing_fee"]
    assert fee is not None
    assert fee > 0
    assert after[PROCESSING_COSTS] == before[PROCESSING_COSTS] - fee
    assert after[clearing("stripe")] == before[clearing("stripe")] + fee

    (transfer,) = await sandbox.transfers(escrow["id"])
    assert (transfer["amount"], transfer["amount_reversed"], transfer["reversed"]) == (
        9_000,
        9_000,
        True,
    )
    refunds = await sandbox.refunds(escrow["payment"]["id"])
    assert [r["amount"] for r in refunds] == [10_000]
    types = await event_types(ctx, who, escrow["allocations"][0]["id"])
    assert types[-1] == "allocation.clawed_back"
    assert (await event_types(ctx, who, escrow["id"]))[-1] == "escrow.refunded"


async def test_a_partial_clawback_takes_the_fee_back_in_proportion(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    codes = (payee_available(payee), PLATFORM_FEES)
    before = await accounts(ctx, *codes)
    escrow = await funded(ctx, who, [(payee, 10_000)], fee_policy=FEE)
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")

    done = await clawback(ctx, who, escrow["id"], amount=2_500)

    assert (done["status"], done["amount_refunded"], done["amount_released"]) == (
        "released",
        2_500,
        7_500,
    )
    after = await accounts(ctx, *codes)
    assert after[payee_available(payee)] - before[payee_available(payee)] == 9_000 - 2_250
    assert after[PLATFORM_FEES] - before[PLATFORM_FEES] == 1_000 - 250
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 2_250
    allocation = done["allocations"][0]
    assert (allocation["amount_released"], allocation["net_released"]) == (7_500, 6_750)
    # The rest can be clawed back later; no more than that.
    too_much = await clawback(ctx, who, escrow["id"], amount=7_501, status=400)
    assert too_much["error"]["code"] == "amount_too_large"
    rest = await clawback(ctx, who, escrow["id"])
    assert rest["status"] == "refunded"
    assert (await accounts(ctx, *codes)) == before


async def test_held_money_is_refunded_first_then_released_money(ctx: Ctx) -> None:
    who = await payer(ctx)
    first, second = await payees(ctx, 2)
    escrow = await funded(ctx, who, [(first, 4_000), (second, 6_000)])
    first_id = escrow["allocations"][0]["id"]
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release", {"allocations": [{"id": first_id}]})
    done = await clawback(ctx, who, escrow["id"], amount=7_000, prorated=True)
    # Pro rata over what each can give (4,000 released, 6,000 held): 2,800 and 4,200.
    by_id = {a["id"]: a for a in done["allocations"]}
    assert by_id[first_id]["amount_refunded"] == 2_800
    assert by_id[first_id]["amount_released"] == 1_200
    assert done["amount_refunded"] == 7_000
    assert done["status"] == "partially_released"


async def test_a_retry_with_the_same_key_moves_nothing_twice(ctx: Ctx, sandbox: Sandbox) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    escrow = await funded(ctx, who, [(payee, 5_000)])
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    headers = keyed(who.headers)
    path = f"/v1/escrows/{escrow['id']}/refund"
    first = await ctx.client.post(path, json={"clawback": True}, headers=headers)
    again = await ctx.client.post(path, json={"clawback": True}, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json()
    assert [r["amount"] for r in await sandbox.refunds(escrow["payment"]["id"])] == [5_000]
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 5_000


async def test_two_clawbacks_at_once_move_the_money_once(ctx: Ctx, sandbox: Sandbox) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    before = await accounts(ctx, payee_available(payee))
    escrow = await funded(ctx, who, [(payee, 5_000)])
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    path = f"/v1/escrows/{escrow['id']}/refund"
    answers = await asyncio.gather(
        *(
            ctx.client.post(path, json={"clawback": True}, headers=keyed(who.headers))
            for _ in range(2)
        )
    )
    assert sorted(r.status_code for r in answers)[0] == 200
    assert [r.status_code for r in answers].count(200) == 1, [r.text for r in answers]
    assert [r["amount"] for r in await sandbox.refunds(escrow["payment"]["id"])] == [5_000]
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 5_000
    assert await accounts(ctx, payee_available(payee)) == before
    assert (await get(ctx, who, escrow["id"]))["amount_refunded"] == 5_000


async def test_payees_and_strangers_cannot_claw_back(ctx: Ctx, sandbox: Sandbox) -> None:
    who = await payer(ctx)
    worker = await fresh_payee(ctx)
    escrow = await funded(ctx, who, [(worker.id, 3_000)])
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    path = f"/v1/escrows/{escrow['id']}/refund"
    stranger = await make_user(ctx.container, role="client")
    r = await ctx.client.post(path, json={"clawback": True}, headers=keyed(stranger.headers))
    assert_error(r, 404, "invalid_request_error", "resource_missing")
    r = await ctx.client.post(path, json={"clawback": True}, headers=keyed(worker.headers))
    assert_error(r, 403, "permission_error", "payee_read_only")
    assert await sandbox.refunds(escrow["payment"]["id"]) == []
    assert (await get(ctx, who, escrow["id"]))["status"] == "released"


async def test_bad_input_gets_the_envelope_and_writes_nothing(ctx: Ctx, sandbox: Sandbox) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    escrow = await funded(ctx, who, [(payee, 3_000)])
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    path = f"/v1/escrows/{escrow['id']}/refund"
    for body, param in (
        ({"clawback": "maybe"}, "clawback"),
        ({"clawback": True, "amount": 0}, "amount"),
        ({"clawback": True, "amount": 3_001}, "amount"),
        ({"clawback": True, "allocations": [{"id": "alloc_nope"}]}, "allocations[0][id]"),
        (
            {"clawback": True, "amount": 10, "allocations": [{"id": "alloc_nope"}]},
            "allocations",
        ),
    ):
        r = await ctx.client.post(path, json=body, headers=keyed(who.headers))
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error", error
        assert error["param"] == param, error
    assert await sandbox.refunds(escrow["payment"]["id"]) == []
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"]) == ("released", 0)


async def test_a_shortfall_becomes_debt_repaid_by_the_next_release(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    worker, escrow = await drained_payee(ctx, who, 4_000)
    done = await clawback(ctx, who, escrow["id"])
    assert done["status"] == "refunded"
    debt = payee_debt(worker.id)
    # Nothing was left to take: all of it is owed (a debit-normal account: negative here).
    assert (await accounts(ctx, debt))[debt] == -4_000
    # The provider reversed all of it: the connected account went negative there too.
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 4_000

    later = await funded(ctx, who, [(worker.id, 3_000)], fee_policy={"rate_bps": 0})
    await post(ctx, who, f"/v1/escrows/{later['id']}/release")
    # The new earnings repay the debt first: nothing more is available to the payee.
    after = await accounts(ctx, debt, payee_available(worker.id))
    assert after[debt] == -1_000
    assert after[payee_available(worker.id)] == 4_000  # still only the payout's held money


async def test_a_clawback_over_two_transfers_reverses_the_newest_first(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    escrow = await funded(ctx, who, [(payee, 10_000)])
    allocation = escrow["allocations"][0]["id"]
    path = f"/v1/escrows/{escrow['id']}/release"
    await post(ctx, who, path, {"allocations": [{"id": allocation, "amount": 4_000}]})
    await post(ctx, who, path, {"allocations": [{"id": allocation, "amount": 6_000}]})

    done = await clawback(ctx, who, escrow["id"], amount=7_000)

    assert (done["amount_released"], done["amount_refunded"]) == (3_000, 7_000)
    reversed_by_amount = {
        t["amount"]: t["amount_reversed"] for t in await sandbox.transfers(escrow["id"])
    }
    assert reversed_by_amount == {6_000: 6_000, 4_000: 1_000}
