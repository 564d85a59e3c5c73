"""Taking released money back into a disputed escrow: a chargeback that covers money already
paid to payees reverses their transfers (docs/disputes.md, *Chargebacks after a release*).

What the provider withdrew beyond what the escrow still holds is spread over the allocations
in proportion to what each has released (net of reversals already made and of clawbacks in
flight). Each allocation's part is taken back whole, as a clawback takes it: the payee returns
the part's net (a transfer reversal), the platform its fee and the processing recovery it kept.
The money is back in the escrow, frozen with it; the dispute's outcome decides where it goes
(won: paid to the payees again; lost: it pays the provider's withdrawal).

A payee whose balance cannot cover their share (paid out) is handled by
``ESCROWD_CLAWBACK_SHORTFALL``: ``recover`` reverses it all (their connected account goes
negative, the rest is booked as ``payee:<party>:debt``, repaid from their next release);
``absorb`` takes back only as much of the allocation as the payee's balance covers, and the
rest stays with them — what a lost dispute then cannot recover is the platform's loss.

It is an operation of kind ``clawback`` (``esc_…:clawback:<n>``) whose ``params`` name the
dispute (``chargeback``): the reversals are made (``<key>:reversal:<i>``), but no refund — the
card holder's bank takes care of the payer. ``settlement.VERBS`` picks this verb for it.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.bootstrap import Container
from escrowd.escrows import clawback, operations, parts
from escrowd.escrows.book import Book, Slot
from escrowd.escrows.models import Operation, OpKind
from escrowd.escrows.operations import Outcome, Settling
from escrowd.escrows.states import Action, EscrowStateError, transition
from escrowd.events import EventType
from escrowd.fees.domain import AllocationBreakdown, prorate
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.types import TransferReversalRequest


def is_recovery(op: Operation) -> bool:
    return op.kind == OpKind.clawback.value and bool(op.params.get("chargeback"))


async def ops_of(session: AsyncSession, escrow_id: str, dispute_id: str) -> list[Operation]:
    """The recovery operations recorded for one dispute, oldest first."""
    rows = await session.scalars(
        select(Operation)
        .where(Operation.escrow_id == escrow_id, Operation.kind == OpKind.clawback.value)
        .order_by(Operation.created_at, Operation.key)
    )
    return [op for op in rows if op.params.get("chargeback") == dispute_id]


def recovered(ops: list[Operation]) -> dict[str, int]:
    """Per allocation, the gross taken back by the succeeded operations among ``ops``."""
    out: dict[str, int] = {}
    for op in ops:
        if op.status == "succeeded":
            for allocation_id, figures in op.params.get("clawed", {}).items():
                out[allocation_id] = out.get(allocation_id, 0) + int(figures.get("gross", 0))
    return out


def _spread(book: Book, amount: int) -> dict[str, AllocationBreakdown]:
    """``amount`` (charged terms) over the released allocations, in proportion."""
    candidates = [s for s in book.slots if s.claimable.gross > 0]
    if not candidates or amount <= 0:
        return {}
    everything = sum(parts.charged_of(s.claimable) for s in candidates)
    if amount >= everything:
        shares = [s.claimable.gross for s in candidates]
    else:
        total = min(amount, sum(s.claimable.gross for s in candidates))
        shares = prorate(total, [s.claimable.gross for s in candidates])
    return {
        s.allocation.id: s.claimable.take(share)[0]
        for s, share in zip(candidates, shares, strict=True)
        if share > 0
    }


def _shrunk(slot: Slot, part: AllocationBreakdown, net: int) -> AllocationBreakdown | None:
    """The largest part of the allocation's released money whose net is at most ``net``."""
    low, high = 0, part.gross
    while low < high:
        mid = (low + high + 1) // 2
        if slot.claimable.take(mid)[0].net <= net:
            low = mid
        else:
            high = mid - 1
    return slot.claimable.take(low)[0] if low else None


async def record(
    session: AsyncSession, container: Container, book: Book, *, dispute_id: str, amount: int
) -> Operation:
    """Step 1, under the escrow's lock: the parts to take back for ``amount`` and the
    reversals that take them (none, when no payee's money can be taken)."""
    e = book.escrow
    shortfall = container.settings.clawback_shortfall
    clawed = _spread(book, amount)
    if shortfall == "absorb":
        # Take back only what each payee's balance covers; the rest stays theirs.
        for _ in range(3):
            _, absorbed = await clawback.plan_reversals(session, book, clawed, "absorb")
            if not any(absorbed.values()):
                break
            for allocation_id, short in absorbed.items():
                slot = book.slot(allocation_id)
                assert slot is not None, allocation_id
                smaller = _shrunk(slot, clawed[allocation_id], clawed[allocation_id].net - short)
                if smaller is None:
                    del clawed[allocation_id]
                else:
                    clawed[allocation_id] = smaller
    # Recorded even when nothing can be taken: the dispute's decision waits for this row.
    reversals, _ = await clawback.plan_reversals(session, book, clawed, "recover")
    return operations.new_op(
        session,
        escrow=e,
        kind=OpKind.clawback,
        key=await operations.next_key(session, e.id, OpKind.clawback),
        amount=sum(p.gross for p in clawed.values()),
        provider_amount=sum(int(r["amount"]) for r in reversals),
        params={
            "chargeback": dispute_id,
            "parts": {},
            "clawed": {k: parts.dump(p) for k, p in clawed.items()},
            "reversals": reversals,
            "absorbed": {},
            "shortfall": shortfall,
            "wanted": amount,
        },
        now=container.clock.now(),
    )


async def call(provider: PaymentProvider, op: Operation) -> Outcome:
    """Step 2: each reversal, with a key derived from the operation's. As for a clawback, a
    refusal after a reversal was made is an unknown outcome: the janitor repeats the calls."""
    done = 0
    try:
        for i, r in enumerate(op.params["reversals"], start=1):
            if r["transfer"] is None:
                continue  # a release without a transfer (PayPal): the ledger alone takes it
            await provider.reverse_transfer(
                TransferReversalRequest(
                    idempotency_key=f"{op.key}:reversal:{i}",
                    transfer_id=r["transfer"],
                    amount=int(r["amount"]),
                    metadata={"escrow_id": op.escrow_id, "chargeback": op.params["chargeback"]},
                )
            )
            done += 1
    except ProviderError as exc:
        if done == 0:
            raise
        raise ProviderError(
            ProviderErrorKind.unknown_outcome,
            f"chargeback recovery {op.key}: {done} reversal(s) made, then: {exc.message}",
            code=exc.code,
            provider=exc.provider,
        ) from exc
    return Outcome()


async def settle(ctx: Settling, op: Operation, outcome: Outcome) -> None:
    """Step 3: the payees' and the platform's shares back into the escrow, which stays
    frozen; the allocations released that much less; ``allocation.reversed`` for each."""
    book, session = ctx.book, ctx.session
    e = book.escrow
    p = op.params
    now = ctx.clock.now()
    moves = await clawback.taken_back(session, e.id, e.currency, p["reversals"], now)
    gross, charged, net = clawback.unrelease(
        book, op, p["clawed"], {}, moves, now=now, refunded=False
    )
    # Frozen while its dispute waits (``reverse`` keeps ``disputed``); the amounts move anyway.
    with suppress(EscrowStateError):
        if gross:
            e.status = transition(
                e.status, Action.reverse, context=book.context(reverse=gross)
            ).value
    e.amount_released -= gross
    e.ledger_released -= charged
    e.net_returned += net
    ctx.post(moves)
    await ctx.emit_allocations(EventType.allocation_reversed, p["clawed"])


#: Recovering a chargeback's money from the payees: reversals only, settled as above.
RECOVERY = operations.Verb(call=call, settle=settle)


def params_summary(op: Operation) -> dict[str, Any]:
    """What an incident or a log line says of a recovery operation."""
    return {
        "operation": op.key,
        "status": op.status,
        "taken_back": op.amount,
        "reversed": op.provider_amount,
        "wanted": op.params.get("wanted"),
    }
