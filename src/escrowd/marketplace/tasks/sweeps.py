"""The ``tasks.deauthorized_doers`` sweep (every minute): doers whose connected account was
disconnected from the platform lose their open tasks (escrows cancelled or refunded).

Registered by ``bootstrap.registries`` like every other sweep, not on import."""

from __future__ import annotations

from datetime import timedelta

from escrowd.jobs import Registry, SweepContext
from escrowd.marketplace.tasks import service

NAME = "tasks.deauthorized_doers"
EVERY = timedelta(minutes=1)


async def deauthorized_doers(ctx: SweepContext) -> int:
    return await service.cancel_deauthorized(ctx.container)


def register(jobs: Registry) -> None:
    jobs.add_sweep(NAME, EVERY, deauthorized_doers)
