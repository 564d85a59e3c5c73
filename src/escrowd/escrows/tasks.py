"""Outbox job handlers for escrows (``register`` adds them to the process's registry).

- ``escrow.expire`` (``escrow_id``): expires an escrow whose payment window or
  authorization ran out;
- ``escrow.payment_window_reminder`` (``escrow_id``): writes ``escrow.payment_window_expiring``
  for an escrow still unpaid shortly before ``expires_at``, once per escrow;
- ``escrow.authorization_deadline`` (``escrow_id``): before ``capture_before``, captures, or
  writes ``escrow.authorization_expiring`` (per ``on_authorization_deadline``);
- ``escrow.auto_release`` (``escrow_id``): releases what is left when the inspection period
  lapses undisputed;
- ``escrow.void_payment`` (``escrow_id``, ``reason``): voids a cancelled or expired escrow's
  payment at the provider (refunds it if it was captured after all);
- ``escrow.sync_payment`` (``escrow_id``): reads the payment back (``capture_before``, the
  charge's fee) and applies it;
- ``escrow.confirm_paypal`` (``escrow_id``, ``order``): confirms a PayPal order PayPal says
  the payer approved;
- ``escrow.book_outside_refund`` (``escrow_id``, ``refund``): books once a refund made at the
  provider outside escrowd, or opens an incident (``escrows.outside_refund``);
- ``escrow.settle_operation`` (``key``): the janitor — repeats an unsettled provider call
  with its key and settles it.

Every handler re-reads the escrow and does nothing when the work no longer applies, so a
repeated or late job is harmless. Raising retries with backoff.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.accounts.domain import PayeeNotReadyError
from escrowd.errors import EscrowdError
from escrowd.escrows import funding, operations, outside_refund, release, store
from escrowd.escrows.payments import (
    SYNC_JOB,
    VOID_JOB,
    Unit,
    authorization_deadline,
    close,
)
from escrowd.escrows.states import RULES, Action, State
from escrowd.events import EventType
from escrowd.events.models import Event as EventRow
from escrowd.jobs import JobContext, PermanentJobError, Registry
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.types import CancelRequest, PaymentStatus, RefundRequest

EXPIRE_JOB = "escrow.expire"
REMIND_JOB = "escrow.payment_window_reminder"
DEADLINE_JOB = "escrow.authorization_deadline"
AUTO_RELEASE_JOB = "escrow.auto_release"
SETTLE_JOB = "escrow.settle_operation"
#: Confirm a PayPal escrow's order after PayPal reported it approved (webhook hint).
CONFIRM_PAYPAL_JOB = "escrow.confirm_paypal"
KINDS = (
    EXPIRE_JOB,
    REMIND_JOB,
    DEADLINE_JOB,
    AUTO_RELEASE_JOB,
    VOID_JOB,
    SYNC_JOB,
    SETTLE_JOB,
    CONFIRM_PAYPAL_JOB,
    outside_refund.BOOK_OUTSIDE_REFUND_JOB,
)

CancelReason = Literal["requested_by_customer", "abandoned", "duplicate", "fraudulent"]
_WAITING = (State.requires_payment.value, State.requires_action.value)


class RetryLaterError(Exception):
    """The work cannot be done yet (an operation in flight); the job runs again later."""


def _escrow_id(payload: dict[str, Any]) -> str:
    value = payload.get("escrow_id")
    if not isinstance(value, str):
        raise PermanentJobError(f"payload has no escrow_id: {payload!r}")
    return value


async def expire(ctx: JobContext, payload: dict[str, Any]) -> None:
    container, now = ctx.container, ctx.now()
    async with container.db.transaction() as s:
        book = await store.book_of(s, _escrow_id(payload), lock=True)
        e = book.escrow
        window = e.status in _WAITING and e.expires_at is not None and e.expires_at <= now
        deadline = authorization_deadline(e)
        lapsed = e.status == State.authorized and deadline is not None and deadline <= now
        if not (window or lapsed):
            return
        if book.open_ops:
            raise RetryLaterError(f"escrow {e.id} has an operation in flight")
        await close(Unit(s, container.clock), book, Action.expire)


async def reminded(session: AsyncSession, escrow_id: str) -> bool:
    """Whether the escrow's payment-window reminder has been written (the events table is
    the record: there is no column to keep in step with it)."""
    stmt = select(EventRow.id).where(
        EventRow.object_id == escrow_id,
        EventRow.type == EventType.escrow_payment_window_expiring.value,
    )
    return (await session.scalars(stmt.limit(1))).first() is not None


async def remind_payment_window(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Write ``escrow.payment_window_expiring`` once. The escrow's row lock (BEGIN IMMEDIATE on
    SQLite) orders two runs for one escrow — a repeated job, a second worker — and the second
    then finds the first's event: a job retried after its event committed writes nothing."""
    container, now = ctx.container, ctx.now()
    async with container.db.transaction() as s:
        book = await store.book_of(s, _escrow_id(payload), lock=True)
        e = book.escrow
        if e.status not in _WAITING or e.expires_at is None or e.expires_at <= now:
            return  # paid, cancelled or expired meanwhile: no reminder
        if await reminded(s, e.id):
            return
        await store.emit(
            s, clock=container.clock, type=EventType.escrow_payment_window_expiring, book=book
        )


async def before_authorization_ends(ctx: JobContext, payload: dict[str, Any]) -> None:
    container, escrow_id = ctx.container, _escrow_id(payload)
    async with container.db.transaction() as s:
        book = await store.book_of(s, escrow_id)
        if book.escrow.status != State.authorized:
            return
        if book.escrow.on_authorization_deadline == "notify":
            await store.emit(
                s,
                clock=container.clock,
                type=EventType.escrow_authorization_expiring,
                book=book,
            )
            return
    try:
        await funding.capture(container, escrow_id=escrow_id, actor=None)
    except EscrowdError as exc:
        if exc.code in ("escrow_state_conflict", "escrow_operation_in_progress"):
            return  # captured, cancelled or expired meanwhile; an operation settles itself
        raise


async def _ready(session: AsyncSession, payee: str | None, provider: PaymentProvider) -> bool:
    if payee is None:
        return False
    if not release.by_transfer(provider):
        return True  # no connected account to check: the payee's payout checks its email
    try:
        await accounts.require_verified_payee(session, party_id=payee, provider=provider.name)
    except PayeeNotReadyError:
        return False
    return True


async def auto_release(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Release what is free to every payee that can be paid; retry for the others (an open
    slot, a payee still onboarding) until they can, or an incident tells an admin."""
    container, escrow_id = ctx.container, _escrow_id(payload)
    items: list[tuple[str, int | None]] = []
    waiting: list[str] = []
    async with container.db.transaction() as s:
        book = await store.book_of(s, escrow_id)
        e = book.escrow
        due = e.inspection_ends_at is not None and e.inspection_ends_at <= ctx.now()
        if not due or State(e.status) not in RULES[Action.release].sources:
            return
        if book.open_ops:
            raise RetryLaterError(f"escrow {e.id} has an operation in flight")
        for slot in book.slots:
            if slot.free.gross == 0:
                continue
            provider = container.provider_named(e.provider)
            if await _ready(s, slot.allocation.payee_id, provider):
                items.append((slot.allocation.id, None))
            else:
                waiting.append(slot.allocation.id)
    if items:
        await release.release(container, escrow_id=escrow_id, actor=None, items=items)
    if waiting:
        raise RetryLaterError(f"allocations whose payee cannot be paid yet: {', '.join(waiting)}")


async def void_payment(ctx: JobContext, payload: dict[str, Any]) -> None:
    container, escrow_id = ctx.container, _escrow_id(payload)
    async with container.db.transaction() as s:
        e = await store.load(s, escrow_id)
        payment_id, status, name = e.payment_id, e.status, e.provider
    provider = container.provider_named(name)
    if payment_id is None or status not in (State.cancelled.value, State.expired.value):
        return
    reason: CancelReason = (
        "requested_by_customer" if status == State.cancelled.value else "abandoned"
    )
    for choice in get_args(CancelReason):
        if payload.get("reason") == choice:
            reason = choice
    try:
        await provider.cancel_payment(
            CancelRequest(idempotency_key=f"{escrow_id}:void", payment_id=payment_id, reason=reason)
        )
        return
    except ProviderError as exc:
        if exc.kind is not ProviderErrorKind.invalid_request:
            raise
    payment = await provider.retrieve_payment(payment_id)
    if payment.status is PaymentStatus.canceled:
        return
    if payment.status is PaymentStatus.succeeded:
        # Paid after the escrow was closed (3-D Secure finished late): give it back.
        await provider.create_refund(
            RefundRequest(
                idempotency_key=f"{escrow_id}:void:refund",
                payment_id=payment_id,
                reason="requested_by_customer",
                metadata={"escrow_id": escrow_id},
            )
        )
        return
    raise PermanentJobError(f"payment {payment_id} is {payment.status.value}; cannot void it")


async def sync_payment(ctx: JobContext, payload: dict[str, Any]) -> None:
    await funding.read_back(ctx.container, _escrow_id(payload))


async def confirm_paypal(ctx: JobContext, payload: dict[str, Any]) -> None:
    """After PayPal's ``CHECKOUT.ORDER.APPROVED``: confirm the escrow's order if PayPal itself
    says the payer approved it (the event is only a hint), as the payer's fund call would."""
    container, escrow_id = ctx.container, _escrow_id(payload)
    async with container.db.transaction() as s:
        e = await store.load(s, escrow_id)
        payment_id, status, name = e.payment_id, e.status, e.provider
    if payment_id is None or payment_id != payload.get("order"):
        return  # a newer order replaced it
    if status != State.requires_action.value:
        return  # confirmed already (the payer's own call), or the escrow moved on
    payment = await container.provider_named(name).retrieve_payment(payment_id)
    if payment.status is not PaymentStatus.requires_confirmation:
        return
    try:
        await funding.fund(container, escrow_id=escrow_id, actor=None)
    except EscrowdError as exc:
        if exc.code in ("escrow_state_conflict", "escrow_operation_in_progress"):
            return  # the payer's own confirm got there first
        raise


async def settle_operation(ctx: JobContext, payload: dict[str, Any]) -> None:
    key = payload.get("key")
    if not isinstance(key, str):
        raise PermanentJobError(f"payload has no key: {payload!r}")
    if not await operations.settle_stale(ctx.container, key):
        raise RetryLaterError(f"the outcome of {key} is still unknown")


__all__ = ["KINDS", "RetryLaterError"]


def register(jobs: Registry) -> None:
    jobs.add_handler(EXPIRE_JOB, expire)
    jobs.add_handler(REMIND_JOB, remind_payment_window)
    jobs.add_handler(DEADLINE_JOB, before_authorization_ends)
    jobs.add_handler(AUTO_RELEASE_JOB, auto_release)
    jobs.add_handler(VOID_JOB, void_payment)
    jobs.add_handler(SYNC_JOB, sync_payment)
    jobs.add_handler(SETTLE_JOB, settle_operation)
    jobs.add_handler(CONFIRM_PAYPAL_JOB, confirm_paypal)
    jobs.add_handler(outside_refund.BOOK_OUTSIDE_REFUND_JOB, outside_refund.book_outside_refund)
