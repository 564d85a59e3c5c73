"""Chargebacks: escrowd's record brought in line with the provider's dispute.

Both provider events (``dispute.created``, ``dispute.closed``) end here with the provider's own
dispute object, so they may arrive twice or in either order: :func:`follow` books only what
the provider did that escrowd has not booked yet (every figure is a running total, and every
ledger transfer id carries it).

The ledger (docs/disputes.md has a worked example):

- the provider takes the disputed amount and its fee from the platform's balance:
  ``platform:disputes`` → ``provider:<name>:clearing`` (``dsp_…:withdrawn:<total>``) and
  ``platform:dispute_costs`` → clearing (``dsp_…:fee:<total>``). ``platform:disputes`` is
  then below zero by what the provider holds; the escrow's own money stays in the escrow,
  frozen (``disputed``);
- **won**: the provider gives the amount back, clearing → ``platform:disputes``
  (``dsp_…:reinstated:<total>``); the escrow unfreezes with its money, to be released (or
  refunded) as before. The fee stays a cost in ``platform:dispute_costs``;
- **lost**: the card holder keeps the money, so the escrow pays back what the provider took:
  ``escrow:<id>`` → ``platform:disputes`` (``dsp_…:lost``), booked as a refund to the payer
  (the allocations' refunded parts, ``amount_refunded``). What the escrow no longer holds
  (money that could not be taken back from the payees) is the platform's loss:
  ``platform:dispute_costs`` → ``platform:disputes`` (``dsp_…:shortfall``).

A chargeback on money already released enqueues ``dispute.chargeback_recover``
(``disputes.tasks``): after this transaction, the payees' transfers are reversed for what the
escrow misses (``escrows.recovery``: pro rata, the platform's fee returned too, the shortfall
policy for payees paid out) and the money comes back into the frozen escrow. The decision waits
for it (:func:`recovering`): lost, the recovered money pays the provider's withdrawal, so the
shortfall is only what could not be recovered; won, ``dispute.chargeback_repay`` pays the
payees again. What cannot be recovered opens ``dispute.chargeback_after_release``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd import jobs
from escrowd.clock import Clock
from escrowd.disputes import service
from escrowd.disputes.domain import DisputeKind, DisputeStatus, Outcome
from escrowd.disputes.models import Dispute
from escrowd.escrows import ledgering, parts, recovery, store
from escrowd.escrows.book import Book
from escrowd.escrows.models import OPEN_OPS, Escrow
from escrowd.escrows.states import Action, EscrowStateError, State, apply_event, transition
from escrowd.events import EventType
from escrowd.fees.domain import AllocationBreakdown, prorate
from escrowd.ids import Prefix, new_id
from escrowd.jobs import incidents
from escrowd.providers.types import Dispute as ProviderDispute

DISPUTES = "platform:disputes"
DISPUTE_COSTS = "platform:dispute_costs"
AFTER_RELEASE_INCIDENT = "dispute.chargeback_after_release"
#: Outbox jobs (``disputes.tasks``): reverse the payees' transfers; pay them again when won.
RECOVER_JOB = "dispute.chargeback_recover"
REPAY_JOB = "dispute.chargeback_repay"
UNEXPECTED_INCIDENT = "dispute.chargeback_unexpected"

_PAYMENT_PHASE = (State.requires_payment, State.requires_action, State.authorized)


async def by_provider_id(session: AsyncSession, provider_dispute_id: str) -> Dispute | None:
    stmt = select(Dispute).where(Dispute.provider_dispute_id == provider_dispute_id)
    return (await session.scalars(stmt)).one_or_none()


def held(escrow: Escrow) -> int:
    """What the escrow's ledger account holds (charged money, surcharge included)."""
    return escrow.ledger_funded - escrow.ledger_released - escrow.ledger_refunded


async def _opened(
    session: AsyncSession, clock: Clock, book: Book, truth: ProviderDispute
) -> Dispute:
    e = book.escrow
    now = clock.now()
    row = Dispute(
        id=new_id(Prefix.dispute),
        kind=DisputeKind.chargeback.value,
        escrow_id=e.id,
        allocation_id=None,
        opened_by=None,
        status=DisputeStatus.open.value,
        reason=truth.reason[:64],
        description=None,
        evidence=[],
        currency=e.currency,
        amount=truth.amount,
        amount_released=0,
        amount_refunded=0,
        provider_dispute_id=truth.id,
        provider_withdrawn=0,
        provider_reinstated=0,
        provider_fee=0,
        opened_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        frozen = apply_event(e.status, Action.dispute, context=book.context())
    except EscrowStateError as exc:
        if State(e.status) in _PAYMENT_PHASE:
            # The payment's own events (or the fund call's settlement) are not in yet.
            raise RuntimeError(f"escrow {e.id} is not funded yet; retry the event") from exc
        frozen = None
        await incidents.add(
            session,
            kind=UNEXPECTED_INCIDENT,
            error=f"chargeback {truth.id} on escrow {e.id}, which is {e.status}",
            now=now,
            subject=e.id,
            details={"dispute": row.id, "provider_dispute": truth.id, "amount": truth.amount},
        )
    if frozen is not None:
        e.status = frozen.value
        store.touch(e, clock)
        await store.emit(session, clock=clock, type=EventType.escrow_disputed, book=book)
    if truth.amount > held(e) and any(slot.claimable.gross for slot in book.slots):
        # Paid out already: the payees' transfers are reversed after this commits (outbox).
        await jobs.enqueue(
            session,
            clock=clock,
            kind=RECOVER_JOB,
            payload={"dispute_id": row.id},
            dedupe_key=f"{RECOVER_JOB}:{row.id}",
        )
    await service.emit(session, clock=clock, type=EventType.dispute_opened, dispute=row)
    return row


async def recovering(session: AsyncSession, book: Book, row: Dispute) -> bool:
    """Whether the payees' transfers are still being reversed for ``row``: the decision
    waits for it (the recovery job decides once it is done)."""
    ops = await recovery.ops_of(session, book.escrow.id, row.id)
    if ops:
        return any(op.status in OPEN_OPS for op in ops)
    return row.amount > held(book.escrow) and any(s.claimable.gross for s in book.slots)


def _take(book: Book, owed: int) -> tuple[int, int, dict[str, AllocationBreakdown]]:
    """The escrow's free money that pays back ``owed`` (charged terms): gross, charged, parts."""
    free = [s for s in book.slots if s.free.gross > 0]
    if not free or owed <= 0:
        return 0, 0, {}
    everything = sum(parts.charged_of(s.free) for s in free)
    if owed >= everything:
        shares = [s.free.gross for s in free]
    else:
        shares = prorate(min(owed, book.free), [s.free.gross for s in free])
    taken = {
        s.allocation.id: s.free.take(share)[0]
        for s, share in zip(free, shares, strict=True)
        if share > 0
    }
    gross = sum(p.gross for p in taken.values())
    return gross, sum(parts.charged_of(p) for p in taken.values()), taken


async def _lost(
    session: AsyncSession, clock: Clock, book: Book, row: Dispute, owed: int
) -> list[ledgering.Move]:
    e = book.escrow
    gross, charged, taken = _take(book, owed)
    moves: list[ledgering.Move] = []
    if gross:
        now = clock.now()
        for allocation_id, part in taken.items():
            slot = book.slot(allocation_id)
            assert slot is not None
            slot.allocation.refunded = parts.dump(parts.plus(slot.refunded, part))
            slot.allocation.updated_at = now
        context = book.context(refund=gross)
        e.amount_refunded += gross
        e.ledger_refunded += charged
        if e.status == State.disputed:
            e.status = transition(e.status, Action.resolve, context=context).value
        moves.append(
            ledgering.Move(
                f"{row.id}:lost",
                "chargeback_lost",
                ledgering.escrow_account(e.id),
                DISPUTES,
                charged,
            )
        )
    elif e.status == State.disputed:
        service.unfreeze(book, [])
    residual = owed - charged
    if residual > 0:
        moves.append(
            ledgering.Move(
                f"{row.id}:shortfall", "chargeback_loss", DISPUTE_COSTS, DISPUTES, residual
            )
        )
    elif residual < 0:
        moves.append(
            ledgering.Move(
                f"{row.id}:surplus", "chargeback_loss", DISPUTES, DISPUTE_COSTS, -residual
            )
        )
    row.amount_refunded = gross
    # Internal disputes of the escrow have nothing left to decide: the card holder's bank did.
    for other in await service.open_disputes(session, e.id):
        if other.id != row.id:
            other.status = DisputeStatus.closed.value
            other.resolution_notes = f"superseded by chargeback {row.id}, lost"
            other.resolved_at = clock.now()
            other.updated_at = clock.now()
            await service.emit(session, clock=clock, type=EventType.dispute_closed, dispute=other)
    return moves


async def follow(
    session: AsyncSession,
    clock: Clock,
    escrow: Escrow,
    row: Dispute | None,
    truth: ProviderDispute,
    *,
    provider: str,
) -> Dispute:
    """Book what the provider did with its dispute that escrowd has not booked yet."""
    book = Book(escrow, await store.open_ops(session, escrow.id))
    if row is None:
        row = await _opened(session, clock, book, truth)
    clearing = ledgering.clearing(provider)
    moves: list[ledgering.Move] = []
    if truth.withdrawn > row.provider_withdrawn:
        delta = truth.withdrawn - row.provider_withdrawn
        moves.append(
            ledgering.Move(
                f"{row.id}:withdrawn:{truth.withdrawn}", "chargeback", DISPUTES, clearing, delta
            )
        )
        row.provider_withdrawn = truth.withdrawn
    if truth.fee > row.provider_fee:
        delta = truth.fee - row.provider_fee
        moves.append(
            ledgering.Move(
                f"{row.id}:fee:{truth.fee}", "dispute_fee", DISPUTE_COSTS, clearing, delta
            )
        )
        row.provider_fee = truth.fee
    withdrawn_now = bool(moves)
    reinstated_now = truth.reinstated > row.provider_reinstated
    if reinstated_now:
        delta = truth.reinstated - row.provider_reinstated
        moves.append(
            ledgering.Move(
                f"{row.id}:reinstated:{truth.reinstated}",
                "chargeback_reversal",
                clearing,
                DISPUTES,
                delta,
            )
        )
        row.provider_reinstated = truth.reinstated
    now = clock.now()
    row.updated_at = now
    decided = (
        truth.closed
        and row.status in service.OPEN_STATUSES
        and not await recovering(session, book, row)
    )
    if decided:
        row.status = DisputeStatus.resolved.value
        row.resolved_at = now
        row.outcome = (Outcome.won if truth.status == "won" else Outcome.lost).value
        await session.flush()
        if truth.status == "won":
            others = [d for d in await service.open_disputes(session, escrow.id) if d.id != row.id]
            service.unfreeze(book, others)
            if recovery.recovered(await recovery.ops_of(session, escrow.id, row.id)):
                await jobs.enqueue(
                    session,
                    clock=clock,
                    kind=REPAY_JOB,
                    payload={"dispute_id": row.id},
                    dedupe_key=f"{REPAY_JOB}:{row.id}",
                )
        else:
            owed = row.provider_withdrawn - row.provider_reinstated
            moves.extend(await _lost(session, clock, book, row, owed))
        store.touch(escrow, clock)
    if moves:
        await ledgering.apply(
            session, clock=clock, currency=escrow.currency, reference=escrow.id, moves=moves
        )
    if withdrawn_now:
        await service.emit(
            session, clock=clock, type=EventType.dispute_funds_withdrawn, dispute=row
        )
    if reinstated_now:
        await service.emit(
            session, clock=clock, type=EventType.dispute_funds_reinstated, dispute=row
        )
    if decided:
        await service.emit(session, clock=clock, type=EventType.dispute_resolved, dispute=row)
        fresh = store.refreshed(book)
        if row.outcome == Outcome.lost and row.amount_refunded:
            emptied = escrow.amount_released + escrow.amount_refunded == escrow.amount
            kind = EventType.escrow_refunded if emptied else EventType.escrow_partially_refunded
            await store.emit(session, clock=clock, type=kind, book=fresh)
    return row
