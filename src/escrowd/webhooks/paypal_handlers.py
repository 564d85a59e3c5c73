"""What escrowd does with PayPal's events: for now, records that it saw them.

No escrow is paid with PayPal yet (the escrow wiring is issue 12's part 4), so there is nothing
a PayPal event could settle: each registered kind is stored, dispatched here and marked
processed, with a log line. When escrows gain PayPal, these become the real handlers, which —
like Stripe's — must fetch the order, authorization, capture or payout from PayPal before acting.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.logging import get_logger
from escrowd.providers.paypal.events import KINDS, PREFIXES
from escrowd.providers.types import ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry

log = get_logger(__name__)


async def note_only(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    log.info(
        "paypal_event_not_acted_on",
        reason="no PayPal escrows yet",
        event_id=event.id,
        type=event.provider_type,
        object_id=event.object_id,
    )


def register(registry: HandlerRegistry) -> None:
    for kind in {*KINDS.values(), *PREFIXES.values()}:
        registry.register(kind, note_only)
