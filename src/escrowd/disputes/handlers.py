"""The provider's dispute events (chargebacks): ``dispute.created`` and ``dispute.closed``.

``register`` adds the handler to the process's registry (``escrowd.bootstrap``). It runs in
the transaction that marks the stored event processed, under the escrow's row lock.

A dispute event is a hint: before anything is frozen or booked, the provider's own dispute is
fetched (``webhooks.verification.truth``) and must name the escrow's payment, amount and
currency as the event did; otherwise the event is rejected with an incident and nothing moves.
What is booked follows the provider's dispute, not the event, so a repeated, late or
out-of-order event changes nothing (``chargebacks.follow``). Events about payments escrowd
did not make are ignored. No money moves at the provider here: a chargeback on money already
released enqueues the reversal of the payees' transfers (``disputes.tasks``).
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.disputes import chargebacks, service
from escrowd.escrows.event_checks import platform_event
from escrowd.escrows.models import Escrow
from escrowd.providers.stripe import events as stripe_events
from escrowd.providers.stripe import mapping as stripe_mapping
from escrowd.providers.types import Dispute as ProviderDispute
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.verification import EventMismatch, truth

__all__ = ["on_dispute", "register"]


async def _escrow_of(session: AsyncSession, claim: ProviderDispute) -> Escrow | None:
    ids = [
        cond
        for cond in (
            Escrow.payment_id == claim.payment_id if claim.payment_id else None,
            Escrow.charge_id == claim.charge_id if claim.charge_id else None,
        )
        if cond is not None
    ]
    if not ids:
        return None
    stmt = select(Escrow).where(or_(*ids)).with_for_update()
    return (await session.scalars(stmt)).first()


def _check(claim: ProviderDispute, found: ProviderDispute, escrow: Escrow) -> None:
    recorded = {
        "escrow": escrow.id,
        "payment_intent": escrow.payment_id,
        "charge": escrow.charge_id,
        "currency": escrow.currency,
        "charged": escrow.charged,
    }
    provider = {
        "id": found.id,
        "payment_intent": found.payment_id,
        "charge": found.charge_id,
        "amount": found.amount,
        "currency": found.currency,
        "status": found.status,
    }
    claimed = {
        "id": claim.id,
        "payment_intent": claim.payment_id,
        "charge": claim.charge_id,
        "amount": claim.amount,
        "currency": claim.currency,
        "status": claim.status,
    }
    ours = (found.payment_id is not None and found.payment_id == escrow.payment_id) or (
        found.charge_id is not None and found.charge_id == escrow.charge_id
    )
    same = (
        claim.payment_id in (None, found.payment_id)
        and claim.charge_id in (None, found.charge_id)
        and claim.amount == found.amount
        and claim.currency == found.currency
    )
    fits = found.currency == escrow.currency and 0 < found.amount <= escrow.charged
    if not (ours and same and fits):
        raise EventMismatch(
            f"dispute {claim.id}: the event's claims, the provider's dispute and escrow "
            f"{escrow.id} disagree.",
            claimed=claimed,
            provider=provider,
            recorded=recorded,
        )


async def on_dispute(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if not (
        event.provider == stripe_events.PROVIDER
        and event.object_type == "dispute"
        and event.object_id is not None
    ):
        return
    claim = stripe_mapping.dispute(event.data)
    escrow = await _escrow_of(session, claim)
    if escrow is None:
        return
    row = await chargebacks.by_provider_id(session, claim.id)
    if row is not None:
        if row.status not in service.OPEN_STATUSES:
            return  # decided already: nothing the provider does later changes escrowd
        if (
            not claim.closed
            and claim.withdrawn <= row.provider_withdrawn
            and claim.fee <= row.provider_fee
        ):
            return  # seen already: nothing would move, so nothing to verify
    # A dispute on a connected account's own charge never touches an escrow's money.
    platform_event(event, {"escrow": escrow.id, "payment_intent": escrow.payment_id})
    found = truth(event, "dispute", claim.id, ProviderDispute)
    _check(claim, found, escrow)
    await chargebacks.follow(session, clock, escrow, row, found, provider=event.provider)


def register(registry: HandlerRegistry) -> None:
    registry.register(EventKind.dispute_created, on_dispute)
    registry.register(EventKind.dispute_closed, on_dispute)
