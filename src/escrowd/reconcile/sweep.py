"""The daily reconciliation sweep, and one incident per difference (importing registers both).

``reconcile.daily`` compares the last two days (yesterday whole, with a day's overlap for
settlements that came late) and enqueues one ``reconcile.difference`` job per difference,
keyed by the difference (``reconcile:<kind>:<escrow>:<object>``). The job fails at once with
the difference and its advice, which opens an incident for the admins. Because the key is
unique among jobs, a difference found again the next day adds nothing: one incident per
difference, however many runs see it. Replaying the incident runs the job again, which
checks the escrow (or the subscription invoice, or the payout) once more and succeeds quietly
when the difference is gone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from escrowd.jobs import JobContext, PermanentJobError, Registry, SweepContext, enqueue
from escrowd.reconcile.differences import Kind
from escrowd.reconcile.service import (
    reconcile,
    reconcile_escrow,
    reconcile_invoice,
    reconcile_payout,
)

SWEEP = "reconcile.daily"
DIFFERENCE_JOB = "reconcile.difference"
EVERY = timedelta(days=1)
#: How far back each run looks: the day before, and the day before that again.
LOOK_BACK = timedelta(days=2)
#: Two days of a busy marketplace take a while to list; a run longer than this is stopped.
TIMEOUT = timedelta(hours=1)


def dedupe_key(difference_key: str) -> str:
    return f"reconcile:{difference_key}"


async def daily(ctx: SweepContext) -> int:
    """Reconcile the last two days; returns how many new differences became incidents."""
    report = await reconcile(ctx.container, since=ctx.started_at - LOOK_BACK, until=ctx.started_at)
    made = 0
    async with ctx.container.db.transaction() as s:
        for d in report.differences:
            job = await enqueue(
                s,
                clock=ctx.container.clock,
                kind=DIFFERENCE_JOB,
                payload=d.as_dict(),
                dedupe_key=dedupe_key(d.key),
            )
            made += job is not None
    return made


def describe(payload: dict[str, Any]) -> str:
    return f"{payload['kind']}: {payload['detail']}. What to do: {payload['advice']}"


async def difference(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Open the incident (by failing), unless a fresh look at the escrow finds it gone."""
    escrow_id, invoice_id = payload.get("escrow"), payload.get("invoice")
    if payout_id := payload.get("payout"):
        fresh = await reconcile_payout(ctx.container, payout_id)
        if payload.get("key") not in {d.key for d in fresh.differences}:
            return
        raise PermanentJobError(describe(payload))
    if invoice_id:
        fresh = await reconcile_invoice(ctx.container, invoice_id)
        if payload.get("key") not in {d.key for d in fresh.differences}:
            return
        raise PermanentJobError(describe(payload))
    # A payment that names an escrow it does not belong to is not among that escrow's own
    # objects: only a range run finds it, so it stays until an admin dismisses it.
    if escrow_id and payload.get("kind") != Kind.payment_unrecorded.value:
        fresh = await reconcile_escrow(ctx.container, escrow_id)
        if payload.get("key") not in {d.key for d in fresh.differences}:
            return
    raise PermanentJobError(describe(payload))


def register(jobs: Registry) -> None:
    jobs.add_handler(DIFFERENCE_JOB, difference)
    jobs.add_sweep(SWEEP, EVERY, daily, timeout=TIMEOUT)
