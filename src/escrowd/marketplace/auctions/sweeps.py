"""The ``auctions.escrows`` sweep (every 10 s): artworks follow their winning bids' escrows.

Registered by ``bootstrap.registries`` like every other sweep, not on import."""

from __future__ import annotations

from datetime import timedelta

from escrowd.jobs import Registry, SweepContext
from escrowd.marketplace.auctions import service

NAME = "auctions.escrows"
EVERY = timedelta(seconds=10)


async def follow(ctx: SweepContext) -> int:
    return await service.follow_escrows(ctx.container)


def register(jobs: Registry) -> None:
    jobs.add_sweep(NAME, EVERY, follow)
