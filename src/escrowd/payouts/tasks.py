"""The payouts jobs and sweeps (``register`` adds them to the process's registry).

- ``payouts.send`` (job, ``payout``: a ``po_…``): makes the provider's payout of an approved
  payout that has none yet, with the payout's own idempotency key. A provider that cannot be
  reached fails the attempt and the job backs off (``jobs/backoff.py``); after the approval's
  own call it has ``SEND_RETRIES`` attempts (an automatic payout: one more, its first call).
  The last failed attempt records ``payout.needs_attention``; the jobs service opens the
  incident. The money stays held until an admin replays the incident or rejects the payout.
- ``payouts.sync`` (every minute): payouts at the provider (``approved`` or ``in_transit``)
  unchanged for a minute: an ``approved`` one without the provider's answer gets its send job
  (a no-op when it has one), an ``in_transit`` one is retrieved from its connected account
  and the answer applied as a webhook's would be. A provider error leaves it for the next run.
- ``payouts.auto`` (every five minutes): parties whose payout schedule has a period not
  handled yet get their available balance paid out (``service.pay_out_on_schedule``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from escrowd.errors import EscrowdError
from escrowd.jobs import JobContext, PermanentJobError, Registry, SweepContext
from escrowd.logging import get_logger
from escrowd.payouts import domain, service
from escrowd.providers.errors import ProviderError

log = get_logger(__name__)

SYNC_SWEEP = "payouts.sync"
AUTO_SWEEP = "payouts.auto"
#: How long a payout is left to its webhook before the sweep asks the provider itself.
QUIET = timedelta(minutes=1)
AUTO_EVERY = timedelta(minutes=5)
BATCH = 100


async def send_payout(ctx: JobContext, payload: dict[str, Any]) -> None:
    payout_id = payload.get("payout")
    if not isinstance(payout_id, str):
        raise PermanentJobError(f"payload has no payout: {payload!r}")
    await service.send(ctx.container, payout_id, last_attempt=ctx.job.is_last_attempt)


async def sync_payouts(ctx: SweepContext) -> int:
    container = ctx.container
    due = await service.due_for_sync(container, older_than=ctx.started_at - QUIET, limit=BATCH)
    for payout_id in due:
        try:
            await service.sync(container, payout_id)
        except (ProviderError, EscrowdError) as exc:
            log.warning("payout_sync_failed", payout=payout_id, error=str(exc))
    return len(due)


async def pay_out_schedules(ctx: SweepContext) -> int:
    container = ctx.container
    made = 0
    for party in await service.due_schedules(container, limit=BATCH):
        try:
            made += len(await service.pay_out_on_schedule(container, party))
        except EscrowdError as exc:
            log.warning("scheduled_payout_failed", party=party, error=str(exc))
    return made


def register(jobs: Registry) -> None:
    jobs.add_sweep(SYNC_SWEEP, timedelta(minutes=1), sync_payouts)
    jobs.add_handler(domain.SEND_JOB, send_payout)
    jobs.add_sweep(AUTO_SWEEP, AUTO_EVERY, pay_out_schedules)
