"""CrashError safety: the process dies between the database commit and the provider call, or
between the provider call and storing its result; the janitor's retry moves no money twice.

The fault is injected at the network edge only: a wrapper around the real adapter that raises
before forwarding the call (the request never left) or after it returned (the answer was lost).

The refund runs on Stripe and on PayPal (``rail``); the release's fault is in its transfer,
which only Stripe makes, and a lost PayPal payment answer is tests/paypal/test_paypal_events.py's
(the authorization PayPal reports is recorded once).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from escrowd.clock import FrozenClock
from escrowd.escrows import sweeps
from escrowd.escrows.funding import fund
from escrowd.escrows.ledgering import escrow_account
from escrowd.escrows.refund import refund
from escrowd.escrows.release import release
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    assert_release_incomplete,
    create_escrow,
    funded,
    get,
    keyed,
    ledger_balance,
    payees,
    payer,
    provider_switch,
    run_jobs,
    settle,
    sweep,
)
from tests.escrows.rails import Rail
from tests.integration.conftest import assert_error

TRANSFERS = pytest.mark.stripe_only("the fault is in a release's transfer, which PayPal has not")


class CrashError(Exception):
    """The process died here."""


class Faulty:
    """The real adapter, except that one method fails once, before or after the real call."""

    def __init__(self, real: PaymentProvider, method: str, when: str, fault: Exception) -> None:
        self.real, self.method, self.when, self.fault = real, method, when, fault
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if name != self.method:
            return target

        async def faulty(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.when == "before":
                raise self.fault
            await target(*args, **kwargs)
            raise self.fault

        return faulty


async def recover(ctx: Ctx, clock: FrozenClock) -> None:
    """What the worker does a minute later: the janitor sweep, then the jobs it enqueued."""
    clock.advance(sweeps.JANITOR_GRACE + timedelta(seconds=1))
    assert await sweep(ctx.container, sweeps.janitor)
    await run_jobs(ctx.container)
    await settle(ctx.container)


@TRANSFERS
@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_release_interrupted_around_its_transfer_is_finished_once(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox, when: str
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await funded(ctx, client_, [(tester, 2200)])
    switch = provider_switch(ctx)
    real = switch.target
    switch.target = Faulty(real, "create_transfer", when, CrashError())
    path = f"/v1/escrows/{escrow['id']}/release"
    with pytest.raises(CrashError):  # the use case itself: a dying process answers nobody
        await release(ctx.container, escrow_id=escrow["id"], actor=None)
    switch.target = real
    stuck = await get(ctx, client_, escrow["id"])
    assert stuck["status"] == "held"
    assert stuck["pending_operations"] == [
        {
            "type": "release",
            "status": "pending",
            "amount": 2200,
            "allocation": escrow["allocations"][0]["id"],
        }
    ]
    again = await ctx.client.post(path, headers=keyed(client_.headers))
    assert_error(again, 409, "invalid_request_error", "escrow_operation_in_progress")
    await recover(ctx, clock)
    after = await get(ctx, client_, escrow["id"])
    assert (after["status"], after["pending_operations"]) == ("released", [])
    assert [t["amount"] for t in await sandbox.transfers(escrow["id"])] == [2200]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0


async def test_a_refund_whose_answer_was_lost_is_settled_without_a_second_refund(
    ctx: Ctx, clock: FrozenClock, rail: Rail
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await rail.funded(ctx, client_, [(tester, 1600)])
    switch = provider_switch(ctx, rail.name)
    real = switch.target
    switch.target = Faulty(real, "create_refund", "after", CrashError())
    with pytest.raises(CrashError):
        await refund(ctx.container, escrow_id=escrow["id"], actor=None, amount=600)
    switch.target = real
    await recover(ctx, clock)
    after = await get(ctx, client_, escrow["id"])
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 600)
    assert await rail.refunds(ctx, escrow["payment"]["id"]) == [600]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 1000


@pytest.mark.stripe_only("Stripe's payment_intent.succeeded funds it while the call is lost")
async def test_a_payment_whose_answer_was_lost_funds_the_escrow_once(
    ctx: Ctx, clock: FrozenClock
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await create_escrow(ctx, client_, [(tester, 1400)])
    switch = provider_switch(ctx)
    real = switch.target
    switch.target = Faulty(real, "create_payment", "after", CrashError())
    with pytest.raises(CrashError):
        await fund(ctx.container, escrow_id=escrow["id"], actor=None, payment_method="pm_card_visa")
    switch.target = real
    # The provider's own event arrives first and funds it; the janitor then finds it done.
    await settle(ctx.container)
    assert (await get(ctx, client_, escrow["id"]))["status"] == "held"
    await recover(ctx, clock)
    after = await get(ctx, client_, escrow["id"])
    assert (after["status"], after["pending_operations"]) == ("held", [])
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 1400


@TRANSFERS
async def test_a_timeout_is_recorded_as_unknown_and_the_janitor_settles_it(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await funded(ctx, client_, [(tester, 900)])
    timeout = ProviderError(ProviderErrorKind.unknown_outcome, "read timed out")
    switch = provider_switch(ctx)
    real = switch.target
    switch.target = Faulty(real, "create_transfer", "after", timeout)
    path, headers = f"/v1/escrows/{escrow['id']}/release", keyed(client_.headers)
    r = await ctx.client.post(path, headers=headers)
    switch.target = real
    err = assert_release_incomplete(r, 502, "api_error", "provider_outcome_unknown")
    assert [x["status"] for x in err["results"]] == ["pending"]
    unknown = await get(ctx, client_, escrow["id"])
    assert [op["status"] for op in unknown["pending_operations"]] == ["unknown"]
    # The same key meanwhile: nothing new is sent, the answer says it is still pending.
    still = await ctx.client.post(path, headers=headers)
    assert_release_incomplete(still, 502, "api_error", "provider_outcome_unknown")
    await recover(ctx, clock)
    after = await get(ctx, client_, escrow["id"])
    assert (after["status"], after["pending_operations"]) == ("released", [])
    # And once settled, the same key answers with the escrow and what it paid.
    done = await ctx.client.post(path, headers=headers)
    assert done.status_code == 200, done.text
    assert [x["status"] for x in done.json()["results"]] == ["paid"]
    assert [t["amount"] for t in await sandbox.transfers(escrow["id"])] == [900]
