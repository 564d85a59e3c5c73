"""Fee resolution: the escrow's policy over the payee's over the marketplace default."""

from __future__ import annotations

import pytest

from escrowd.config import Environment, Settings
from escrowd.escrows.fee_policies import marketplace_default
from tests.escrows.conftest import Ctx, create_escrow, payer, verified_payee
from tests.integration.conftest import assert_error, bearer, count_rows, make_user

#: This module's marketplace charges 10 % by default.
MARKETPLACE = '{"rate_bps": 1000}'


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

    both = [(discounted.id, 10_000), (regular.id, 10_000)]
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
