"""Dispute use cases: open, read, add evidence, review, resolve, close; and resolution time.

Every write locks the disputed escrow's row first (``escrows.store``), then reads the dispute:
a dispute only changes under its escrow's lock, so a resolution and a release, or two
resolutions, happen one after the other.

- **Freezing.** Opening a dispute moves the escrow to ``disputed`` (the state machine's
  ``dispute``); release, refund and capture are then refused with 409 ``escrow_state_conflict``
  ("… It is frozen until the dispute is resolved."). A dispute on one allocation freezes the
  whole escrow too: a prorated refund or a release of "everything" would otherwise take from it.
- **Resolving** unfreezes the escrow (``resolve``) and, in the same transaction, records the
  release and the refund with the escrow's own verbs (``release.record``, ``refund.record``),
  so the provider calls, their idempotency keys, the ledger and the janitor's retries are
  exactly those of ``POST /v1/escrows/{id}/release`` and ``/refund``. The calls are made after
  the commit, then settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.clock import Clock, unix
from escrowd.disputes import domain
from escrowd.disputes.domain import DisputeKind, DisputeStatus, Outcome
from escrowd.disputes.models import Dispute
from escrowd.disputes.schemas import dispute_json
from escrowd.errors import (
    ConflictError,
    EscrowdError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from escrowd.escrows import operations, refund, release, store
from escrowd.escrows.book import Book, Slot
from escrowd.escrows.models import Allocation, Escrow, Operation
from escrowd.escrows.states import Action, State, transition
from escrowd.events import EventType
from escrowd.events import service as events
from escrowd.fees.domain import prorate
from escrowd.ids import Prefix, new_id
from escrowd.users.organizations import service as organizations

OPEN_STATUSES = tuple(s.value for s in domain.OPEN)


def not_found(dispute_id: str) -> NotFoundError:
    return NotFoundError(f"No such dispute: '{dispute_id}'.", code="resource_missing", param="id")


async def emit(session: AsyncSession, *, clock: Clock, type: EventType, dispute: Dispute) -> None:
    """Write ``type`` with the dispute as it is now, for admins and the escrow's parties."""
    escrow = await session.get(Escrow, dispute.escrow_id)
    audience: list[str | None] = []
    if escrow is not None:
        audience = [escrow.payer_id, *(a.payee_id for a in escrow.allocations)]
    await events.record(
        session,
        clock=clock,
        type=type,
        object_id=dispute.id,
        data=dispute_json(dispute),
        audience=audience,
    )


async def open_disputes(session: AsyncSession, escrow_id: str) -> list[Dispute]:
    stmt = select(Dispute).where(Dispute.escrow_id == escrow_id, Dispute.status.in_(OPEN_STATUSES))
    return list((await session.scalars(stmt.order_by(Dispute.opened_at, Dispute.id))).all())


def unfreeze(book: Book, still_open: Sequence[Dispute]) -> None:
    """Back to the state the escrow's amounts say, unless another dispute keeps it frozen."""
    e = book.escrow
    if e.status == State.disputed and not still_open:
        e.status = transition(e.status, Action.resolve, context=book.context()).value


# --- open ---------------------------------------------------------------------------------------


async def open_dispute(
    container: Container,
    *,
    actor: Principal,
    escrow_id: str,
    allocation_id: str | None,
    reason: str,
    description: str | None,
    evidence: Sequence[str],
) -> dict[str, Any]:
    clock = container.clock
    async with container.db.transaction() as s:
        book = await store.book_of(s, escrow_id, lock=True)
        e = book.escrow
        role = await store.role_of(s, actor, e)
        if role == "none":
            raise store.not_found(escrow_id)
        slot: Slot | None = None
        if allocation_id is not None:
            slot = book.slot(allocation_id)
            if slot is None:
                raise InvalidRequestError(
                    f"'{allocation_id}' is not one of the allocations of escrow {e.id}.",
                    code="allocation_invalid",
                    param="allocation",
                )
            if role == "payee" and slot.allocation.payee_id not in await organizations.parties_of(
                s, actor.user_id or ""
            ):
                raise PermissionDeniedError(
                    f"allocation {allocation_id} is another payee's: a payee disputes the "
                    "escrow or their own allocation.",
                    code="allocation_not_yours",
                    param="allocation",
                )
        already = await open_disputes(s, e.id)
        if already:
            raise ConflictError(
                f"escrow {e.id} already has an open dispute ({already[0].id}); add evidence "
                "to it instead.",
                code="dispute_already_open",
            )
        store.check_allows(book, Action.dispute)
        amount = slot.free.gross if slot is not None else book.free
        if amount == 0:
            raise ConflictError(
                f"nothing in {'allocation ' + allocation_id if allocation_id else 'escrow ' + e.id}"
                " is left to dispute: its money is released, refunded or being moved.",
                code="nothing_to_dispute",
            )
        e.status = transition(e.status, Action.dispute).value
        store.touch(e, clock)
        now = clock.now()
        author = actor.user_id
        dispute = Dispute(
            id=new_id(Prefix.dispute),
            kind=DisputeKind.internal.value,
            escrow_id=e.id,
            allocation_id=allocation_id,
            opened_by=author,
            status=DisputeStatus.open.value,
            reason=reason,
            description=description,
            evidence=[{"author": author, "note": n, "created": unix(now)} for n in evidence],
            currency=e.currency,
            amount=amount,
            amount_released=0,
            amount_refunded=0,
            provider_withdrawn=0,
            provider_reinstated=0,
            provider_fee=0,
            opened_at=now,
            updated_at=now,
        )
        s.add(dispute)
        await store.emit(s, clock=clock, type=EventType.escrow_disputed, book=book)
        await emit(s, clock=clock, type=EventType.dispute_opened, dispute=dispute)
        return dispute_json(dispute)


# --- read ---------------------------------------------------------------------------------------


async def _parties(session: AsyncSession, actor: Principal) -> set[str]:
    return set(await organizations.parties_of(session, actor.user_id or ""))


async def get_visible(session: AsyncSession, *, actor: Principal, dispute_id: str) -> Dispute:
    """Admins see every dispute; the escrow's payer and payees theirs; others get 404."""
    dispute = await session.get(Dispute, dispute_id)
    if dispute is None:
        raise not_found(dispute_id)
    if not actor.is_admin:
        escrow = await session.get(Escrow, dispute.escrow_id)
        if escrow is None or await store.role_of(session, actor, escrow) == "none":
            raise not_found(dispute_id)
    return dispute


def visible(
    *,
    actor: Principal,
    parties: set[str],
    status: str | None = None,
    escrow: str | None = None,
    kind: str | None = None,
) -> Select[Dispute]:
    stmt = select(Dispute)
    if not actor.is_admin:
        as_payee = select(Allocation.escrow_id).where(Allocation.payee_id.in_(parties))
        as_payer = select(Escrow.id).where(Escrow.payer_id == (actor.user_id or ""))
        stmt = stmt.where(or_(Dispute.escrow_id.in_(as_payer), Dispute.escrow_id.in_(as_payee)))
    if status is not None:
        stmt = stmt.where(Dispute.status == status)
    if escrow is not None:
        stmt = stmt.where(Dispute.escrow_id == escrow)
    if kind is not None:
        stmt = stmt.where(Dispute.kind == kind)
    return stmt


async def list_query(
    session: AsyncSession,
    *,
    actor: Principal,
    status: str | None = None,
    escrow: str | None = None,
    kind: str | None = None,
) -> Select[Dispute]:
    parties = set() if actor.is_admin else await _parties(session, actor)
    return visible(actor=actor, parties=parties, status=status, escrow=escrow, kind=kind)


# --- changes under the escrow's lock ------------------------------------------------------------


async def _locked(session: AsyncSession, actor: Principal, dispute_id: str) -> tuple[Dispute, Book]:
    """The dispute (visible to ``actor``) and its escrow's book, the escrow's row locked."""
    dispute = await get_visible(session, actor=actor, dispute_id=dispute_id)
    book = await store.book_of(session, dispute.escrow_id, lock=True)
    await session.refresh(dispute)
    return dispute, book


def _admin(actor: Principal, what: str) -> None:
    if not actor.is_admin:
        raise PermissionDeniedError(
            f"Only an admin (or a platform API key) can {what} a dispute.",
            code="admin_required",
        )


def _internal(dispute: Dispute, what: str) -> None:
    if dispute.kind == DisputeKind.chargeback:
        raise ConflictError(
            f"dispute {dispute.id} is a chargeback: the card holder's bank decides it, and "
            f"escrowd follows the provider's dispute {dispute.provider_dispute_id}; it cannot "
            f"be {what} here.",
            code="dispute_is_chargeback",
        )


async def add_evidence(
    container: Container, *, actor: Principal, dispute_id: str, note: str
) -> dict[str, Any]:
    clock = container.clock
    async with container.db.transaction() as s:
        dispute, _ = await _locked(s, actor, dispute_id)
        domain.check_open(dispute.id, dispute.status, to="given evidence")
        now = clock.now()
        dispute.evidence = [
            *dispute.evidence,
            {"author": actor.user_id, "note": note, "created": unix(now)},
        ]
        dispute.updated_at = now
        await emit(s, clock=clock, type=EventType.dispute_evidence_added, dispute=dispute)
        return dispute_json(dispute)


async def review(container: Container, *, actor: Principal, dispute_id: str) -> dict[str, Any]:
    _admin(actor, "review")
    clock = container.clock
    async with container.db.transaction() as s:
        dispute, _ = await _locked(s, actor, dispute_id)
        _internal(dispute, "reviewed")
        domain.check_review(dispute.id, dispute.status)
        now = clock.now()
        dispute.status = DisputeStatus.under_review.value
        dispute.reviewed_at = now
        dispute.updated_at = now
        await emit(s, clock=clock, type=EventType.dispute_under_review, dispute=dispute)
        return dispute_json(dispute)


async def close(
    container: Container, *, actor: Principal, dispute_id: str, notes: str | None
) -> dict[str, Any]:
    """Withdrawn by its opener, or closed by an admin: no money moves; the escrow unfreezes."""
    clock = container.clock
    async with container.db.transaction() as s:
        dispute, book = await _locked(s, actor, dispute_id)
        if not actor.is_admin and (actor.user_id is None or actor.user_id != dispute.opened_by):
            raise PermissionDeniedError(
                "Only the party who opened a dispute (or an admin) can close it.",
                code="not_dispute_opener",
            )
        _internal(dispute, "closed")
        domain.check_open(dispute.id, dispute.status, to="closed")
        now = clock.now()
        dispute.status = DisputeStatus.closed.value
        dispute.resolution_notes = notes
        dispute.resolved_by = actor.user_id
        dispute.resolved_at = now
        dispute.updated_at = now
        await s.flush()
        unfreeze(book, await open_disputes(s, book.escrow.id))
        store.touch(book.escrow, clock)
        await emit(s, clock=clock, type=EventType.dispute_closed, dispute=dispute)
        return dispute_json(dispute)


# --- resolve ------------------------------------------------------------------------------------


def _shares(slots: Sequence[Slot], amount: int, free: Sequence[int]) -> list[int]:
    return prorate(amount, free) if amount else [0] * len(slots)


async def resolve(
    container: Container,
    *,
    actor: Principal,
    dispute_id: str,
    outcome: str,
    release_amount: int | None,
    refund_amount: int | None,
    notes: str | None,
) -> dict[str, Any]:
    _admin(actor, "resolve")
    clock = container.clock
    release_ops: list[Operation] = []
    refund_op: Operation | None = None
    # 1. One transaction: decide, unfreeze, and claim the money with the escrow's own verbs.
    async with container.db.transaction() as s:
        dispute, book = await _locked(s, actor, dispute_id)
        _internal(dispute, "resolved")
        domain.check_open(dispute.id, dispute.status, to="resolved")
        decided = domain.resolution(
            Outcome(outcome),
            dispute.amount,
            dispute.currency,
            release_amount=release_amount,
            refund_amount=refund_amount,
        )
        others = [d for d in await open_disputes(s, book.escrow.id) if d.id != dispute.id]
        if others:
            raise ConflictError(
                f"escrow {book.escrow.id} also has chargeback {others[0].id} open: the card "
                "holder's bank decides first.",
                code="chargeback_open",
            )
        e = book.escrow
        unfreeze(book, [])
        if dispute.allocation_id is not None:
            found = book.slot(dispute.allocation_id)
            slots = [found] if found is not None else []
        else:
            slots = [x for x in book.slots if x.free.gross > 0]
        free = [x.free.gross for x in slots]
        if decided.release + decided.refund > sum(free):
            raise ConflictError(
                f"only {sum(free)} of the disputed {dispute.amount} is free in escrow {e.id} "
                "(an operation is in flight); retry once it is settled.",
                code="escrow_operation_in_progress",
            )
        released = _shares(slots, decided.release, free)
        left = [f - r for f, r in zip(free, released, strict=True)]
        refunded = _shares(slots, decided.refund, left)
        release_items = [
            (x.allocation.id, a) for x, a in zip(slots, released, strict=True) if a > 0
        ]
        refund_items = [(x.allocation.id, a) for x, a in zip(slots, refunded, strict=True) if a > 0]
        if release_items:
            release_ops = (await release.record(s, container, book, release_items)).ops
        if refund_items:
            claimed = Book(e, [*book.open_ops, *release_ops])
            refund_op = await refund.record(s, container, claimed, items=refund_items)
        now = clock.now()
        dispute.status = DisputeStatus.resolved.value
        dispute.outcome = decided.outcome.value
        dispute.amount_released = decided.release
        dispute.amount_refunded = decided.refund
        dispute.resolution_notes = notes
        dispute.resolved_by = actor.user_id
        dispute.resolved_at = now
        dispute.updated_at = now
        store.touch(e, clock)
        await emit(s, clock=clock, type=EventType.dispute_resolved, dispute=dispute)
        escrow_id, answer = e.id, dispute_json(dispute)
    # 2. and 3. The provider calls, each with its operation's key, then settling.
    first_error: EscrowdError | None = None
    if release_ops:
        first_error = (
            await operations.run(container, escrow_id, release.RELEASE, release_ops)
        ).error
    if refund_op is not None:
        error = (await operations.run(container, escrow_id, refund.REFUND, [refund_op])).error
        first_error = first_error or error
    if first_error is not None:
        raise first_error
    return answer


# --- resolution time ----------------------------------------------------------------------------


async def resolution_totals(
    session: AsyncSession, *, start: datetime, end: datetime
) -> tuple[int, int]:
    """How many disputes were decided (resolved or closed) in ``[start, end)`` and their
    opened → decided times summed, in whole seconds: one aggregate for the metrics report."""
    stmt = select(Dispute.opened_at, Dispute.resolved_at).where(
        Dispute.resolved_at.is_not(None),
        Dispute.resolved_at >= start,
        Dispute.resolved_at < end,
    )
    rows = (await session.execute(stmt)).all()
    total = 0
    for opened, resolved in rows:
        assert resolved is not None
        total += int((resolved - opened).total_seconds())
    return len(rows), total


async def average_resolution_seconds(
    session: AsyncSession, *, start: datetime, end: datetime
) -> float | None:
    """Mean seconds from opening to resolution (or closing) of the disputes decided in
    ``[start, end)``; None when none was."""
    count, total = await resolution_totals(session, start=start, end=end)
    return None if count == 0 else total / count


async def count_open(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Dispute).where(Dispute.status.in_(OPEN_STATUSES))
    return int((await session.execute(stmt)).scalar_one())
