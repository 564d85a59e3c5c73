"""The jobs flow's sweeps (every 10 s): ``jobs.disputes``, disputed tester slots follow their
disputes; ``jobs.open_paid``, a draft whose escrow became held after publishing answered
(3-D Secure completed later) opens.

Registered by ``bootstrap.registries`` like every other sweep, not on import."""

from __future__ import annotations

from datetime import timedelta

from escrowd.jobs import Registry, SweepContext
from escrowd.marketplace.jobs import service

NAME = "jobs.disputes"
OPEN_PAID = "jobs.open_paid"
EVERY = timedelta(seconds=10)


async def follow(ctx: SweepContext) -> int:
    return await service.follow_disputes(ctx.container)


async def open_paid(ctx: SweepContext) -> int:
    return await service.open_paid_drafts(ctx.container)


def register(jobs: Registry) -> None:
    jobs.add_sweep(NAME, EVERY, follow)
    jobs.add_sweep(OPEN_PAID, EVERY, open_paid)
