"""What escrowd does with PayPal's events.

Every event is a hint, never the truth: a handler finds the escrow (or payout) escrowd
recorded for the event's object, drops the event when nothing would change (repeated, stale,
escrowd's own call already applied it), and otherwise asks PayPal for its own objects
(``webhooks.verification.truth``: the capture, authorization or refund the event names, and
the escrow's order) and checks them against escrowd's record before anything moves. A signed
event whose body lies changes nothing: PayPal's objects decide, and an object at odds with
escrowd's record is an ``EventMismatch`` (the event is rejected, an incident opens).

- ``CHECKOUT.ORDER.APPROVED``: enqueues ``escrow.confirm_paypal``, which reads the order at
  PayPal and, only if PayPal says it is approved, confirms it (authorize or capture) exactly as
  the payer's own second fund call would.
- ``PAYMENT.CAPTURE.COMPLETED``: a capture escrowd did not see complete (a pending eCheck that
  cleared): the escrow's order, read at PayPal, is applied as Stripe's
  ``payment_intent.succeeded`` is (``payments.apply_payment``: held, ledger, events), with
  PayPal's fee from the capture's ``seller_receivable_breakdown``. Also records the fee of a
  capture whose fee escrowd could not read before.
- ``PAYMENT.CAPTURE.DENIED``: the capture failed (a bounced eCheck): the escrow goes back to
  ``requires_payment`` with the error, as Stripe's ``payment_intent.payment_failed`` does.
- ``PAYMENT.AUTHORIZATION.CREATED``: an authorization escrowd has not recorded (PayPal
  authorized the approved order, but escrowd's confirm call failed or its process died before
  storing the answer): PayPal's authorization and order are checked against the escrow (its
  order, currency, the whole amount, intent AUTHORIZE, still CREATED) and applied once, as the
  payer's own fund call would (``payments.apply_payment``: authorized, the hold in the ledger,
  ``escrow.authorized``). When escrowd's own call recorded it first, or the event repeats, it
  changes nothing and asks PayPal nothing; while escrowd's call is in flight it is retried.
- ``PAYMENT.AUTHORIZATION.VOIDED``: the authorization was voided (or ran out) outside escrowd:
  an escrow still holding only the authorization expires, as on Stripe's
  ``payment_intent.canceled``; an escrow escrowd cancelled itself is left as it is.
- ``PAYMENT.CAPTURE.REFUNDED``: a refund escrowd did not make (PayPal's dashboard): checked at
  PayPal, then booked once by ``escrow.book_outside_refund`` (``escrows.outside_refund``),
  which opens an incident instead when it cannot be booked safely. escrowd's own refunds are
  recognised by the refund's id and ignored.
- ``PAYMENT.CAPTURE.REVERSED``: PayPal took a capture's money back; unless a PayPal dispute
  escrowd follows owns it, PayPal's capture is checked (``REVERSED``, the escrow's order and
  currency) and the reversal booked once as a lost chargeback, or an incident opened
  (``webhooks.paypal_reversals``).
- ``PAYMENT.PAYOUTS-ITEM.*``: the payout item's fate (succeeded, unclaimed, returned, failed,
  blocked…), read at PayPal, moves escrowd's payout as Stripe's ``payout.paid`` /
  ``payout.failed`` do (``payouts.handlers.on_payout``).
- ``PAYMENT.PAYOUTSBATCH.*``: the batch (one per payout, its ``sender_batch_id`` the payout's
  key), read at PayPal, moves its payout as its item says there, through the same code as the
  item's own events (``webhooks.paypal_payouts``).

``CUSTOMER.DISPUTE.*`` are followed by ``webhooks.paypal_disputes``, ``PAYMENT.CAPTURE.REVERSED``
by ``webhooks.paypal_reversals``. Kinds escrowd does not know (``PAYMENT.CAPTURE.PENDING``…)
are stored and change nothing; escrowd's own calls apply what they report.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.escrows import event_checks as checks
from escrowd.escrows import outside_refund, store
from escrowd.escrows.book import Book
from escrowd.escrows.models import Escrow, OpKind
from escrowd.escrows.payments import Unit, apply_payment, close
from escrowd.escrows.states import Action, State, apply_event
from escrowd.escrows.tasks import CONFIRM_PAYPAL_JOB
from escrowd.jobs import enqueue
from escrowd.logging import get_logger
from escrowd.payouts.handlers import on_payout
from escrowd.providers.paypal import mapping, shapes
from escrowd.providers.paypal.amounts import from_money
from escrowd.providers.paypal.events import KINDS, PREFIXES, PROVIDER
from escrowd.providers.paypal.mapping import capture_of_refund
from escrowd.providers.types import EventKind, Payment, PaymentStatus, ProviderEvent
from escrowd.webhooks.handlers import Handler, HandlerRegistry
from escrowd.webhooks.paypal_payouts import on_payouts_batch
from escrowd.webhooks.verification import (
    PAYPAL_AUTHORIZATION,
    PAYPAL_CAPTURE,
    PAYPAL_REFUND,
    EventMismatch,
    truth,
)

log = get_logger(__name__)

#: Capture statuses that mean the money was taken (refunds later do not undo that).
_TAKEN = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")
_DENIED = ("DECLINED", "FAILED")
_GONE = ("VOIDED", "EXPIRED")
#: An authorization that holds the payer's money, none of it captured yet.
_HOLDING = ("CREATED",)


async def note_only(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    log.info(
        "paypal_event_not_acted_on",
        reason="nothing to act on",
        event_id=event.id,
        type=event.provider_type,
        object_id=event.object_id,
    )


def _ours(event: ProviderEvent) -> bool:
    return event.provider == PROVIDER and event.object_id is not None


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


# --- finding the escrow ---------------------------------------------------------------------


def _claimed_order(event: ProviderEvent) -> str | None:
    """The order the event's capture or authorization says it belongs to (a claim)."""
    extra = event.data.get("supplementary_data")
    related = extra.get("related_ids") if isinstance(extra, dict) else None
    order = related.get("order_id") if isinstance(related, dict) else None
    return order if isinstance(order, str) and order else None


async def _escrow_by(session: AsyncSession, **where: str) -> Escrow | None:
    stmt = select(Escrow).where(Escrow.provider == PROVIDER).with_for_update()
    for column, value in where.items():
        stmt = stmt.where(getattr(Escrow, column) == value)
    return (await session.scalars(stmt)).one_or_none()


async def _escrow_of(
    session: AsyncSession, event: ProviderEvent, object_type: str, cls: type[Any]
) -> tuple[Escrow, Book] | None:
    """The escrow whose order the event's capture or authorization belongs to, locked.

    An event that names no order (PayPal's resource lacks ``supplementary_data``) is looked up
    by PayPal's own object instead; a capture may also be found by the escrow's charge."""
    assert event.object_id is not None
    order = _claimed_order(event)
    if order is None:
        order = mapping.order_of(truth(event, object_type, event.object_id, cls))
    escrow = await _escrow_by(session, payment_id=order) if order else None
    if escrow is None and object_type == PAYPAL_CAPTURE:
        escrow = await _escrow_by(session, charge_id=event.object_id)
    if escrow is None:
        return None
    return escrow, Book(escrow, await store.open_ops(session, escrow.id))


def _payment_in_flight(book: Book) -> bool:
    return any(op.kind in (OpKind.fund.value, OpKind.capture.value) for op in book.open_ops)


# --- checks of PayPal's objects against escrowd's record ----------------------------------


def _recorded(escrow: Escrow, expected: checks.ExpectedPayment) -> dict[str, Any]:
    return {**expected.as_dict(), "charge": escrow.charge_id}


def _object_view(obj: shapes.Capture | shapes.Authorization | shapes.Refund) -> dict[str, Any]:
    money = from_money(obj.amount)
    view: dict[str, Any] = {
        "id": obj.id,
        "status": obj.status,
        "amount": money.amount,
        "currency": money.currency,
    }
    if not isinstance(obj, shapes.Refund):
        view["order"] = mapping.order_of(obj)
    return view


def _claim_view(event: ProviderEvent) -> dict[str, Any]:
    claim: dict[str, Any] = {"id": event.object_id, "status": event.data.get("status")}
    amount = event.data.get("amount")
    if isinstance(amount, dict):
        claim["amount"] = amount.get("value")
        claim["currency"] = amount.get("currency_code")
    order = _claimed_order(event)
    if order is not None:
        claim["order"] = order
    return claim


def _object_matches(
    event: ProviderEvent,
    obj: shapes.Capture | shapes.Authorization,
    escrow: Escrow,
    expected: checks.ExpectedPayment,
    *,
    statuses: tuple[str, ...],
) -> None:
    """PayPal's capture or authorization is the escrow's, in the state the event claims."""
    differences: list[str] = []
    order = mapping.order_of(obj)
    if order != escrow.payment_id:
        differences.append(f"it belongs to order {order}, not the escrow's {escrow.payment_id}")
    money = from_money(obj.amount)
    if money.currency != escrow.currency:
        differences.append(f"its currency is {money.currency}, not {escrow.currency}")
    if money.amount > expected.amount:
        differences.append(f"its amount {money.amount} exceeds the {expected.amount} charged")
    if obj.status not in statuses:
        differences.append(f"the event says {event.provider_type}, PayPal that it is {obj.status}")
    if differences:
        raise EventMismatch(
            f"PayPal's {event.object_type} {obj.id} does not match escrow {escrow.id}: "
            + "; ".join(differences)
            + ". Nothing was moved.",
            claimed=_claim_view(event),
            provider=_object_view(obj),
            recorded=_recorded(escrow, expected),
        )


def _payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "status": payment.status.value,
        "amount": payment.amount,
        "currency": payment.currency,
        "capture_method": payment.capture_method,
        "escrow_id": payment.transfer_group,
    }


def _order_matches(
    event: ProviderEvent, payment: Payment, escrow: Escrow, expected: checks.ExpectedPayment
) -> None:
    """The escrow's order at PayPal is the one escrowd made for it: it names the escrow
    (``custom_id``), and has its currency, amount and intent."""
    differences = checks.payment_differences(payment, expected, names=payment.transfer_group)
    if differences:
        raise EventMismatch(
            f"PayPal order {payment.id} does not match escrow {escrow.id}: "
            + "; ".join(differences)
            + ". Nothing was moved.",
            claimed=_claim_view(event),
            provider=_payment_view(payment),
            recorded=_recorded(escrow, expected),
        )


# --- captures -------------------------------------------------------------------------------


async def on_capture(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    """``PAYMENT.CAPTURE.COMPLETED`` / ``.DENIED``."""
    if not _ours(event) or event.object_type != "capture":
        return
    assert event.object_id is not None
    found = await _escrow_of(session, event, PAYPAL_CAPTURE, shapes.Capture)
    if found is None:
        await note_only(session, event, clock)
        return
    escrow, book = found
    completed = event.kind is EventKind.paypal_capture_completed
    if completed:
        if escrow.ledger_funded and escrow.provider_fee is not None:
            return  # applied already (escrowd's own capture, or this event before)
        if not escrow.ledger_funded and State(escrow.status) not in (
            State.requires_payment,
            State.requires_action,
            State.authorized,
        ):
            return  # closed meanwhile: the void job refunds a late capture
    elif apply_event(escrow.status, Action.payment_failed, context=book.context()) is None:
        return  # the escrow moved on (held, or failed already)
    if _payment_in_flight(book):
        # escrowd's own fund or capture is at PayPal: its answer (or the janitor) decides.
        raise RuntimeError(f"escrow {escrow.id} has a payment call in flight; retry the event")
    expected = await checks.expected_payment(session, escrow)
    capture = truth(event, PAYPAL_CAPTURE, event.object_id, shapes.Capture)
    _object_matches(event, capture, escrow, expected, statuses=_TAKEN if completed else _DENIED)
    assert escrow.payment_id is not None
    payment = truth(event, "payment_intent", escrow.payment_id, Payment)
    _order_matches(event, payment, escrow, expected)
    if completed and payment.status is not PaymentStatus.succeeded:
        raise EventMismatch(
            f"PayPal's capture {capture.id} completed, yet its order {payment.id} is "
            f"{payment.status.value}. Nothing was moved.",
            claimed=_claim_view(event),
            provider=_payment_view(payment),
            recorded=_recorded(escrow, expected),
        )
    fee = mapping.charge_from_capture(capture).fee if completed else None
    await apply_payment(Unit(session, clock), book, payment, fee=fee, event_created=event.created)


# --- authorizations -------------------------------------------------------------------------


async def _authorization_escrow(
    session: AsyncSession, event: ProviderEvent, clock: Clock
) -> tuple[Escrow, Book, str] | None:
    """The escrow an authorization event is about, locked, and the authorization's id; None
    (the event noted only) for an event that is not escrowd's or names no escrow's order."""
    if not _ours(event) or event.object_type != "authorization" or event.object_id is None:
        return None
    found = await _escrow_of(session, event, PAYPAL_AUTHORIZATION, shapes.Authorization)
    if found is None:
        await note_only(session, event, clock)
        return None
    return (*found, event.object_id)


async def on_authorization_created(
    session: AsyncSession, event: ProviderEvent, clock: Clock
) -> None:
    """``PAYMENT.AUTHORIZATION.CREATED``: an authorization escrowd has not recorded (the payer
    approved, PayPal authorized, but escrowd's confirm call failed or its process died before
    storing the answer) is recorded once, as the payer's own fund call would have."""
    found = await _authorization_escrow(session, event, clock)
    if found is None:
        return
    escrow, book, auth_id = found
    if apply_event(escrow.status, Action.authorize, context=book.context()) is None:
        return  # recorded already (escrowd's own confirm, or this event before), or moved on
    if _payment_in_flight(book):
        # escrowd's own confirm is at PayPal: its answer (or the janitor) records it.
        raise RuntimeError(f"escrow {escrow.id} has a payment call in flight; retry the event")
    expected = await checks.expected_payment(session, escrow)
    auth = truth(event, PAYPAL_AUTHORIZATION, auth_id, shapes.Authorization)
    _object_matches(event, auth, escrow, expected, statuses=_HOLDING)
    assert escrow.payment_id is not None
    payment = truth(event, "payment_intent", escrow.payment_id, Payment)
    _order_matches(event, payment, escrow, expected)
    money = from_money(auth.amount)
    if money.amount != expected.amount or payment.status is not PaymentStatus.requires_capture:
        raise EventMismatch(
            f"PayPal's authorization {auth.id} holds {money.amount} {money.currency} and its "
            f"order {payment.id} is {payment.status.value}; escrow {escrow.id} needs "
            f"{expected.amount} authorized. Nothing was moved.",
            claimed=_claim_view(event),
            provider={**_object_view(auth), "order_status": payment.status.value},
            recorded=_recorded(escrow, expected),
        )
    await apply_payment(Unit(session, clock), book, payment, event_created=event.created)


async def on_authorization_voided(
    session: AsyncSession, event: ProviderEvent, clock: Clock
) -> None:
    """``PAYMENT.AUTHORIZATION.VOIDED``: an escrow not yet holding its money expires."""
    found = await _authorization_escrow(session, event, clock)
    if found is None:
        return
    escrow, book, auth_id = found
    if apply_event(escrow.status, Action.expire, context=book.context()) is None:
        return  # escrowd voided it itself (cancelled), or the escrow moved on
    if _payment_in_flight(book):
        raise RuntimeError(f"escrow {escrow.id} has a payment call in flight; retry the event")
    expected = await checks.expected_payment(session, escrow)
    auth = truth(event, PAYPAL_AUTHORIZATION, auth_id, shapes.Authorization)
    _object_matches(event, auth, escrow, expected, statuses=_GONE)
    assert escrow.payment_id is not None
    payment = truth(event, "payment_intent", escrow.payment_id, Payment)
    _order_matches(event, payment, escrow, expected)
    checks.authorization_gone(payment, expected)
    await close(Unit(session, clock), book, Action.expire, via_event=True)


# --- refunds made outside escrowd ---------------------------------------------------------


async def on_capture_refunded(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    """``PAYMENT.CAPTURE.REFUNDED`` (resource: the refund)."""
    if not _ours(event) or event.object_type != "refund":
        return
    refund_id = event.object_id
    assert refund_id is not None
    if await outside_refund.booked(session, refund_id):
        return  # escrowd's own refund (or one booked before)
    links = event.data.get("links")
    claimed_capture = capture_of_refund(
        [shapes.Link.model_validate(x) for x in links if isinstance(x, dict)]
        if isinstance(links, list)
        else []
    )
    if claimed_capture is None:
        # The event names no capture: PayPal's refund says which it is.
        claimed_capture = capture_of_refund(
            truth(event, PAYPAL_REFUND, refund_id, shapes.Refund).links
        )
    escrow = await _escrow_by(session, charge_id=claimed_capture) if claimed_capture else None
    if escrow is None:
        await note_only(session, event, clock)
        return
    book = Book(escrow, await store.open_ops(session, escrow.id))
    if any(op.kind == OpKind.refund.value for op in book.open_ops):
        # escrowd's own refund is at PayPal and its answer is not stored yet: it may be this.
        raise RuntimeError(f"escrow {escrow.id} has a refund in flight; retry the event")
    expected = await checks.expected_payment(session, escrow)
    found = truth(event, PAYPAL_REFUND, refund_id, shapes.Refund)
    money = from_money(found.amount)
    differences: list[str] = []
    capture = capture_of_refund(found.links)
    if capture != escrow.charge_id:
        differences.append(f"it refunds capture {capture}, not the escrow's {escrow.charge_id}")
    if money.currency != escrow.currency:
        differences.append(f"its currency is {money.currency}, not {escrow.currency}")
    if found.status != "COMPLETED":
        differences.append(f"PayPal says it is {found.status}, not completed")
    if differences:
        raise EventMismatch(
            f"PayPal's refund {found.id} does not match escrow {escrow.id}: "
            + "; ".join(differences)
            + ". Nothing was booked.",
            claimed={**_claim_view(event), "capture": claimed_capture},
            provider={**_object_view(found), "capture": capture},
            recorded=_recorded(escrow, expected),
        )
    await enqueue(
        session,
        clock=clock,
        kind=outside_refund.BOOK_OUTSIDE_REFUND_JOB,
        payload={"escrow_id": escrow.id, "refund": found.id},
        dedupe_key=outside_refund.dedupe_key(found.id),
    )


#: The handler of each kind escrowd acts on; every other PayPal kind is noted only.
ACTING: dict[EventKind, Handler] = {
    EventKind.paypal_order_approved: on_order_approved,
    EventKind.paypal_capture_completed: on_capture,
    EventKind.paypal_capture_denied: on_capture,
    EventKind.paypal_authorization_created: on_authorization_created,
    EventKind.paypal_authorization_voided: on_authorization_voided,
    EventKind.paypal_capture_refunded: on_capture_refunded,
    EventKind.paypal_payouts_item: on_payout,
    EventKind.paypal_payouts_batch: on_payouts_batch,
}


def register(registry: HandlerRegistry) -> None:
    for kind in {*KINDS.values(), *PREFIXES.values()}:
        registry.register(kind, ACTING.get(kind, note_only))
    # Disputes are followed, not noted (a buyer's dispute freezes the escrow it disputes).
    from escrowd.webhooks import paypal_disputes

    for kind in (EventKind.paypal_dispute_created, EventKind.paypal_dispute_resolved):
        registry.unregister(kind, note_only)
    paypal_disputes.register(registry)
    # A reversal is booked once, unless a followed dispute owns it.
    from escrowd.webhooks import paypal_reversals

    registry.unregister(EventKind.paypal_capture_reversed, note_only)
    registry.register(EventKind.paypal_capture_reversed, paypal_reversals.on_capture_reversed)
