"""The provider unreachable when a payout is sent: the send job retries three times with
backoff, then an incident and ``payout.needs_attention``; the money stays held until an admin
replays the incident (the payout goes out, once) or rejects the payout (the money returns).

Faults are injected at the network edge: the payout's provider is swapped for one whose
payouts fail as a network error would. Each test runs for payouts to a Stripe connected
account and to a PayPal email (``destination``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from escrowd.escrows.ledgering import payee_available
from escrowd.jobs.worker import Worker
from escrowd.payouts.domain import SEND_JOB, SEND_RETRIES
from escrowd.payouts.tasks import sync_payouts
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.types import Payout, PayoutRequest
from tests.balances.conftest import balance_of
from tests.escrows.conftest import (
    Ctx,
    api_key_headers,
    event_types,
    ledger_balance,
    provider_switch,
    sweep,
)
from tests.payouts.conftest import Destination, days_pass, request_payout, review


class Unreachable:
    """The provider, except that creating a payout fails like a dropped connection: before the
    request reaches it, or (``answer_lost``) after it made the payout."""

    def __init__(self, target: PaymentProvider, *, answer_lost: bool = False) -> None:
        self.target = target
        self.answer_lost = answer_lost
        self.calls: list[str] = []
        self.name = target.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    async def create_payout(self, request: PayoutRequest) -> Payout:
        self.calls.append(request.idempotency_key)
        if self.answer_lost:
            await self.target.create_payout(request)
        raise ProviderError(ProviderErrorKind.api, "connection reset by peer", provider=self.name)


async def run_send_jobs(ctx: Ctx) -> int:
    """An hour on (past any backoff), then the due send jobs until none is due (a failed
    attempt's retry is due later: the clock does not move meanwhile)."""
    ctx.container.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    worker = Worker(ctx.container, kinds={SEND_JOB}, run_sweeps=False)
    ran = 0
    for _ in range(20):
        n = await worker.tick()
        if not n:
            break
        ran += n
    return ran


async def stuck_payout(
    ctx: Ctx, destination: Destination, amount: int, *, answer_lost: bool = False
) -> tuple[Any, dict[str, Any], Unreachable]:
    """A payout approved while the provider is unreachable, its retries spent."""
    worker = await destination.earned(ctx, amount)
    payout = await request_payout(ctx, worker, amount, **destination.body)
    await destination.ready(ctx)
    switch = provider_switch(ctx, destination.name)
    down = Unreachable(switch.target, answer_lost=answer_lost)
    switch.target = down
    err = await review(ctx, payout["id"], "approve", status=502)
    assert err["error"]["code"] == "provider_error"
    for _ in range(SEND_RETRIES):
        await run_send_jobs(ctx)
    assert len(down.calls) == 1 + SEND_RETRIES
    await run_send_jobs(ctx)
    assert len(down.calls) == 1 + SEND_RETRIES  # spent: nothing more is tried
    return worker, payout, down


async def open_incidents(ctx: Ctx, payout_id: str) -> list[dict[str, Any]]:
    """The payout's open incidents (its send job's)."""
    r = await ctx.client.get(
        "/v1/incidents",
        params={"status": "open", "kind": SEND_JOB, "limit": 100},
        headers=await api_key_headers(ctx),
    )
    assert r.status_code == 200, r.text
    return [i for i in r.json()["data"] if i["job"]["payload"] == {"payout": payout_id}]


async def test_three_retries_then_an_incident_and_the_money_stays_held(
    ctx: Ctx, destination: Destination
) -> None:
    worker, payout, down = await stuck_payout(ctx, destination, 2500)
    # The approval's own call and three retries, all with the payout's one key.
    assert down.calls == [f"{payout['id']}:payout"] * (1 + SEND_RETRIES)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "approved"
    assert await balance_of(ctx, worker) == {
        "available": {"usd": 0},
        "pending": {"usd": 0},
        "in_transit": {"usd": 2500},
    }
    incidents = await open_incidents(ctx, payout["id"])
    assert len(incidents) == 1
    assert "connection reset by peer" in incidents[0]["error"]
    # Admins are told; the payee's own event list does not carry it.
    admin = await api_key_headers(ctx)
    r = await ctx.client.get(
        "/v1/events", params={"object_id": payout["id"], "limit": 100}, headers=admin
    )
    attention = [e for e in r.json()["data"] if e["type"] == "payout.needs_attention"]
    assert len(attention) == 1
    assert attention[0]["data"]["object"]["reason"] == "retries_exhausted"
    assert "payout.needs_attention" not in await event_types(ctx, worker, payout["id"])
    # The sync sweep does not start the retries over.
    ctx.container.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    await sweep(ctx.container, sync_payouts)
    await run_send_jobs(ctx)
    assert len(down.calls) == 1 + SEND_RETRIES


async def test_a_replayed_incident_sends_the_payout_once(
    ctx: Ctx, destination: Destination
) -> None:
    worker, payout, down = await stuck_payout(ctx, destination, 1800)
    provider_switch(ctx, destination.name).target = down.target  # the provider is back
    (incident,) = await open_incidents(ctx, payout["id"])
    r = await ctx.client.post(
        f"/v1/incidents/{incident['id']}/replay", headers=await api_key_headers(ctx)
    )
    assert r.status_code == 200, r.text
    await run_send_jobs(ctx)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == destination.approved
    if destination.name == "stripe":
        await days_pass(ctx, 2)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "paid"
    assert await ledger_balance(ctx, payee_available(worker.id)) == 0


async def test_a_stuck_payout_can_be_rejected_and_its_money_returns(
    ctx: Ctx, destination: Destination
) -> None:
    worker, payout, _ = await stuck_payout(ctx, destination, 1200)
    rejected = await review(ctx, payout["id"], "reject", {"reason": "Bank details wrong"})
    assert rejected["status"] == "rejected"
    assert await balance_of(ctx, worker) == {
        "available": {"usd": 1200},
        "pending": {"usd": 0},
        "in_transit": {"usd": 0},
    }


async def test_a_rejected_payout_the_provider_made_after_all_opens_an_incident(
    ctx: Ctx, destination: Destination
) -> None:
    worker, payout, down = await stuck_payout(ctx, destination, 1100, answer_lost=True)
    provider_switch(ctx, destination.name).target = down.target
    await review(ctx, payout["id"], "reject", {"reason": "Never answered"})
    assert (await balance_of(ctx, worker))["available"] == {"usd": 1100}
    before = {i["id"] for i in await _mismatches(ctx)}
    # Stripe's payout arrives (payout.paid); PayPal's batch events, held back by the sandbox
    # until now, name the payout's key.
    await days_pass(ctx, 2)
    found = [i for i in await _mismatches(ctx) if i["id"] not in before]
    assert len(found) == 1
    assert payout["id"] in found[0]["error"]
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "rejected"  # nothing moved: an admin decides


async def _mismatches(ctx: Ctx) -> list[dict[str, Any]]:
    r = await ctx.client.get(
        "/v1/incidents",
        params={"kind": "webhook.mismatch", "limit": 100},
        headers=await api_key_headers(ctx),
    )
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


async def test_an_approved_payout_still_retrying_cannot_be_rejected(
    ctx: Ctx, destination: Destination
) -> None:
    worker = await destination.earned(ctx, 900)
    payout = await request_payout(ctx, worker, 900, **destination.body)
    await destination.ready(ctx)
    switch = provider_switch(ctx, destination.name)
    real = switch.target
    switch.target = Unreachable(real)
    await review(ctx, payout["id"], "approve", status=502)
    err = await review(ctx, payout["id"], "reject", {"reason": "impatient"}, status=409)
    assert err["error"]["code"] == "payout_state"
    switch.target = real
    await run_send_jobs(ctx)  # its retry goes out; nothing is left queued
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == destination.approved


async def test_a_retry_that_reaches_the_provider_sends_it(
    ctx: Ctx, destination: Destination
) -> None:
    worker = await destination.earned(ctx, 700)
    payout = await request_payout(ctx, worker, 700, **destination.body)
    await destination.ready(ctx)
    switch = provider_switch(ctx, destination.name)
    real = switch.target
    switch.target = Unreachable(real)
    await review(ctx, payout["id"], "approve", status=502)
    switch.target = real
    await run_send_jobs(ctx)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == destination.approved
    assert "payout.needs_attention" not in await event_types(ctx, worker, payout["id"])
