"""A release whose transfers do not all go through: the answer and the events say, per
allocation, what was paid and what was not, and a retry with the same Idempotency-Key pays
only what was not — never an allocation twice.

The fault is injected at the network edge: the real adapter, except that the transfer of one
allocation is refused the way Stripe refuses one (an ``invalid_request_error``).

Stripe only: a PayPal release makes no provider call (PayPal has no transfers; the payee's
net moves in the ledger and leaves with their payout), so there is no per-allocation call to
fail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from escrowd.clock import FrozenClock
from escrowd.escrows import sweeps
from escrowd.escrows.ledgering import escrow_account
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.types import TransferRequest
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    assert_release_incomplete,
    event_types,
    funded,
    get,
    keyed,
    ledger_balance,
    payees,
    payer,
    provider_switch,
    run_jobs,
    sweep,
)

pytestmark = pytest.mark.stripe_only("a release's per-allocation provider call is a transfer")


class RefusesTransfer:
    """The real adapter, but transfers for ``allocation_id`` are refused while ``refusing``
    (after ``time_outs`` calls that time out before reaching the provider)."""

    def __init__(self, real: PaymentProvider, allocation_id: str, time_outs: int = 0) -> None:
        self.real, self.allocation_id, self.refusing = real, allocation_id, True
        self.time_outs, self.refused = time_outs, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def create_transfer(self, request: TransferRequest) -> Any:
        if self.refusing and request.metadata.get("allocation_id") == self.allocation_id:
            if self.time_outs:
                self.time_outs -= 1
                raise ProviderError(ProviderErrorKind.unknown_outcome, "read timed out")
            self.refused += 1
            raise ProviderError(
                ProviderErrorKind.invalid_request,
                "You have insufficient available funds in your Stripe account.",
                code="balance_insufficient",
            )
        return await self.real.create_transfer(request)


def _by_allocation(results: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {r["allocation"]: (r["status"], r["amount"]) for r in results}


async def test_a_release_says_per_allocation_what_was_paid_and_a_retry_pays_only_the_rest(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    first, second, third = await payees(ctx, 3)
    escrow = await funded(ctx, client_, [(first, 1000), (second, 2000), (third, 3000)])
    a, b, c = (x["id"] for x in escrow["allocations"])
    switch = provider_switch(ctx)
    real = switch.target
    fault = RefusesTransfer(real, b)
    switch.target = fault
    path, headers = f"/v1/escrows/{escrow['id']}/release", keyed(client_.headers)
    try:
        r = await ctx.client.post(path, json={}, headers=headers)
    finally:
        fault.refusing = False
    err = assert_release_incomplete(r, 402, "invalid_request_error", "balance_insufficient")
    assert "2 of 3 allocations paid" in err["message"]
    assert _by_allocation(err["results"]) == {
        a: ("paid", 1000),
        b: ("failed", 2000),
        c: ("paid", 3000),
    }
    (failed,) = [x for x in err["results"] if x["status"] == "failed"]
    assert failed["error"]["code"] == "balance_insufficient"
    assert failed["transfer"] is None
    assert all(x["transfer"] and x["error"] is None for x in err["results"] if x is not failed)
    assert (err["escrow"]["status"], err["escrow"]["amount_released"]) == (
        "partially_released",
        4000,
    )
    assert sorted(t["amount"] for t in await sandbox.transfers(escrow["id"])) == [1000, 3000]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 2000
    assert "allocation.release_failed" in await event_types(ctx, client_, b)
    assert "allocation.release_failed" not in await event_types(ctx, client_, a)
    events = await ctx.client.get(
        "/v1/events",
        params={"object_id": b, "type": "allocation.release_failed"},
        headers=client_.headers,
    )
    assert events.status_code == 200, events.text
    (event,) = events.json()["data"]
    failure = event["data"]["object"]["release_failure"]
    assert (failure["amount"], failure["error"]["code"]) == (2000, "balance_insufficient")

    # The same key again, the provider willing now: only the unpaid allocation is paid.
    again = await ctx.client.post(path, json={}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers.get("Idempotent-Replayed") is None
    body = again.json()
    assert body["status"] == "released"
    assert _by_allocation(body["results"]) == {
        a: ("paid", 1000),
        b: ("paid", 2000),
        c: ("paid", 3000),
    }
    assert sorted(t["amount"] for t in await sandbox.transfers(escrow["id"])) == [1000, 2000, 3000]
    assert fault.refused == 1
    # Complete now, the answer is stored: a third try is its replay and moves nothing.
    third_try = await ctx.client.post(path, json={}, headers=headers)
    assert third_try.status_code == 200
    assert third_try.headers.get("Idempotent-Replayed") == "true"
    assert len(await sandbox.transfers(escrow["id"])) == 3
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0


async def test_a_retry_of_partial_amounts_never_pays_an_allocation_twice(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    first, second = await payees(ctx, 2)
    escrow = await funded(ctx, client_, [(first, 1000), (second, 1000)])
    a, b = (x["id"] for x in escrow["allocations"])
    switch = provider_switch(ctx)
    real = switch.target
    fault = RefusesTransfer(real, b)
    switch.target = fault
    path, headers = f"/v1/escrows/{escrow['id']}/release", keyed(client_.headers)
    wanted = {"allocations": [{"id": a, "amount": 500}, {"id": b, "amount": 400}]}
    try:
        r = await ctx.client.post(path, json=wanted, headers=headers)
        err = assert_release_incomplete(r, 402, "invalid_request_error", "balance_insufficient")
        assert _by_allocation(err["results"]) == {a: ("paid", 500), b: ("failed", 400)}
        # Still refused: the retry tries only b again, and a keeps the 500 it was paid.
        r = await ctx.client.post(path, json=wanted, headers=headers)
        err = assert_release_incomplete(r, 402, "invalid_request_error", "balance_insufficient")
        assert _by_allocation(err["results"]) == {a: ("paid", 500), b: ("failed", 400)}
        assert fault.refused == 2
    finally:
        fault.refusing = False
    r = await ctx.client.post(path, json=wanted, headers=headers)
    assert r.status_code == 200, r.text
    assert _by_allocation(r.json()["results"]) == {a: ("paid", 500), b: ("paid", 400)}
    after = await get(ctx, client_, escrow["id"])
    assert [x["amount_released"] for x in after["allocations"]] == [500, 400]
    assert sorted(t["amount"] for t in await sandbox.transfers(escrow["id"])) == [400, 500]
    # A new key is a new request: the same body releases as much again.
    more = await ctx.client.post(path, json=wanted, headers=keyed(client_.headers))
    assert more.status_code == 200, more.text
    assert [x["amount_released"] for x in more.json()["allocations"]] == [1000, 800]


async def test_an_unknown_outcome_the_janitor_learns_was_a_refusal_stays_retryable(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    first, second = await payees(ctx, 2)
    escrow = await funded(ctx, client_, [(first, 700), (second, 900)])
    a, b = (x["id"] for x in escrow["allocations"])
    switch = provider_switch(ctx)
    real = switch.target
    fault = RefusesTransfer(real, b, time_outs=1)
    switch.target = fault
    path, headers = f"/v1/escrows/{escrow['id']}/release", keyed(client_.headers)
    try:
        r = await ctx.client.post(path, json={}, headers=headers)
        err = assert_release_incomplete(r, 502, "api_error", "provider_outcome_unknown")
        assert _by_allocation(err["results"]) == {a: ("paid", 700), b: ("pending", 900)}
        # The janitor asks again with the same key; this time the provider refuses it.
        clock.advance(sweeps.JANITOR_GRACE + timedelta(seconds=1))
        assert await sweep(ctx.container, sweeps.janitor)
        await run_jobs(ctx.container)
        assert fault.refused == 1
    finally:
        fault.refusing = False
    assert "allocation.release_failed" in await event_types(ctx, client_, b)
    assert (await get(ctx, client_, escrow["id"]))["pending_operations"] == []
    again = await ctx.client.post(path, json={}, headers=headers)
    assert again.status_code == 200, again.text
    assert _by_allocation(again.json()["results"]) == {a: ("paid", 700), b: ("paid", 900)}
    assert sorted(t["amount"] for t in await sandbox.transfers(escrow["id"])) == [700, 900]
