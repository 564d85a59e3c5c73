"""Who acts on which provider event: a registry of handlers per EventKind.

A domain module exposes a ``register`` function that the composition root
(``escrowd.bootstrap.registries``) calls with the process's registry::

    from escrowd.clock import Clock
    from escrowd.providers.types import EventKind, ProviderEvent
    from escrowd.webhooks.handlers import HandlerRegistry

    async def on_payment_succeeded(
        session: AsyncSession, event: ProviderEvent, clock: Clock
    ) -> None: ...

    def register(registry: HandlerRegistry) -> None:
        registry.register(EventKind.payment_succeeded, on_payment_succeeded)

A handler runs inside the transaction that marks the stored event processed: what it writes
commits together with that mark, or not at all. Events arrive late, twice (after a failed
attempt) and out of order, so a handler must be idempotent and must never move state
backwards — compare ``event.created`` or the object's own status before changing anything.

A handler gets escrowd's clock: the escrowd events and ledger entries it writes are dated when
escrowd learned of the change (the test clock in tests), while ``event.created`` — the
provider's time — decides only whether the event is stale.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.providers.types import EventKind, ProviderEvent

Handler = Callable[[AsyncSession, ProviderEvent, Clock], Awaitable[None]]


class HandlerRegistry:
    """Handlers per kind, run in registration order."""

    def __init__(self) -> None:
        self._handlers: dict[EventKind, list[Handler]] = {}

    def register(self, kind: EventKind, handler: Handler) -> Callable[[], None]:
        """Add ``handler`` for ``kind``; returns a function that removes it again."""
        if kind is EventKind.unknown:
            raise ValueError("events of unknown kind are stored and ignored, never dispatched")
        bucket = self._handlers.setdefault(kind, [])
        if handler in bucket:
            raise ValueError(f"{handler!r} is already registered for {kind.value}")
        bucket.append(handler)
        return lambda: self.unregister(kind, handler)

    def unregister(self, kind: EventKind, handler: Handler) -> None:
        bucket = self._handlers.get(kind, [])
        if handler in bucket:
            bucket.remove(handler)

    def handlers_for(self, kind: EventKind) -> tuple[Handler, ...]:
        return tuple(self._handlers.get(kind, ()))

    def kinds(self) -> frozenset[EventKind]:
        """The kinds at least one handler acts on."""
        return frozenset(k for k, hs in self._handlers.items() if hs)
