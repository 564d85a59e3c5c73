"""An escrow's money as the domain sees it: amounts, breakdowns, what each allocation has left.

``Book(escrow, open_ops)`` reads a loaded row (and its allocations) into the domain's terms:
``Amounts`` for the state machine, and per allocation the full breakdown, the parts released
and refunded, what is left, what operations in flight have claimed (``pending``) and what is
free for a new operation. Pure apart from reading the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from escrowd.escrows import parts
from escrowd.escrows.models import Allocation, Escrow, Operation, OpKind
from escrowd.escrows.states import Amounts, Context, allocation_status
from escrowd.fees.domain import AllocationBreakdown, FeePolicy

__all__ = ["Book", "Slot", "op_clawed", "op_parts"]


def op_parts(op: Operation) -> dict[str, dict[str, int]]:
    """The breakdown parts an operation takes, per allocation id."""
    if op.kind == OpKind.release.value and op.allocation_id:
        return {op.allocation_id: dict(op.params.get("part") or {})}
    if op.kind in (OpKind.refund.value, OpKind.clawback.value):
        return {k: dict(v) for k, v in (op.params.get("parts") or {}).items()}
    return {}


def op_clawed(op: Operation) -> dict[str, dict[str, int]]:
    """The released parts a clawback in flight takes back, per allocation id."""
    if op.kind == OpKind.clawback.value:
        return {k: dict(v) for k, v in (op.params.get("clawed") or {}).items()}
    return {}


@dataclass(frozen=True, slots=True)
class Slot:
    allocation: Allocation
    policy: FeePolicy
    full: AllocationBreakdown
    released: AllocationBreakdown
    refunded: AllocationBreakdown
    #: Claimed by operations in flight.
    pending: AllocationBreakdown
    #: Released money claimed by clawbacks in flight.
    clawing: AllocationBreakdown

    @property
    def remaining(self) -> AllocationBreakdown:
        return self.full.minus(self.released).minus(self.refunded)

    @property
    def free(self) -> AllocationBreakdown:
        """What is left that no operation in flight has claimed."""
        return self.remaining.minus(self.pending)

    @property
    def claimable(self) -> AllocationBreakdown:
        """Released money (net of reversals) that no clawback in flight has claimed."""
        return self.released.minus(self.clawing)

    @property
    def status(self) -> str:
        amounts = Amounts(self.full.gross, self.released.gross, self.refunded.gross)
        return allocation_status(amounts).value


class Book:
    def __init__(
        self,
        escrow: Escrow,
        open_ops: Sequence[Operation] = (),
        *,
        releases: Sequence[Operation] | None = None,
    ) -> None:
        self.escrow = escrow
        self.open_ops = list(open_ops)
        #: Every release operation of the escrow, settled ones included, when the book was
        #: loaded with them (``store.book_of(..., releases=True)``); None otherwise.
        self.releases = None if releases is None else list(releases)

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        allocations = list(self.escrow.allocations)
        policies = [parts.stored_policy(a.fee_policy) for a in allocations]
        full = parts.full_breakdowns(
            [a.amount for a in allocations], policies, self.escrow.processing_cost_total
        )
        bearers = {a.id: p.processing_bearer for a, p in zip(allocations, policies, strict=True)}
        pending: dict[str, AllocationBreakdown] = {}
        clawing: dict[str, AllocationBreakdown] = {}
        for op in self.open_ops:
            for claims, figures_of in ((pending, op_parts(op)), (clawing, op_clawed(op))):
                for allocation_id, figures in figures_of.items():
                    part = parts.load(figures, bearers.get(allocation_id, "platform"))
                    before = claims.get(allocation_id)
                    claims[allocation_id] = part if before is None else parts.plus(before, part)
        return tuple(
            Slot(
                a,
                p,
                f,
                parts.load(a.released, p.processing_bearer),
                parts.load(a.refunded, p.processing_bearer),
                pending.get(a.id) or parts.zero(p.processing_bearer),
                clawing.get(a.id) or parts.zero(p.processing_bearer),
            )
            for a, p, f in zip(allocations, policies, full, strict=True)
        )

    def slot(self, allocation_id: str) -> Slot | None:
        return next((s for s in self.slots if s.allocation.id == allocation_id), None)

    @property
    def amounts(self) -> Amounts:
        e = self.escrow
        return Amounts(e.amount, e.amount_released, e.amount_refunded)

    def context(self, *, release: int = 0, refund: int = 0, reverse: int = 0) -> Context:
        e = self.escrow
        return Context(
            escrow_id=e.id,
            currency=e.currency,
            amounts=self.amounts,
            release=release,
            refund=refund,
            reverse=reverse,
        )

    @property
    def free(self) -> int:
        """Gross that no operation has taken or claimed."""
        return sum(s.free.gross for s in self.slots)
