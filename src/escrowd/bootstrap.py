"""Composition root: the one place that wires settings, database, clock and services.

Tests build a Container with a frozen clock or another database here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from escrowd.clock import Clock, SystemClock
from escrowd.config import Settings
from escrowd.db.session import Database

if TYPE_CHECKING:
    from escrowd.providers.base import PaymentProvider


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    #: The payment provider adapter; set by create_app (sandbox mode needs the app itself).
    provider: PaymentProvider | None = None
    #: The ASGI app serving this container, for in-process calls (sandbox ↔ API, no sockets).
    asgi_app: Any = None

    async def close(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()
        await self.db.dispose()


def build(settings: Settings | None = None, *, clock: Clock | None = None) -> Container:
    settings = settings or Settings()
    db = Database(
        settings.effective_database_url, pool_size=settings.db_pool_size, echo=settings.db_echo
    )
    return Container(settings=settings, db=db, clock=clock or SystemClock())
