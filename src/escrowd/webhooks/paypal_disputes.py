"""PayPal's ``CUSTOMER.DISPUTE.CREATED`` and ``CUSTOMER.DISPUTE.RESOLVED``: a buyer's dispute of
a PayPal escrow's capture, followed as the core follows a Stripe chargeback.

The event is a hint. Before anything is frozen or booked, the dispute is read from PayPal
(``GET /v1/customer/disputes/{id}`` through the adapter, which also reads the disputed
capture to learn its order) and must agree with the event (the same capture, amount and
currency) and with escrowd's records: its capture belongs to a PayPal escrow's order and its
amount fits what the escrow charged. An event PayPal contradicts (or a dispute PayPal does
not have) is rejected with a ``webhook.mismatch`` incident and nothing moves. A genuine
dispute of a PayPal payment escrowd did not make is not escrowd's to follow: it is logged.

Then ``disputes.chargebacks.follow`` does what it does for Stripe, from PayPal's dispute
(``providers.paypal.mapping.dispute_from_paypal``): opened, the escrow is frozen
(``disputed``) and PayPal's hold is booked (``platform:disputes`` → ``provider:paypal:clearing``);
won, the hold comes back and the escrow unfreezes; lost, the escrow pays back what the buyer
keeps (a refund to the payer). On money already released, the payees' released money is
taken back into the frozen escrow first (``dispute.chargeback_recover``). Every figure is a
running total, so a repeated, late or out-of-order event books nothing twice.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.disputes import chargebacks, service
from escrowd.escrows.models import Escrow
from escrowd.jobs import incidents
from escrowd.logging import get_logger
from escrowd.providers.paypal import mapping, shapes
from escrowd.providers.paypal.events import PROVIDER
from escrowd.providers.types import Dispute as ProviderDispute
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.verification import EventMismatch, truth

__all__ = ["on_dispute", "register"]

log = get_logger(__name__)


def _claim(event: ProviderEvent) -> ProviderDispute:
    """What the event says of the dispute; a resource that is no dispute is a lie."""
    try:
        told = shapes.Dispute.model_validate(event.data)
    except (ValidationError, ValueError) as exc:
        raise EventMismatch(
            f"{event.provider_type} {event.id} carries no PayPal dispute ({type(exc).__name__}).",
            claimed={"object_id": event.object_id},
        ) from None
    if told.dispute_id != event.object_id:  # pragma: no cover - object_id is read from it
        raise EventMismatch(f"{event.id}: the resource names two disputes.")
    return mapping.dispute_from_paypal(told, order_id=None)


async def _escrow_of(session: AsyncSession, found: ProviderDispute) -> Escrow | None:
    """The PayPal escrow whose order the disputed capture belongs to (row locked)."""
    for column, value in (
        (Escrow.payment_id, found.payment_id),
        (Escrow.charge_id, found.charge_id),
    ):
        if value is None:
            continue
        stmt = select(Escrow).where(column == value, Escrow.provider == PROVIDER).with_for_update()
        escrow = (await session.scalars(stmt)).first()
        if escrow is not None:
            return escrow
    return None


def _sides(d: ProviderDispute) -> dict[str, object]:
    return {
        "id": d.id,
        "order": d.payment_id,
        "capture": d.charge_id,
        "amount": d.amount,
        "currency": d.currency,
        "status": d.status,
    }


def _check_claim(claim: ProviderDispute, found: ProviderDispute) -> None:
    same = (
        claim.id == found.id
        and claim.charge_id in (None, found.charge_id)
        and claim.amount == found.amount
        and claim.currency == found.currency
    )
    if not same:
        raise EventMismatch(
            f"PayPal dispute {claim.id}: the event's claims and PayPal's dispute disagree.",
            claimed=_sides(claim),
            provider=_sides(found),
        )


def _check_escrow(found: ProviderDispute, escrow: Escrow, escrow_of_row: str | None) -> None:
    ours = (found.payment_id is not None and found.payment_id == escrow.payment_id) or (
        found.charge_id is not None and found.charge_id == escrow.charge_id
    )
    fits = found.currency == escrow.currency and 0 < found.amount <= escrow.charged
    if not (ours and fits and escrow_of_row in (None, escrow.id)):
        raise EventMismatch(
            f"PayPal dispute {found.id} and escrow {escrow.id} disagree.",
            provider=_sides(found),
            recorded={
                "escrow": escrow.id,
                "order": escrow.payment_id,
                "capture": escrow.charge_id,
                "currency": escrow.currency,
                "charged": escrow.charged,
                "dispute_escrow": escrow_of_row,
            },
        )


async def on_dispute(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if event.provider != PROVIDER or event.object_id is None:
        return
    claim = _claim(event)
    row = await chargebacks.by_provider_id(session, claim.id)
    if row is not None:
        if row.status not in service.OPEN_STATUSES:
            return  # decided already: nothing PayPal says later changes escrowd
        if (
            not claim.closed
            and claim.withdrawn <= row.provider_withdrawn
            and claim.fee <= row.provider_fee
        ):
            return  # seen already: nothing would move, so nothing to verify
    found = truth(event, "dispute", claim.id, ProviderDispute)
    _check_claim(claim, found)
    escrow = await _escrow_of(session, found)
    if escrow is None:
        log.info(
            "paypal_dispute_not_ours",
            event_id=event.id,
            dispute=found.id,
            capture=found.charge_id,
            order=found.payment_id,
        )
        return
    _check_escrow(found, escrow, row.escrow_id if row is not None else None)
    if row is None and await _reversal_booked(session, clock, escrow, found):
        return
    await chargebacks.follow(session, clock, escrow, row, found, provider=PROVIDER)


async def _reversal_booked(
    session: AsyncSession, clock: Clock, escrow: Escrow, found: ProviderDispute
) -> bool:
    """Whether escrowd booked a ``PAYMENT.CAPTURE.REVERSED`` of this dispute's capture
    already (``webhooks.paypal_reversals``): the money PayPal took is in the ledger, so the
    dispute is not followed (it would book it twice); an incident asks an admin to look."""
    from escrowd.webhooks.paypal_reversals import REVERSAL_INCIDENT, reversal_id

    capture = found.charge_id or escrow.charge_id
    if capture is None or await chargebacks.by_provider_id(session, reversal_id(capture)) is None:
        return False
    await incidents.add(
        session,
        kind=REVERSAL_INCIDENT,
        error=(
            f"PayPal dispute {found.id} ({found.status}, {found.amount} {found.currency}) of "
            f"capture {capture}, whose reversal escrowd booked already as a lost chargeback: "
            "the dispute is not followed. If PayPal gives the money back, book it by hand."
        ),
        now=clock.now(),
        subject=escrow.id,
        details=_sides(found),
    )
    return True


def register(registry: HandlerRegistry) -> None:
    registry.register(EventKind.paypal_dispute_created, on_dispute)
    registry.register(EventKind.paypal_dispute_resolved, on_dispute)
