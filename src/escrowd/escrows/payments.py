"""Applying what the provider says about an escrow's payment, whoever reports it.

``apply_payment`` is the one place a payment's status turns into a state change, a ledger
transfer and events: the fund and capture operations call it with the provider's answer, the
webhook handlers with an event's PaymentIntent, the sync job with a fresh retrieval. It goes
through the domain's ``apply_event``, so a late or repeated report never moves the escrow
backwards, and its ledger transfers have fixed ids (``esc_…:funded``…), so it never moves
money twice. ``close`` cancels or expires an escrow before its money is held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.escrows import ledgering, store
from escrowd.escrows.book import Book
from escrowd.escrows.models import Escrow, OpKind
from escrowd.escrows.states import (
    Action,
    PaymentOutcome,
    State,
    apply_event,
    payment_action,
    transition,
)
from escrowd.events import EventType
from escrowd.jobs import enqueue
from escrowd.providers.types import Payment, PaymentStatus

#: How long a card authorization holds when the provider has not said (Stripe: 7 days).
AUTHORIZATION_VALIDITY = timedelta(days=7)

#: Job kinds written here (their handlers are in escrows/handlers.py).
VOID_JOB = "escrow.void_payment"
SYNC_JOB = "escrow.sync_payment"


@dataclass
class Unit:
    """A unit of work's session and clock (the API's clock, or a webhook's event time)."""

    session: AsyncSession
    clock: Clock
    #: Where the ledger moves go when the caller posts them itself, last in its transaction
    #: (an operation's settling batch: ``operations.Settling.moves``); None: posted at once.
    moves: list[ledgering.Move] | None = None


def outcome_of(payment: Payment) -> PaymentOutcome | None:
    status = payment.status
    if status is PaymentStatus.requires_action:
        return "requires_action"
    if status is PaymentStatus.requires_capture:
        return "authorized"
    if status is PaymentStatus.succeeded:
        return "captured"
    if status is PaymentStatus.requires_payment_method and payment.last_error is not None:
        return "failed"
    return None


def payment_error_json(payment: Payment) -> dict[str, str | None] | None:
    err = payment.last_error
    if err is None:
        return None
    return {"code": err.code, "decline_code": err.decline_code, "message": err.message}


async def _ledger(unit: Unit, escrow: Escrow, *moves: ledgering.Move) -> None:
    if unit.moves is not None:
        unit.moves.extend(moves)
        return
    await ledgering.apply(
        unit.session,
        clock=unit.clock,
        currency=escrow.currency,
        reference=escrow.id,
        moves=list(moves),
    )


def _fee(book: Book, fee: int | None) -> list[ledgering.Move]:
    """Store the provider's fee on the charge (once); its ledger transfer, to post.

    It enters the allocations' breakdowns only if no money has left the escrow or is on its
    way out: a breakdown never changes under a part already taken from it.
    """
    e = book.escrow
    if fee is None or e.provider_fee is not None or not e.ledger_funded:
        return []
    e.provider_fee = fee
    moving = any(op.kind in (OpKind.release.value, OpKind.refund.value) for op in book.open_ops)
    if not (e.amount_released or e.amount_refunded or moving):
        e.processing_cost_total = fee
    return [ledgering.processing_fee(e.id, e.provider or "stripe", fee)]


async def record_fee(unit: Unit, book: Book, fee: int | None) -> None:
    """Store the provider's fee on the charge (once) and post its ledger transfer."""
    moves = _fee(book, fee)
    if moves:
        await _ledger(unit, book.escrow, *moves)


def _held(unit: Unit, book: Book, *, captured: bool) -> ledgering.Move:
    """The escrow holds the money now; the ledger transfer that puts it there, to post."""
    e, now = book.escrow, unit.clock.now()
    e.ledger_funded = e.charged
    e.funded_at = now
    if e.inspection_period_seconds is not None:
        e.inspection_ends_at = now + timedelta(seconds=e.inspection_period_seconds)
    if captured:
        return ledgering.capture(e.id)
    return ledgering.funded(e.id, e.provider or "stripe", e.charged)


def _decide(
    book: Book, payment: Payment, *, event_created: datetime | None
) -> tuple[Action, State | None] | None:
    """The action the payment's status asks for and the state it leads to (None: stays);
    None when there is no outcome yet or the report is older than one already applied.

    Within the payment phase (requires_payment ⇄ requires_action) the states alone cannot
    order two reports, so a webhook's ``event_created`` does.
    """
    e = book.escrow
    outcome = outcome_of(payment)
    if outcome is None:
        return None
    action = payment_action(outcome, e.status)
    if (
        action in (Action.require_action, Action.payment_failed)
        and event_created is not None
        and e.last_payment_event_at is not None
        and event_created < e.last_payment_event_at
    ):
        return None
    return action, apply_event(e.status, action, context=book.context())


def pending_change(book: Book, payment: Payment, *, event_created: datetime | None) -> bool:
    """Whether :func:`apply_payment` would change anything for this payment.

    Webhook handlers ask this of the event's *claim* first: a repeated or stale event changes
    nothing and needs no call to the provider; anything else is checked against the provider's
    own object before it is applied.
    """
    e = book.escrow
    if e.payment_id is not None and e.payment_id != payment.id:
        return False
    if e.payment_id is None or (payment.latest_charge or e.charge_id) != e.charge_id:
        return True
    decided = _decide(book, payment, event_created=event_created)
    if decided is None:
        return False
    if decided[1] is not None:
        return True
    return (
        e.status == State.authorized
        and payment.capture_before is not None
        and payment.capture_before != e.capture_before
    )


async def apply_payment(
    unit: Unit,
    book: Book,
    payment: Payment,
    *,
    fee: int | None = None,
    event_created: datetime | None = None,
    adopt: bool = False,
) -> bool:
    """Bring the escrow up to the payment's status; False when there was nothing to do.

    ``event_created`` is set for webhook events: within the payment phase (requires_payment ⇄
    requires_action) an event older than the newest one applied is ignored, since the states
    alone cannot order them. ``adopt``: the payment is the answer to this escrow's own fund
    operation, so it becomes the escrow's payment even if an earlier attempt's was recorded.
    """
    e = book.escrow
    if e.payment_id is not None and e.payment_id != payment.id and not adopt:
        return False  # an abandoned earlier attempt
    e.payment_id = payment.id
    e.charge_id = payment.latest_charge or e.charge_id
    decided = _decide(book, payment, event_created=event_created)
    if decided is None:
        return False
    action, new = decided
    if new is None:
        if e.status == State.authorized and payment.capture_before is not None:
            e.capture_before = payment.capture_before
        await record_fee(unit, book, fee)
        return False
    if event_created is not None:
        latest = e.last_payment_event_at
        e.last_payment_event_at = event_created if latest is None else max(latest, event_created)
    now = unit.clock.now()
    e.status = new.value
    events: list[EventType] = []
    if action is Action.require_action:
        e.next_action_url = payment.next_action_url
        e.last_payment_error = None
        events.append(EventType.escrow_requires_action)
    elif action is Action.payment_failed:
        e.next_action_url = None
        e.last_payment_error = payment_error_json(payment)
        events.append(EventType.payment_failed)
    elif action is Action.authorize:
        e.next_action_url = None
        e.last_payment_error = None
        e.authorized_at = now
        e.capture_before = payment.capture_before or now + AUTHORIZATION_VALIDITY
        await _ledger(unit, e, ledgering.authorization(e.id, e.provider or "stripe", e.charged))
        events.append(EventType.escrow_authorized)
    else:
        e.next_action_url = None
        e.last_payment_error = None
        # The money held and the provider's fee, when known, in one posting (one read of
        # their accounts).
        held = _held(unit, book, captured=action is Action.capture)
        await _ledger(unit, e, held, *_fee(book, fee))
        if action is Action.capture:
            events.append(EventType.escrow_captured)
        events.append(EventType.escrow_funded)
    store.touch(e, unit.clock)
    if (action is Action.authorize and payment.capture_before is None) or (
        new is State.held and e.provider_fee is None
    ):
        await enqueue(
            unit.session,
            clock=unit.clock,
            kind=SYNC_JOB,
            payload={"escrow_id": e.id},
            dedupe_key=f"{SYNC_JOB}:{e.id}:{new.value}",
        )
    fresh = store.refreshed(book)
    for event in events:
        await store.emit(unit.session, clock=unit.clock, type=event, book=fresh)
    return True


async def close(
    unit: Unit,
    book: Book,
    action: Action,
    *,
    via_event: bool = False,
    reason: str | None = None,
) -> bool:
    """Cancel or expire an escrow whose money is not held; its authorization is voided.

    ``via_event``: a provider's report (stale ones are ignored instead of refused).
    ``reason``: the cancellation reason the provider is given when voiding.
    """
    e = book.escrow
    if via_event:
        new = apply_event(e.status, action, context=book.context())
        if new is None:
            return False
    else:
        new = transition(e.status, action, context=book.context())
    if e.status == State.authorized:
        await _ledger(unit, e, ledgering.void(e.id))
    e.status = new.value
    e.next_action_url = None
    store.touch(e, unit.clock)
    if e.payment_id is not None:
        await enqueue(
            unit.session,
            clock=unit.clock,
            kind=VOID_JOB,
            payload={"escrow_id": e.id, "reason": reason},
            dedupe_key=f"{VOID_JOB}:{e.id}",
        )
    event = EventType.escrow_cancelled if action is Action.cancel else EventType.escrow_expired
    await store.emit(unit.session, clock=unit.clock, type=event, book=book)
    return True


def authorization_deadline(escrow: Escrow) -> datetime | None:
    """When the escrow's authorization ends (the provider's ``capture_before``, or a guess)."""
    if escrow.capture_before is not None:
        return escrow.capture_before
    if escrow.authorized_at is not None:
        return escrow.authorized_at + AUTHORIZATION_VALIDITY
    return None
