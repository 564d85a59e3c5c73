"""PayPal's ``PAYMENT.CAPTURE.REVERSED``: PayPal took a PayPal escrow's captured money back (a
chargeback through the card network, or a reversal with no Resolution Center dispute).

The event is a hint. The escrow is the PayPal escrow whose recorded capture the event names;
a capture escrowd did not record is logged and nothing moves. Then:

1. **A dispute escrowd follows owns the money.** When escrowd follows a PayPal dispute on that
   escrow (a chargeback dispute row with a PayPal dispute id, in any status: open, won or
   lost), the dispute's own events book what PayPal took and gave back
   (``webhooks.paypal_disputes``); the reversal is that dispute's and is only logged
   (``paypal_reversal_of_followed_dispute``). The other way round, a PayPal dispute arriving
   after a reversal was booked opens an incident instead of being followed
   (``paypal_disputes``), so whichever event comes first, the money is booked once.
2. **PayPal's capture decides.** The capture is read at PayPal through the adapter and must
   be the escrow's (its order), in the escrow's currency, for no more than the escrow charged,
   and ``REVERSED``. Otherwise the event is rejected with a ``webhook.mismatch`` incident and
   nothing moves.
3. **Booked once, as a lost chargeback.** When the escrow still holds all it charged
   (``held``, nothing released or refunded, no operation in flight), the reversal is booked by
   ``disputes.chargebacks.follow`` from a dispute of escrowd's own making, decided lost at
   once: a chargeback dispute row with ``provider_dispute_id`` ``reversal:<capture id>``
   (unique, so a repeated event books nothing), ``platform:disputes`` →
   ``provider:paypal:clearing`` for the amount PayPal took, then ``escrow:<id>`` →
   ``platform:disputes``, booked as a refund to the payer (the escrow ends ``refunded``).
   Otherwise (money released or refunded already, an operation in flight, the escrow
   disputed or closed) nothing is booked and a ``paypal.capture_reversed_unbooked`` incident
   says what PayPal took and what escrowd holds, for an admin to book by hand.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.disputes import chargebacks
from escrowd.disputes.domain import DisputeKind
from escrowd.disputes.models import Dispute
from escrowd.escrows import store
from escrowd.escrows.models import Escrow
from escrowd.escrows.states import State
from escrowd.jobs import incidents
from escrowd.logging import get_logger
from escrowd.providers.paypal import mapping, shapes
from escrowd.providers.paypal.amounts import from_money
from escrowd.providers.paypal.events import PROVIDER
from escrowd.providers.types import Dispute as ProviderDispute
from escrowd.providers.types import ProviderEvent
from escrowd.webhooks.verification import PAYPAL_CAPTURE, EventMismatch, truth

__all__ = ["REVERSAL_INCIDENT", "UNBOOKED_INCIDENT", "on_capture_reversed", "reversal_id"]

log = get_logger(__name__)

#: The incident a reversal that cannot be booked safely opens.
UNBOOKED_INCIDENT = "paypal.capture_reversed_unbooked"
#: The incident a PayPal dispute of a capture whose reversal was booked already opens.
REVERSAL_INCIDENT = "paypal.dispute_after_reversal"
#: ``provider_dispute_id`` prefix of the chargeback row a booked reversal makes.
REVERSAL_PREFIX = "reversal:"


def reversal_id(capture_id: str) -> str:
    return f"{REVERSAL_PREFIX}{capture_id}"


async def chargebacks_of(session: AsyncSession, escrow_id: str) -> list[Dispute]:
    """The escrow's chargeback rows a provider dispute (or a booked reversal) made."""
    stmt = select(Dispute).where(
        Dispute.escrow_id == escrow_id,
        Dispute.kind == DisputeKind.chargeback.value,
        Dispute.provider_dispute_id.is_not(None),
    )
    return list((await session.scalars(stmt)).all())


def _claim(event: ProviderEvent) -> dict[str, Any]:
    claim: dict[str, Any] = {"id": event.object_id, "status": event.data.get("status")}
    amount = event.data.get("amount")
    if isinstance(amount, dict):
        claim["amount"] = amount.get("value")
        claim["currency"] = amount.get("currency_code")
    return claim


def _recorded(escrow: Escrow) -> dict[str, Any]:
    return {
        "escrow": escrow.id,
        "status": escrow.status,
        "order": escrow.payment_id,
        "capture": escrow.charge_id,
        "currency": escrow.currency,
        "charged": escrow.charged,
        "held": chargebacks.held(escrow),
    }


async def on_capture_reversed(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if event.provider != PROVIDER or event.object_type != "capture" or event.object_id is None:
        return
    capture_id = event.object_id
    stmt = (
        select(Escrow)
        .where(Escrow.provider == PROVIDER, Escrow.charge_id == capture_id)
        .with_for_update()
    )
    escrow = (await session.scalars(stmt)).first()
    if escrow is None:
        log.info("paypal_reversal_not_ours", event_id=event.id, capture=capture_id)
        return
    rows = await chargebacks_of(session, escrow.id)
    if any(r.provider_dispute_id == reversal_id(capture_id) for r in rows):
        return  # booked already (a repeated event)
    if rows:
        log.info(
            "paypal_reversal_of_followed_dispute",
            event_id=event.id,
            capture=capture_id,
            escrow=escrow.id,
            disputes=[r.provider_dispute_id for r in rows],
        )
        return
    capture = truth(event, PAYPAL_CAPTURE, capture_id, shapes.Capture)
    money = from_money(capture.amount)
    order = mapping.order_of(capture)
    differences: list[str] = []
    if order != escrow.payment_id:
        differences.append(f"it belongs to order {order}, not the escrow's {escrow.payment_id}")
    if money.currency != escrow.currency:
        differences.append(f"its currency is {money.currency}, not {escrow.currency}")
    if money.amount > escrow.charged:
        differences.append(f"its amount {money.amount} exceeds the {escrow.charged} charged")
    if capture.status != "REVERSED":
        differences.append(f"the event says it was reversed, PayPal that it is {capture.status}")
    if differences:
        raise EventMismatch(
            f"PayPal's capture {capture.id} does not match escrow {escrow.id}: "
            + "; ".join(differences)
            + ". Nothing was moved.",
            claimed=_claim(event),
            provider={
                "id": capture.id,
                "status": capture.status,
                "amount": money.amount,
                "currency": money.currency,
                "order": order,
            },
            recorded=_recorded(escrow),
        )
    open_ops = await store.open_ops(session, escrow.id)
    safe = (
        escrow.status == State.held.value
        and not open_ops
        and escrow.ledger_released == 0
        and escrow.ledger_refunded == 0
        and chargebacks.held(escrow) >= money.amount
    )
    if not safe:
        await incidents.add(
            session,
            kind=UNBOOKED_INCIDENT,
            error=(
                f"PayPal reversed capture {capture.id} ({money.amount} {money.currency}) of "
                f"escrow {escrow.id}, which is {escrow.status} and holds "
                f"{chargebacks.held(escrow)}: not booked. Book PayPal's withdrawal by hand "
                "(platform:disputes -> provider:paypal:clearing) and take it back from the "
                "escrow or the payees (docs/providers.md, PayPal reversals)."
            ),
            now=clock.now(),
            subject=escrow.id,
            details={
                "event": event.id,
                "capture": capture.id,
                "amount": money.amount,
                "currency": money.currency,
                "recorded": _recorded(escrow),
                "open_ops": [op.key for op in open_ops],
            },
        )
        return
    lost = ProviderDispute(
        id=reversal_id(capture.id),
        amount=money.amount,
        currency=escrow.currency,
        status="lost",
        reason="capture_reversed",
        charge_id=capture.id,
        payment_id=escrow.payment_id,
        withdrawn=money.amount,
    )
    await chargebacks.follow(session, clock, escrow, None, lost, provider=PROVIDER)
