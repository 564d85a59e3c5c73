"""The provider's events about escrows' payments and transfers (inbound webhooks).

``register`` adds the handlers to the process's registry (``escrowd.bootstrap``). Each runs in
the transaction that marks the stored event processed, under the escrow's row lock:

- ``payment.succeeded`` / ``payment.amount_capturable_updated`` / ``payment.requires_action``
  / ``payment.failed``: the PaymentIntent's status, through ``payments.apply_payment`` (the
  domain's ``apply_event``: a stale event changes nothing);
- ``payment.canceled`` and ``charge.expired``: the authorization is gone — an escrow still
  waiting for its money expires;
- ``transfer.reversed``: money of a release came back from the payee (its net); idempotent
  by the transfer's cumulative ``amount_reversed``.

What a handler writes is dated by escrowd's clock; the provider's event time only decides
whether an event is stale. Events about objects escrowd did not make are ignored.

An event is a hint: a handler that would move money or state acts on the provider's own object
(``webhooks.verification.truth``), after ``event_checks`` found it to be the platform's and to
match what escrowd recorded. A repeated or stale event is dropped before any provider call.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.escrows import event_checks as checks
from escrowd.escrows import ledgering, parts, store
from escrowd.escrows.book import Book
from escrowd.escrows.models import Escrow, Operation, OpKind
from escrowd.escrows.payments import Unit, apply_payment, close, outcome_of, pending_change
from escrowd.escrows.states import Action, apply_event
from escrowd.events import EventType
from escrowd.logging import get_logger
from escrowd.providers.stripe import events as stripe_events
from escrowd.providers.stripe import mapping as stripe_mapping
from escrowd.providers.types import EventKind, Payment, ProviderEvent, Transfer
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.verification import truth

__all__ = ["on_authorization_gone", "on_payment", "on_transfer_reversed", "register"]

log = get_logger(__name__)


async def _by_payment(session: AsyncSession, payment_id: str) -> Escrow | None:
    stmt = select(Escrow).where(Escrow.payment_id == payment_id).with_for_update()
    return (await session.scalars(stmt)).one_or_none()


def _ours(event: ProviderEvent, object_type: str) -> bool:
    return (
        event.provider == stripe_events.PROVIDER
        and event.object_type == object_type
        and event.object_id is not None
    )


async def on_payment(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if not _ours(event, "payment_intent"):
        return
    claim = stripe_mapping.payment(event.data)
    escrow = await _by_payment(session, claim.id)
    if escrow is None:
        # The fund operation's answer may not be stored yet (or was lost in a crash): the
        # PaymentIntent names its escrow. Only an outcome that moved on is adopted.
        escrow_id = claim.metadata.get("escrow_id")
        if not escrow_id or outcome_of(claim) not in (
            "authorized",
            "captured",
            "requires_action",
        ):
            return
        escrow = await session.get(Escrow, escrow_id, with_for_update=True)
        if escrow is None or escrow.payment_id not in (None, claim.id):
            if escrow is not None:
                log.warning("escrow_payment_unexpected", escrow=escrow.id, payment=claim.id)
            return
    book = Book(escrow, await store.open_ops(session, escrow.id))
    if not pending_change(book, claim, event_created=event.created):
        return  # repeated or stale: nothing would move, so nothing to verify
    expected = await checks.expected_payment(session, escrow)
    checks.platform_event(event, expected)
    payment = truth(event, "payment_intent", claim.id, Payment)
    checks.payment_matches(claim, payment, expected)
    unit = Unit(session, clock)
    await apply_payment(unit, book, payment, event_created=event.created)


async def on_authorization_gone(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    """``payment.canceled`` / ``charge.expired``: an escrow not yet holding its money expires."""
    if _ours(event, "payment_intent"):
        payment_id = event.object_id
    elif _ours(event, "charge"):
        payment_id = stripe_mapping.ref(event.data.get("payment_intent"))
    else:
        return
    if payment_id is None:
        return
    escrow = await _by_payment(session, payment_id)
    if escrow is None:
        return
    book = Book(escrow, await store.open_ops(session, escrow.id))
    if apply_event(escrow.status, Action.expire, context=book.context()) is None:
        return  # the escrow moved on (or had already expired): nothing to verify
    if book.open_ops:
        # A capture or fund of ours is in flight: its settlement (or the janitor) decides.
        raise RuntimeError(f"escrow {escrow.id} has an operation in flight; retry the event")
    expected = await checks.expected_payment(session, escrow)
    checks.platform_event(event, expected)
    payment = truth(event, "payment_intent", payment_id, Payment)
    checks.authorization_gone(payment, expected)
    await close(Unit(session, clock), book, Action.expire, via_event=True)


async def on_transfer_reversed(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if not _ours(event, "transfer"):
        return
    claim = stripe_mapping.transfer(event.data)
    op = (
        await session.scalars(
            select(Operation).where(
                Operation.provider_object_id == claim.id,
                Operation.kind == OpKind.release.value,
            )
        )
    ).one_or_none()
    if op is None:
        return
    book = await store.book_of(session, op.escrow_id, lock=True)
    await session.refresh(op)
    if claim.amount_reversed - op.reversed <= 0:
        return  # seen already (events repeat and arrive out of order)
    if any(
        o.kind == OpKind.clawback.value
        and any(r["release"] == op.key for r in o.params.get("reversals", []))
        for o in book.open_ops
    ):
        # Likely our own clawback's reversal: its settlement books it; then this is seen.
        raise RuntimeError(f"a clawback of {op.key} is in flight; retry the event")
    checks.platform_event(event, checks.recorded_transfer(op, book.escrow))
    transfer = truth(event, "transfer", claim.id, Transfer)
    checks.transfer_matches(claim, transfer, op, book.escrow)
    delta = transfer.amount_reversed - op.reversed
    if delta <= 0:
        return  # the provider has no more reversed than escrowd already booked
    e = book.escrow
    slot = book.slot(op.allocation_id or "")
    assert slot is not None, op.key
    new = apply_event(e.status, Action.reverse, context=book.context(reverse=delta))
    slot.allocation.released = parts.dump(parts.with_net_moved(slot.released, delta))
    slot.allocation.updated_at = max(slot.allocation.updated_at, event.created)
    e.amount_released -= delta
    e.ledger_released -= delta
    e.net_returned += delta
    op.reversed = transfer.amount_reversed
    if new is not None:
        e.status = new.value
    # Taken back from where the net is: still pending (a payout delay), else available.
    from_pending = await ledgering.net_is_pending(session, op.key)
    await ledgering.apply(
        session,
        clock=clock,
        currency=e.currency,
        reference=e.id,
        moves=[
            ledgering.reversal(
                op.key,
                e.id,
                op.params["payee"],
                transfer.amount_reversed,
                delta,
                from_pending=from_pending,
            )
        ],
    )
    store.touch(e, clock)
    fresh = store.refreshed(book)
    await store.emit_allocation(
        session,
        clock=clock,
        type=EventType.allocation_reversed,
        book=fresh,
        allocation_id=op.allocation_id or "",
    )
    # The money is back in the escrow: it is partly released again.
    await store.emit(session, clock=clock, type=EventType.escrow_partially_released, book=fresh)


def register(registry: HandlerRegistry) -> None:
    for kind in (
        EventKind.payment_succeeded,
        EventKind.payment_capturable,
        EventKind.payment_requires_action,
        EventKind.payment_failed,
    ):
        registry.register(kind, on_payment)
    registry.register(EventKind.payment_canceled, on_authorization_gone)
    registry.register(EventKind.charge_expired, on_authorization_gone)
    registry.register(EventKind.transfer_reversed, on_transfer_reversed)
