"""Fee resolution: the escrow's policy over the payee's over the marketplace default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from escrowd.app import create_app
from escrowd.bootstrap import build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.fees.service import marketplace_default
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    create_escrow,
    get,
    ledger_balance,
    payer,
    post,
    verified_payee,
)
from tests.integration.conftest import (
    Account,
    assert_error,
    bearer,
    count_all,
    count_rows,
    make_user,
)

pytestmark = pytest.mark.stripe_only(
    "fees are resolved when the escrow is created, before and whatever the provider"
)

#: This module's marketplace charges 10 % by default.
MARKETPLACE = '{"rate_bps": 1000}'
ESCROW_TABLES = ("escrows", "escrow_allocations", "events")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        fee_policy=MARKETPLACE,
    )


def _fees(escrow: dict[str, object]) -> list[int]:
    allocations = escrow["allocations"]
    assert isinstance(allocations, list)
    return [a["platform_fee"] for a in allocations]


async def test_the_marketplace_default_comes_from_the_settings(ctx: Ctx) -> None:
    assert marketplace_default(ctx.container.settings).rate_bps == 1000
    client_ = await payer(ctx)
    worker = await verified_payee(ctx)
    escrow = await create_escrow(ctx, client_, [(worker.id, 10_000)])
    assert _fees(escrow) == [1000]


async def test_a_payees_own_policy_beats_the_default_and_the_escrows_beats_both(
    ctx: Ctx,
) -> None:
    admin = await make_user(ctx.container, role="admin")
    client_ = await payer(ctx)
    discounted, regular = await verified_payee(ctx), await verified_payee(ctx)
    r = await ctx.client.post(
        f"/v1/fee_policies/{discounted.id}",
        json={"fee_policy": {"rate_bps": 500}},
        headers=bearer(admin.token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["fee_policy"] == {"rate_bps": "500"}  # rates travel as decimal strings

    both: list[tuple[str | None, int]] = [(discounted.id, 10_000), (regular.id, 10_000)]
    assert _fees(await create_escrow(ctx, client_, both)) == [500, 1000]
    escrow_wins = await create_escrow(ctx, client_, both, fee_policy={"rate_bps": 1500})
    assert _fees(escrow_wins) == [1500, 1500]

    gone = await ctx.client.delete(f"/v1/fee_policies/{discounted.id}", headers=bearer(admin.token))
    assert gone.status_code == 200
    assert _fees(await create_escrow(ctx, client_, both)) == [1000, 1000]


async def test_only_admins_set_fee_policies_and_bad_ones_write_nothing(ctx: Ctx) -> None:
    admin = await make_user(ctx.container, role="admin")
    client_ = await make_user(ctx.container, role="client")
    worker = await verified_payee(ctx)
    before = await count_rows(ctx.container, "payee_fee_policies")
    denied = await ctx.client.post(
        f"/v1/fee_policies/{worker.id}",
        json={"fee_policy": {"rate_bps": 0}},
        headers=bearer(client_.token),
    )
    assert denied.status_code == 403
    for policy, param in [
        ({"rate_bps": 12.5}, "fee_policy[rate_bps]"),
        ({"rate_bps": 20_000}, "fee_policy[rate_bps]"),
        ({"discount": 1}, "fee_policy[discount]"),
    ]:
        r = await ctx.client.post(
            f"/v1/fee_policies/{worker.id}",
            json={"fee_policy": policy},
            headers=bearer(admin.token),
        )
        assert_error(r, 400, "invalid_request_error", param=param)
    not_a_party = await ctx.client.post(
        "/v1/fee_policies/esc_01M81SAQC553E2BW43XMP3165T",
        json={"fee_policy": {"rate_bps": 1}},
        headers=bearer(admin.token),
    )
    assert_error(not_a_party, 400, "invalid_request_error")
    missing = await ctx.client.get(f"/v1/fee_policies/{worker.id}", headers=bearer(admin.token))
    assert_error(missing, 404, "invalid_request_error", "resource_missing")
    assert await count_rows(ctx.container, "payee_fee_policies") == before


async def test_a_fixed_fee_larger_than_an_allocation_is_refused_wherever_it_comes_from(
    ctx: Ctx, settings: Settings, clock: FrozenClock
) -> None:
    admin = await make_user(ctx.container, role="admin")
    client_ = await payer(ctx)
    worker, pricey = await verified_payee(ctx), await verified_payee(ctx)
    r = await ctx.client.post(
        f"/v1/fee_policies/{pricey.id}",
        json={"fee_policy": {"fixed": 2_000}},
        headers=bearer(admin.token),
    )
    assert r.status_code == 200, r.text
    before = await count_all(ctx.container, *ESCROW_TABLES)

    def body(allocations: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
        return {
            "currency": "usd",
            "amount": sum(a for _, a in allocations),
            "allocations": [{"payee": p, "amount": a} for p, a in allocations],
            **extra,
        }

    own = await ctx.client.post(
        "/v1/escrows",
        json=body([(worker.id, 300)], fee_policy={"fixed": 500}),
        headers=client_.headers,
    )
    err = assert_error(
        own, 400, "invalid_request_error", "fee_exceeds_amount", param="fee_policy[fixed]"
    )
    assert (
        "would be 530 (30 at 1000 bps plus the fixed 500 of this escrow's fee_policy)"
        in (err["message"])
    )
    assert "amount 300" in err["message"]

    payees_own = await ctx.client.post(
        "/v1/escrows",
        json=body([(worker.id, 5_000), (pricey.id, 1_500)]),
        headers=client_.headers,
    )
    err = assert_error(
        payees_own,
        400,
        "invalid_request_error",
        "fee_exceeds_amount",
        param="allocations[1][amount]",
    )
    assert "the fixed 2000 of the payee's own fee policy" in err["message"]

    # The marketplace default: the same database, served with another ESCROWD_FEE_POLICY.
    fixed_default = settings.model_copy(update={"fee_policy": '{"fixed": 400}'})
    other = build(fixed_default, clock=clock)
    try:
        transport = httpx.ASGITransport(app=create_app(other))
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
            r = await c.post("/v1/escrows", json=body([(worker.id, 399)]), headers=client_.headers)
            err = assert_error(
                r,
                400,
                "invalid_request_error",
                "fee_exceeds_amount",
                param="allocations[0][amount]",
            )
            assert "the fixed 400 of the marketplace's default fee policy" in err["message"]
            assert "Raise the amount to at least 400" in err["message"]
            fits = await c.post(
                "/v1/escrows", json=body([(worker.id, 400)]), headers=client_.headers
            )
            assert fits.status_code == 200, fits.text
    finally:
        await other.close()
    after = await count_all(ctx.container, *ESCROW_TABLES)
    assert after["escrows"] == before["escrows"] + 1  # only the one that fits
    assert after["events"] == before["events"] + 1


async def test_a_fee_equal_to_the_allocation_leaves_the_payee_nothing_and_moves_no_transfer(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    worker = await verified_payee(ctx)
    escrow = await create_escrow(
        ctx, client_, [(worker.id, 700)], fee_policy={"rate_bps": 0, "fixed": 700}
    )
    (allocation,) = escrow["allocations"]
    assert (allocation["platform_fee"], allocation["net"]) == (700, 0)
    await post(ctx, client_, f"/v1/escrows/{escrow['id']}/fund", {"payment_method": "pm_card_visa"})
    released = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    assert await sandbox.transfers(escrow["id"]) == []


async def _own_policy(ctx: Ctx, admin: Account, party: str, policy: dict[str, Any]) -> None:
    r = await ctx.client.post(
        f"/v1/fee_policies/{party}", json={"fee_policy": policy}, headers=bearer(admin.token)
    )
    assert r.status_code == 200, r.text


def _slot(escrow: dict[str, Any], i: int) -> dict[str, Any]:
    allocation: dict[str, Any] = escrow["allocations"][i]
    return allocation


async def test_assigning_a_slot_prices_it_with_the_payees_own_policy_and_moves_no_money(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    admin = await make_user(ctx.container, role="admin")
    client_ = await payer(ctx)
    named, discounted, regular = [await verified_payee(ctx) for _ in range(3)]
    await _own_policy(ctx, admin, discounted.id, {"rate_bps": 500, "fixed": 7})
    escrow = await create_escrow(ctx, client_, [(named.id, 4_000), (None, 10_000), (None, 6_000)])
    assert _fees(escrow) == [400, 1000, 600]  # open slots: the marketplace's 10 %
    funded_ = await post(
        ctx, client_, f"/v1/escrows/{escrow['id']}/fund", {"payment_method": "pm_card_visa"}
    )
    fees_before = await ledger_balance(ctx, "platform:fees")
    transfers_before = await count_rows(ctx.container, "ledger_transfers")

    path = f"/v1/escrows/{escrow['id']}/allocations"
    slot = _slot(funded_, 1)["id"]
    assigned = await post(ctx, client_, f"{path}/{slot}/assign", {"payee": discounted.id})
    priced = _slot(assigned, 1)
    assert (priced["payee"], priced["platform_fee"], priced["net"]) == (discounted.id, 507, 9_493)
    assert priced["fee_policy"]["rate_bps"] == "500"
    assert priced["breakdown"]["gross"] == 10_000
    # A payee without a policy of their own keeps the slot's price; the rest is untouched.
    other = _slot(funded_, 2)["id"]
    kept = await post(ctx, client_, f"{path}/{other}/assign", {"payee": regular.id})
    assert _fees(kept) == [400, 507, 600]
    assert sum(a["amount"] for a in kept["allocations"]) == kept["amount"]
    for a in kept["allocations"]:
        b = a["breakdown"]
        assert b["platform_fee"] + b["payee_processing"] + b["net"] == a["amount"]
    assert kept["amount_charged"] == funded_["amount_charged"]
    # Nothing moved in the ledger: fees are taken at release.
    assert await ledger_balance(ctx, "platform:fees") == fees_before
    assert await count_rows(ctx.container, "ledger_transfers") == transfers_before

    released = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    assert await ledger_balance(ctx, "platform:fees") == fees_before + 400 + 507 + 600
    transfers = {t["amount"] for t in await sandbox.transfers(escrow["id"])}
    assert transfers == {3_600, 9_493, 5_400}


async def test_a_payees_policy_that_does_not_fit_the_slot_is_refused_and_assigns_nothing(
    ctx: Ctx,
) -> None:
    admin = await make_user(ctx.container, role="admin")
    client_ = await payer(ctx)
    pricey, surcharging = await verified_payee(ctx), await verified_payee(ctx)
    await _own_policy(ctx, admin, pricey.id, {"fixed": 2_000})
    payer_bears = {
        "processing_bearer": "payer",
        "processing_mode": "flat_rate",
        "processing_rate_bps": 290,
        "processing_fixed": 30,
    }
    await _own_policy(ctx, admin, surcharging.id, payer_bears)
    escrow = await create_escrow(ctx, client_, [(None, 1_500)])
    path = f"/v1/escrows/{escrow['id']}/allocations/{_slot(escrow, 0)['id']}/assign"
    too_much = await ctx.client.post(path, json={"payee": pricey.id}, headers=client_.headers)
    err = assert_error(too_much, 400, "invalid_request_error", "fee_exceeds_amount", param="payee")
    assert "the fixed 2000 of the payee's own fee policy" in err["message"]
    assert _slot(await get(ctx, client_, escrow["id"]), 0)["payee"] is None

    # Before the payment, a payee whose policy adds a surcharge changes what the payer pays.
    before_payment = await create_escrow(ctx, client_, [(None, 1_000)])
    assert before_payment["amount_charged"] == 1_000
    slot = _slot(before_payment, 0)["id"]
    assigned = await post(
        ctx,
        client_,
        f"/v1/escrows/{before_payment['id']}/allocations/{slot}/assign",
        {"payee": surcharging.id},
    )
    assert assigned["amount_charged"] == 1_000 + 59  # 2.9 % of 1000 + 30
    assert _slot(assigned, 0)["breakdown"]["surcharge"] == 59

    # Once the payer was charged, it cannot change: refused, nothing assigned.
    paid = await create_escrow(ctx, client_, [(None, 1_000)])
    await post(ctx, client_, f"/v1/escrows/{paid['id']}/fund", {"payment_method": "pm_card_visa"})
    locked = await ctx.client.post(
        f"/v1/escrows/{paid['id']}/allocations/{_slot(paid, 0)['id']}/assign",
        json={"payee": surcharging.id},
        headers=client_.headers,
    )
    assert_error(locked, 409, "invalid_request_error", "allocation_price_locked", param="payee")
    after = await get(ctx, client_, paid["id"])
    assert (_slot(after, 0)["payee"], after["amount_charged"]) == (None, 1_000)
