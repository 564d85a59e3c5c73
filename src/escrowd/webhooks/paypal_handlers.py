"""What escrowd does with PayPal's events.

``CHECKOUT.ORDER.APPROVED`` for a PayPal escrow waiting for its payer is a hint: the handler
enqueues ``escrow.confirm_paypal``, which reads the order at PayPal and, only if PayPal says it
is approved, confirms it (authorize or capture) exactly as the payer's own second fund call
would. Nothing in the event's body is trusted. The other kinds are stored, dispatched here and
marked processed with a log line: escrowd's own calls already apply what they report (a
capture, a void, a refund, a payout), and the janitor and sync jobs read PayPal's objects for
what a call could not learn.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.escrows.models import Escrow
from escrowd.escrows.states import State
from escrowd.escrows.tasks import CONFIRM_PAYPAL_JOB
from escrowd.jobs import enqueue
from escrowd.logging import get_logger
from escrowd.providers.paypal.events import KINDS, PREFIXES, PROVIDER
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry

log = get_logger(__name__)


async def note_only(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    log.info(
        "paypal_event_not_acted_on",
        reason="nothing to act on",
        event_id=event.id,
        type=event.provider_type,
        object_id=event.object_id,
    )


async def on_order_approved(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    order_id = event.object_id
    if order_id is None:
        return
    escrow_id = await session.scalar(
        select(Escrow.id).where(
            Escrow.payment_id == order_id,
            Escrow.provider == PROVIDER,
            Escrow.status == State.requires_action.value,
        )
    )
    if escrow_id is None:
        await note_only(session, event, clock)
        return
    await enqueue(
        session,
        clock=clock,
        kind=CONFIRM_PAYPAL_JOB,
        payload={"escrow_id": escrow_id, "order": order_id},
        dedupe_key=f"{CONFIRM_PAYPAL_JOB}:{escrow_id}:{order_id}",
    )


def register(registry: HandlerRegistry) -> None:
    for kind in {*KINDS.values(), *PREFIXES.values()}:
        if kind is EventKind.paypal_order_approved:
            registry.register(kind, on_order_approved)
        else:
            registry.register(kind, note_only)
    # Disputes are followed, not noted (a buyer's dispute freezes the escrow it disputes).
    from escrowd.webhooks import paypal_disputes

    for kind in (EventKind.paypal_dispute_created, EventKind.paypal_dispute_resolved):
        registry.unregister(kind, note_only)
    paypal_disputes.register(registry)
