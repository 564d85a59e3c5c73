"""Refunding money not yet released: one provider refund per request, inside the use case.

What is refunded is said one of three ways:

- nothing: everything free (neither released, refunded nor being moved);
- ``amount``: that much, spread over the allocations in proportion to what each has free
  (``prorate``, largest remainder; ``prorated: true`` says so explicitly);
- ``allocations``: named allocations, each all it has free or a given amount.

Each allocation gives a part of its free breakdown (``take``); the platform's fee on a refunded
part is never charged. The payer gets the parts' gross back plus the surcharge they paid on it,
in one refund (``esc_…:refund:<n>``); the ledger moves the same from ``escrow:<id>`` to the
provider's clearing account. Released money is refunded only with ``clawback``
(``escrows.clawback``: the payees' transfers are reversed first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.errors import InvalidRequestError
from escrowd.escrows import clawback as clawbacks
from escrowd.escrows import ledgering, operations, parts, store
from escrowd.escrows.book import Book, Slot
from escrowd.escrows.models import Operation, OpKind
from escrowd.escrows.operations import Outcome, Settling
from escrowd.escrows.release import Item, choose, nothing_free
from escrowd.escrows.states import Action, EscrowStateError, State, transition
from escrowd.fees.domain import prorate
from escrowd.providers.base import PaymentProvider
from escrowd.providers.types import Refund, RefundRequest


def _spread(book: Book, amount: int | None, prorated: bool | None) -> list[tuple[Slot, int]]:
    free = [s for s in book.slots if s.free.gross > 0]
    total = book.free if amount is None else amount
    if total == 0:
        raise nothing_free(book, "refund")
    if total > book.free:
        raise operations.amount_too_large(
            "refund", total, book.free, currency=book.escrow.currency, param="amount"
        )
    if prorated is False and len(free) > 1:
        raise InvalidRequestError(
            "more than one allocation has money left: refund with prorated: true, or name the "
            "allocations to refund.",
            code="refund_ambiguous",
            param="prorated",
        )
    shares = prorate(total, [s.free.gross for s in free])
    return [(s, share) for s, share in zip(free, shares, strict=True) if share > 0]


async def record(
    s: AsyncSession,
    container: Container,
    book: Book,
    *,
    amount: int | None = None,
    prorated: bool | None = None,
    items: Sequence[Item] | None = None,
    reason: str | None = None,
) -> Operation:
    """Step 1 of a refund, under the escrow's lock: check everything, claim the money."""
    e = book.escrow
    store.check_allows(book, Action.refund)
    chosen = (
        choose(book, items, what="refund") if items is not None else _spread(book, amount, prorated)
    )
    total = sum(a for _, a in chosen)
    transition(e.status, Action.refund, context=book.context(refund=total))
    taken = {slot.allocation.id: slot.free.take(share)[0] for slot, share in chosen}
    return operations.new_op(
        s,
        escrow=e,
        kind=OpKind.refund,
        key=await operations.next_key(s, e.id, OpKind.refund),
        amount=total,
        provider_amount=sum(parts.charged_of(p) for p in taken.values()),
        params={
            "parts": {k: parts.dump(p) for k, p in taken.items()},
            "payment_id": e.payment_id,
            "reason": reason,
        },
        now=container.clock.now(),
    )


async def refund(
    container: Container,
    *,
    escrow_id: str,
    actor: Principal | None,
    amount: int | None = None,
    prorated: bool | None = None,
    items: Sequence[Item] | None = None,
    reason: str | None = None,
    clawback: bool = False,
) -> dict[str, Any]:
    if items is not None and (amount is not None or prorated is not None):
        raise InvalidRequestError(
            "pass allocations, or amount (and prorated), not both.",
            code="parameter_conflict",
            param="allocations",
        )
    if clawback:
        return await clawbacks.clawback(
            container,
            escrow_id=escrow_id,
            actor=actor,
            amount=amount,
            prorated=prorated,
            items=items,
            reason=reason,
        )
    # 1. Record, under the escrow's lock: check everything, claim the money.
    async with operations.recording(container, escrow_id, actor) as (s, book):
        op = await record(
            s, container, book, amount=amount, prorated=prorated, items=items, reason=reason
        )
    # 2. One refund at the provider (``call_refund``), then 3. settle it (``settle``).
    settled = await operations.run(container, escrow_id, REFUND, [op])
    return settled.answer()


async def call_refund(provider: PaymentProvider, op: Operation) -> Outcome:
    """Step 2: the payer's refund, with the operation's key as its idempotency key.

    A refund made at the provider outside escrowd (``escrows.outside_refund``) is only read
    back: the money moved already, and no second refund may be made for it."""
    p = op.params
    if isinstance(p.get("outside_refund"), str):
        return Outcome(result=await provider.retrieve_refund(p["outside_refund"]))
    result = await provider.create_refund(
        RefundRequest(
            idempotency_key=op.key,
            payment_id=p["payment_id"],
            amount=op.provider_amount,
            reason=p.get("reason"),
            metadata={"escrow_id": op.escrow_id},
        )
    )
    return Outcome(result=result)


async def settle(ctx: Settling, op: Operation, outcome: Outcome) -> None:
    book = ctx.book
    e = book.escrow
    context = book.context(refund=op.amount)
    try:
        new: State | None = transition(e.status, Action.refund, context=context)
    except EscrowStateError:
        new = None  # frozen meanwhile (a dispute): the money moved all the same
    now = ctx.clock.now()
    for allocation_id, figures in op.params["parts"].items():
        slot = book.slot(allocation_id)
        assert slot is not None, op.key
        part = parts.load(figures, slot.policy.processing_bearer)
        slot.allocation.refunded = parts.dump(parts.plus(slot.refunded, part))
        slot.allocation.updated_at = now
    e.amount_refunded += op.amount
    e.ledger_refunded += op.provider_amount
    if new is not None:
        e.status = new.value
    if isinstance(outcome.result, Refund):
        op.provider_object_id = outcome.result.id
    ctx.post([ledgering.refund(op.key, e.id, e.provider or "stripe", op.provider_amount)])
    ctx.moved.add("refund")


#: Refunding: one provider refund, settled as above.
REFUND = operations.Verb(call=call_refund, settle=settle)
