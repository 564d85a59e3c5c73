"""The outbound-webhook background work (``register`` adds it to the process's registry).

- ``webhook_endpoints.fan_out`` (every 5 s): events not yet fanned out become deliveries, one
  per matching enabled endpoint, each with a delivery job due now.
- ``webhook_endpoints.deliver``: one attempt of one delivery. It reads what to send, POSTs it
  outside any transaction, then records the answer and, on failure, queues the next attempt on
  the fixed schedule (``domain.SCHEDULE``) rather than the jobs package's backoff. Running the
  same attempt twice (a worker died after the POST) sends it twice, with the same
  ``webhook-id``, which receivers use to drop the copy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from escrowd.jobs import JobContext, Registry, SweepContext
from escrowd.jobs.registry import PermanentJobError
from escrowd.outbound import sender, service

FAN_OUT_SWEEP = "webhook_endpoints.fan_out"
FAN_OUT_EVERY = timedelta(seconds=5)
#: Resolving, connecting and the answer are bounded by the sender's own timeout.
DELIVER_TIMEOUT = timedelta(minutes=1)


async def fan_out(ctx: SweepContext) -> int:
    async with ctx.container.db.transaction() as session:
        return await service.fan_out(session, clock=ctx.container.clock)


async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    container = ctx.container
    try:
        delivery_id, number = str(payload["delivery"]), int(payload["attempt"])
        trigger = str(payload.get("trigger", "schedule"))
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentJobError(f"bad payload {payload!r}: {exc}") from exc
    async with container.db.transaction() as session:
        attempt = await service.begin_attempt(
            session, clock=container.clock, delivery_id=delivery_id, number=number, trigger=trigger
        )
    if attempt is None:
        return
    answer = await sender.post(
        attempt.url,
        body=attempt.body,
        headers=attempt.headers,
        allow_private=container.settings.webhooks_allow_private,
    )
    async with container.db.transaction() as session:
        await service.finish_attempt(session, clock=container.clock, attempt=attempt, answer=answer)


def register(jobs: Registry) -> None:
    jobs.add_sweep(FAN_OUT_SWEEP, FAN_OUT_EVERY, fan_out)
    jobs.add_handler(service.DELIVER, deliver, timeout=DELIVER_TIMEOUT)
