"""A payee's balance follows the ledger to the cent: fund, release, refund, reversal — with
released money available at once (no payout delay, the default)."""

from __future__ import annotations

from typing import Any

from ulid import ULID

from escrowd.escrows.ledgering import payee_available, payee_pending
from escrowd.providers.base import PaymentProvider
from escrowd.providers.types import TransferReversalRequest
from tests.balances.conftest import balance_of, fresh_payee, org_of
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    api_key_headers,
    funded,
    ledger_balance,
    payer,
    post,
    settle,
)
from tests.integration.conftest import make_user

EMPTY: dict[str, Any] = {"available": {}, "pending": {}, "in_transit": {}}


async def reverse(ctx: Ctx, sandbox: Sandbox, escrow_id: str, amount: int) -> None:
    """The provider reverses part of the escrow's (only) transfer; its webhook is processed."""
    (transfer,) = await sandbox.transfers(escrow_id)
    provider = ctx.container.provider
    assert isinstance(provider, PaymentProvider)
    await provider.reverse_transfer(
        TransferReversalRequest(
            idempotency_key=f"test:{ULID()}", transfer_id=transfer["id"], amount=amount
        )
    )
    await settle(ctx.container)


async def test_balance_after_fund_release_refund_and_reversal(ctx: Ctx, sandbox: Sandbox) -> None:
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    assert await balance_of(ctx, worker) == EMPTY

    # 30.00 held for the worker; a 10% platform fee; the platform bears processing.
    escrow = await funded(ctx, client_, [(worker.id, 3000)], fee_policy={"rate_bps": 1000})
    assert await balance_of(ctx, worker) == EMPTY  # held in escrow: not the payee's yet

    # 20.00 released: 2.00 fee, 18.00 net, available at once (no payout delay).
    alloc = escrow["allocations"][0]["id"]
    await post(
        ctx,
        client_,
        f"/v1/escrows/{escrow['id']}/release",
        {"allocations": [{"id": alloc, "amount": 2000}]},
    )
    zero = {"usd": 0}
    assert await balance_of(ctx, worker) == {
        "available": {"usd": 1800},
        "pending": zero,
        "in_transit": zero,
    }

    # The other 10.00 refunded to the payer: the payee's balance does not move.
    await post(ctx, client_, f"/v1/escrows/{escrow['id']}/refund")
    assert (await balance_of(ctx, worker))["available"] == {"usd": 1800}

    # The provider reverses 5.00 of the transfer: taken back from available.
    await reverse(ctx, sandbox, escrow["id"], 500)
    assert await balance_of(ctx, worker) == {
        "available": {"usd": 1300},
        "pending": zero,
        "in_transit": zero,
    }
    assert await ledger_balance(ctx, payee_available(worker.id)) == 1300
    assert await ledger_balance(ctx, payee_pending(worker.id)) == 0
    # The payer is no payee: nothing of theirs is in a balance.
    assert await balance_of(ctx, client_) == EMPTY


async def test_who_may_read_a_balance(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    await post(
        ctx,
        client_,
        f"/v1/escrows/{(await funded(ctx, client_, [(worker.id, 1000)]))['id']}/release",
    )
    mine = {"available": {"usd": 1000}, "pending": {"usd": 0}, "in_transit": {"usd": 0}}
    stranger = await make_user(ctx.container, role="worker")
    admin = await make_user(ctx.container, role="admin")
    key = await api_key_headers(ctx)

    # The payee, an admin and an API key see it; the payer and a stranger get a 404.
    assert await balance_of(ctx, worker) == mine
    assert await balance_of(ctx, worker, party=worker.id) == mine
    assert await balance_of(ctx, admin, party=worker.id) == mine
    r = await ctx.client.get("/v1/balance", params={"party": worker.id}, headers=key)
    assert r.status_code == 200, r.text
    assert r.json()["available"] == [{"amount": 1000, "currency": "usd"}]
    for who in (client_, stranger):
        r = await ctx.client.get("/v1/balance", params={"party": worker.id}, headers=who.headers)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["param"] == "party"
        assert r.json()["error"]["code"] == "resource_missing"

    # An organization: its members read it, others get a 404.
    org = await org_of(ctx, stranger)
    assert await balance_of(ctx, stranger, party=org) == EMPTY
    r = await ctx.client.get("/v1/balance", params={"party": org}, headers=worker.headers)
    assert r.status_code == 404, r.text

    # An API key names a party; a party that does not exist is a 404 even for admins.
    r = await ctx.client.get("/v1/balance", headers=key)
    assert (r.status_code, r.json()["error"]["param"]) == (400, "party"), r.text
    ghost = f"usr_{ULID()}"
    r = await ctx.client.get("/v1/balance", params={"party": ghost}, headers=admin.headers)
    assert (r.status_code, r.json()["error"]["param"]) == (404, "party"), r.text
    r = await ctx.client.get("/v1/balance")
    assert r.status_code == 401


async def test_bad_party_is_a_400_envelope(ctx: Ctx) -> None:
    admin = await make_user(ctx.container, role="admin")
    for bad in ("bogus", "esc_01ARZ3NDEKTSV4RRFFQ69G5FAV", "platform", "usr_1"):
        r = await ctx.client.get("/v1/balance", params={"party": bad}, headers=admin.headers)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", "party"), error
