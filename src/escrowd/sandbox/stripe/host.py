"""What the sandbox needs from the process that hosts it: settings, a database and a clock.

The composition root (``escrowd.bootstrap``) builds the sandbox and hands it its ``Core``;
the sandbox never imports the composition root, so it can be built, and tested, from these
three alone. ``standalone(settings)`` is such a host for the CLI, which works on the sandbox
tables without the rest of escrowd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.types import ASGIApp

from escrowd.clock import Clock, SystemClock
from escrowd.config import Settings
from escrowd.db.session import Database


class Host(Protocol):
    """Settings (public URL, webhook secret), the database the sandbox tables live in, and
    escrowd's clock (the sandbox clock is real time plus a stored offset)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def clock(self) -> Clock: ...


class DeliveringHost(Host, Protocol):
    """A host with escrowd's provider-webhook endpoint, where the sandbox delivers events."""

    @property
    def webhook_intake(self) -> ASGIApp: ...


@dataclass(frozen=True)
class Standalone:
    """A host of its own: the database from the settings and the system clock."""

    settings: Settings
    db: Database
    clock: Clock

    async def close(self) -> None:
        await self.db.dispose()


def standalone(settings: Settings) -> Standalone:
    return Standalone(
        settings=settings,
        db=Database(
            settings.effective_database_url,
            pool_size=settings.db_pool_size,
            echo=settings.db_echo,
        ),
        clock=SystemClock(),
    )
