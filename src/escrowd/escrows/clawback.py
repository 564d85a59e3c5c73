"""Refunding money already released (a clawback): the payees' transfers reversed, the
platform's fee on the part returned, then the payer refunded (docs/refunds.md).

``POST /v1/escrows/{id}/refund`` with ``clawback: true``. Each allocation gives what is still
free first, then released money (net of reversals), in proportion across its figures
(``AllocationBreakdown.take``): the payee returns the part's net, the platform its fee and
the processing recovery it kept; the payer gets the part's gross and surcharge back.

When the payee's balance cannot cover their share (they were paid out),
``ESCROWD_CLAWBACK_SHORTFALL`` decides: ``recover`` reverses it all at the provider (their
connected account goes negative) and books the uncovered part as ``payee:<party>:debt``,
repaid first from their next release; ``absorb`` reverses only what the balance covers and
books the rest to ``platform:losses``. Either way every cent is in the ledger.

One operation (``esc_…:clawback:<n>``) per request, in the usual three steps:

1. **record**: check, split, plan the reversals, claim the money;
2. **call**: each reversal (``<key>:reversal:<i>``), then one refund (``<key>``);
3. **settle**: the ledger moves, the allocations, the state, the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.escrows import ledgering, operations, parts
from escrowd.escrows.book import Book, Slot
from escrowd.escrows.models import Operation, OpKind, OpStatus
from escrowd.escrows.operations import Outcome, Settling
from escrowd.escrows.release import Item, named_slots, nothing_free
from escrowd.escrows.states import (
    Action,
    Amounts,
    Context,
    EscrowStateError,
    State,
    transition,
)
from escrowd.events import EventType
from escrowd.fees.domain import AllocationBreakdown, prorate
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.types import Refund, RefundRequest, TransferReversalRequest

#: Where a clawback may start: money held or released, not frozen by a dispute.
SOURCES = frozenset(
    {State.held, State.partially_refunded, State.partially_released, State.released}
)


def _refundable(slot: Slot) -> int:
    return slot.free.gross + slot.claimable.gross


def _choose(
    book: Book, amount: int | None, prorated: bool | None, items: Sequence[Item] | None
) -> list[tuple[Slot, int]]:
    if items is not None:
        out: list[tuple[Slot, int]] = []
        for i, slot, wanted in named_slots(book, items):
            have = _refundable(slot)
            take = have if wanted is None else wanted
            if take == 0 or take > have:
                raise operations.amount_too_large(
                    "refund",
                    take,
                    have,
                    currency=book.escrow.currency,
                    param=f"allocations[{i}][amount]",
                )
            out.append((slot, take))
        return out
    candidates = [s for s in book.slots if _refundable(s) > 0]
    have = sum(_refundable(s) for s in candidates)
    total = have if amount is None else amount
    if total == 0:
        raise nothing_free(book, "refund")
    if total > have:
        raise operations.amount_too_large(
            "refund", total, have, currency=book.escrow.currency, param="amount"
        )
    if amount is not None and prorated is False and len(candidates) > 1:
        raise InvalidRequestError(
            "more than one allocation has money to refund: refund with prorated: true, or name "
            "the allocations to refund.",
            code="refund_ambiguous",
            param="prorated",
        )
    shares = prorate(total, [_refundable(s) for s in candidates])
    return [(s, share) for s, share in zip(candidates, shares, strict=True) if share > 0]


def _split(
    slot: Slot, amount: int
) -> tuple[AllocationBreakdown | None, AllocationBreakdown | None]:
    """Free money first (nobody has to give it back), then released money."""
    from_free = min(amount, slot.free.gross)
    from_released = amount - from_free
    free = slot.free.take(from_free)[0] if from_free else None
    clawed = slot.claimable.take(from_released)[0] if from_released else None
    return free, clawed


def _target(book: Book, clawed: int, refund: int) -> State:
    """The state after the released money comes back (``reverse``) and is refunded."""
    e = book.escrow
    state = State(e.status)
    amounts = book.amounts
    if clawed:
        state = transition(state, Action.reverse, context=book.context(reverse=clawed))
        amounts = Amounts(amounts.total, amounts.released - clawed, amounts.refunded)
    context = Context(escrow_id=e.id, currency=e.currency, amounts=amounts, refund=refund)
    return transition(state, Action.refund, context=context)


def ledger_only(release_op: Operation) -> bool:
    """A release made without a transfer (a provider without them, PayPal): its net stays on
    the platform's balance at the provider, so taking it back is a ledger move alone."""
    return "destination" in release_op.params and release_op.params["destination"] is None


async def _transfers_left(
    session: AsyncSession, book: Book, allocation_ids: Sequence[str]
) -> dict[str, list[tuple[Operation, int]]]:
    """Per allocation, its release transfers, newest first, each with what is left to reverse
    (less what clawbacks in flight plan to take)."""
    planned: dict[str, int] = {}
    for op in book.open_ops:
        if op.kind == OpKind.clawback.value:
            for r in op.params.get("reversals", []):
                planned[r["release"]] = planned.get(r["release"], 0) + int(r["amount"])
    rows = await session.scalars(
        select(Operation)
        .where(
            Operation.escrow_id == book.escrow.id,
            Operation.kind == OpKind.release.value,
            Operation.status == OpStatus.succeeded.value,
            Operation.allocation_id.in_(allocation_ids),
        )
        .order_by(Operation.created_at.desc(), Operation.key.desc())
    )
    out: dict[str, list[tuple[Operation, int]]] = {a: [] for a in allocation_ids}
    for op in rows:
        left = op.provider_amount - op.reversed - planned.get(op.key, 0)
        if (op.provider_object_id or ledger_only(op)) and left > 0:
            out[op.allocation_id or ""].append((op, left))
    return out


async def plan_reversals(
    session: AsyncSession,
    book: Book,
    clawed: dict[str, AllocationBreakdown],
    shortfall: str,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The reversals to make and, under ``absorb``, the net the platform pays itself."""
    transfers = await _transfers_left(session, book, list(clawed))
    payees = {a: book.slot(a).allocation.payee_id or "" for a in clawed}  # type: ignore[union-attr]
    balance = await ledgering.spendable(
        session, book.escrow.currency, [ledgering.payee_available(p) for p in payees.values()]
    )
    reversals: list[dict[str, Any]] = []
    absorbed: dict[str, int] = {}
    for allocation_id, part in clawed.items():
        payee = payees[allocation_id]
        need = part.net
        for release_op, left in transfers[allocation_id]:
            if need == 0:
                break
            amount = min(need, left)
            need -= amount
            pending = await ledgering.net_is_pending(session, release_op.key)
            if shortfall == "absorb" and not pending:
                code = ledgering.payee_available(payee)
                covered = min(amount, max(balance.get(code, 0), 0))
                balance[code] = balance.get(code, 0) - covered
                absorbed[allocation_id] = absorbed.get(allocation_id, 0) + amount - covered
                amount = covered
            if amount:
                reversals.append(
                    {
                        "release": release_op.key,
                        "transfer": release_op.provider_object_id,
                        "allocation": allocation_id,
                        "payee": payee,
                        "amount": amount,
                    }
                )
        if need:
            raise ConflictError(
                f"allocation {allocation_id} of escrow {book.escrow.id} has a transfer reversal "
                "escrowd has not booked yet; retry once the provider's event is processed.",
                code="escrow_operation_in_progress",
            )
    return reversals, absorbed


async def clawback(
    container: Container,
    *,
    escrow_id: str,
    actor: Principal | None,
    amount: int | None = None,
    prorated: bool | None = None,
    items: Sequence[Item] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Refund released money too: called by ``refund.refund`` (``clawback=True``), which has
    checked the parameters' combination."""
    # 1. Record, under the escrow's lock: check, split, plan the reversals, claim the money.
    async with operations.recording(container, escrow_id, actor) as (s, book):
        e = book.escrow
        if State(e.status) not in SOURCES:
            raise EscrowStateError(escrow_id=e.id, state=State(e.status), action=Action.refund)
        free: dict[str, AllocationBreakdown] = {}
        clawed: dict[str, AllocationBreakdown] = {}
        for slot, share in _choose(book, amount, prorated, items):
            from_free, from_released = _split(slot, share)
            if from_free is not None:
                free[slot.allocation.id] = from_free
            if from_released is not None:
                clawed[slot.allocation.id] = from_released
        everything = [*free.values(), *clawed.values()]
        total = sum(p.gross for p in everything)
        _target(book, sum(p.gross for p in clawed.values()), total)
        shortfall = container.settings.clawback_shortfall
        reversals, absorbed = await plan_reversals(s, book, clawed, shortfall)
        op = operations.new_op(
            s,
            escrow=e,
            kind=OpKind.clawback,
            key=await operations.next_key(s, e.id, OpKind.clawback),
            amount=total,
            provider_amount=sum(parts.charged_of(p) for p in everything),
            params={
                "parts": {k: parts.dump(p) for k, p in free.items()},
                "clawed": {k: parts.dump(p) for k, p in clawed.items()},
                "reversals": reversals,
                "absorbed": absorbed,
                "shortfall": shortfall,
                "payment_id": e.payment_id,
                "reason": reason,
            },
            now=container.clock.now(),
        )
    # 2. The reversals and the refund (``call``), then 3. settle them (``settle``).
    settled = await operations.run(container, escrow_id, CLAWBACK, [op])
    return settled.answer()


async def call(provider: PaymentProvider, op: Operation) -> Outcome:
    """Step 2: every reversal, then the refund, each with a key derived from the operation's.

    Once a reversal has happened, a refusal after it cannot be settled as "nothing moved":
    it is reported as an unknown outcome, so the janitor repeats the calls (the provider
    answers the done ones from their keys) until the rest is done too.
    """
    p = op.params
    done = 0
    try:
        for i, r in enumerate(p["reversals"], start=1):
            if r["transfer"] is None:
                continue  # a release without a transfer: the ledger alone takes it back
            await provider.reverse_transfer(
                TransferReversalRequest(
                    idempotency_key=f"{op.key}:reversal:{i}",
                    transfer_id=r["transfer"],
                    amount=int(r["amount"]),
                    metadata={"escrow_id": op.escrow_id, "clawback": op.key},
                )
            )
            done += 1
        refund = await provider.create_refund(
            RefundRequest(
                idempotency_key=op.key,
                payment_id=p["payment_id"],
                amount=op.provider_amount,
                reason=p.get("reason"),
                metadata={"escrow_id": op.escrow_id, "clawback": "true"},
            )
        )
    except ProviderError as exc:
        if done == 0:
            raise
        raise ProviderError(
            ProviderErrorKind.unknown_outcome,
            f"clawback {op.key}: {done} reversal(s) made, then: {exc.message}",
            code=exc.code,
            provider=exc.provider,
        ) from exc
    return Outcome(result=refund)


async def taken_back(
    session: AsyncSession,
    escrow_id: str,
    currency: str,
    reversals: Sequence[dict[str, Any]],
    now: datetime,
) -> list[ledgering.Move]:
    """The ledger moves of reversals made: each from the payee's balance, what it cannot
    cover booked as their debt; each release operation's ``reversed`` brought up to date."""
    payees = sorted({r["payee"] for r in reversals})
    balance = await ledgering.spendable(
        session, currency, [ledgering.payee_available(x) for x in payees]
    )
    moves: list[ledgering.Move] = []
    for r in reversals:
        release_op = await session.get(Operation, r["release"])
        assert release_op is not None, r["release"]
        amount = int(r["amount"])
        release_op.reversed += amount
        release_op.updated_at = now
        pending = await ledgering.net_is_pending(session, release_op.key)
        code = ledgering.payee_available(r["payee"])
        covered = amount if pending else min(amount, max(balance.get(code, 0), 0))
        if not pending:
            balance[code] = balance.get(code, 0) - covered
        moves += ledgering.taken_back(
            release_op.key,
            escrow_id,
            r["payee"],
            release_op.reversed,
            covered,
            amount - covered,
            from_pending=pending,
        )
    return moves


def unrelease(
    book: Book,
    op: Operation,
    clawed: dict[str, Any],
    absorbed: dict[str, Any],
    moves: list[ledgering.Move],
    *,
    now: datetime,
    refunded: bool,
) -> tuple[int, int, int]:
    """Take the released ``clawed`` parts back from their allocations (to ``refunded`` too
    when the payer gets them), appending the platform's share returned to ``moves``; gives
    the gross, charged and net taken back."""
    gross = charged = net = 0
    for allocation_id, figures in clawed.items():
        slot = book.slot(allocation_id)
        assert slot is not None, op.key
        part = parts.load(figures, slot.policy.processing_bearer)
        gross += part.gross
        charged += parts.charged_of(part)
        net += part.net
        moves += ledgering.platform_returns(
            op.key,
            book.escrow.id,
            allocation_id,
            part.platform_fee,
            part.payee_processing + part.surcharge,
            int(absorbed.get(allocation_id, 0)),
        )
        slot.allocation.released = parts.dump(slot.released.minus(part))
        if refunded:
            slot.allocation.refunded = parts.dump(parts.plus(slot.refunded, part))
        slot.allocation.updated_at = now
    return gross, charged, net


async def settle(ctx: Settling, op: Operation, outcome: Outcome) -> None:
    """Step 3: the payees' money back (their debt where their balance is short), the
    platform's share back, the payer refunded; then the allocations, state and events."""
    book, session = ctx.book, ctx.session
    e = book.escrow
    p = op.params
    now = ctx.clock.now()
    moves = await taken_back(session, e.id, e.currency, p["reversals"], now)
    clawed_gross, clawed_charged, clawed_net = unrelease(
        book, op, p["clawed"], p["absorbed"], moves, now=now, refunded=True
    )
    for allocation_id, figures in p["parts"].items():
        slot = book.slot(allocation_id)
        assert slot is not None, op.key
        part = parts.load(figures, slot.policy.processing_bearer)
        slot.allocation.refunded = parts.dump(parts.plus(slot.refunded, part))
        slot.allocation.updated_at = now
    moves.append(ledgering.refund(op.key, e.id, e.provider or "stripe", op.provider_amount))
    try:
        new: State | None = _target(book, clawed_gross, op.amount)
    except EscrowStateError:
        new = None  # frozen meanwhile (a dispute): the money moved all the same
    e.amount_released -= clawed_gross
    e.ledger_released -= clawed_charged
    e.net_returned += clawed_net
    e.amount_refunded += op.amount
    e.ledger_refunded += op.provider_amount
    if new is not None:
        e.status = new.value
    if isinstance(outcome.result, Refund):
        op.provider_object_id = outcome.result.id
    ctx.post(moves)
    await ctx.emit_allocations(EventType.allocation_clawed_back, p["clawed"])
    ctx.moved.add("refund")


#: Clawing back: reversals and a refund, settled as above.
CLAWBACK = operations.Verb(call=call, settle=settle)
