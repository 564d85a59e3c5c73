"""The ``jobs.disputes`` sweep (every 10 s): disputed tester slots follow their disputes.

Registered by ``bootstrap.registries`` like every other sweep, not on import."""

from __future__ import annotations

from datetime import timedelta

from escrowd.jobs import Registry, SweepContext
from escrowd.marketplace.jobs import service

NAME = "jobs.disputes"
EVERY = timedelta(seconds=10)


async def follow(ctx: SweepContext) -> int:
    return await service.follow_disputes(ctx.container)


def register(jobs: Registry) -> None:
    jobs.add_sweep(NAME, EVERY, follow)
