"""The payouts sync sweep (``register`` adds it to the process's registry).

- ``payouts.sync`` (every minute): payouts at the provider (``approved`` or ``in_transit``)
  unchanged for a minute are looked up one by one: an ``approved`` one whose provider call
  had no answer is asked again with its own idempotency key (the provider makes it once),
  an ``in_transit`` one is retrieved from its connected account; the answer is applied as a
  webhook's would be. A provider error leaves the payout for the next run.
"""

from __future__ import annotations

from datetime import timedelta

from escrowd.errors import EscrowdError
from escrowd.jobs import Registry, SweepContext
from escrowd.logging import get_logger
from escrowd.payouts import service
from escrowd.providers.errors import ProviderError

log = get_logger(__name__)

SYNC_SWEEP = "payouts.sync"
#: How long a payout is left to its webhook before the sweep asks the provider itself.
QUIET = timedelta(minutes=1)
BATCH = 100


async def sync_payouts(ctx: SweepContext) -> int:
    container = ctx.container
    due = await service.due_for_sync(container, older_than=ctx.started_at - QUIET, limit=BATCH)
    for payout_id in due:
        try:
            await service.sync(container, payout_id)
        except (ProviderError, EscrowdError) as exc:
            log.warning("payout_sync_failed", payout=payout_id, error=str(exc))
    return len(due)


def register(jobs: Registry) -> None:
    jobs.add_sweep(SYNC_SWEEP, timedelta(minutes=1), sync_payouts)
