"""Allocation breakdowns as stored: sums of parts released and refunded, and what is left.

An allocation's full breakdown is computed from its gross, its policy and its share of the
provider's fee (``fees.compute_allocation_breakdown``); what has been released and refunded is
stored as the sum of the parts taken (``AllocationBreakdown.take``). What is left is the full
breakdown minus both. Pure: no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from escrowd.fees.domain import (
    BREAKDOWN_FIGURES,
    AllocationBreakdown,
    Bearer,
    FeePolicy,
    compute_allocation_breakdown,
)

#: The integer figures of a breakdown (everything but the bearer).
FIGURES = BREAKDOWN_FIGURES


def zero(bearer: Bearer) -> AllocationBreakdown:
    return AllocationBreakdown(**dict.fromkeys(FIGURES, 0), processing_bearer=bearer)


def dump(part: AllocationBreakdown) -> dict[str, int]:
    return {name: getattr(part, name) for name in FIGURES}


def load(data: Mapping[str, Any] | None, bearer: Bearer) -> AllocationBreakdown:
    if not data:
        return zero(bearer)
    return AllocationBreakdown(
        **{name: int(data.get(name, 0)) for name in FIGURES}, processing_bearer=bearer
    )


def plus(a: AllocationBreakdown, b: AllocationBreakdown) -> AllocationBreakdown:
    return AllocationBreakdown(
        **{name: getattr(a, name) + getattr(b, name) for name in FIGURES},
        processing_bearer=a.processing_bearer,
    )


def with_net_moved(part: AllocationBreakdown, amount: int) -> AllocationBreakdown:
    """``part`` with ``amount`` of net (and so of gross) taken back: a transfer reversal.

    Only the payee's money comes back; the platform's fee and the processing recovery stay
    earned, and every identity of the breakdown still holds.
    """
    return AllocationBreakdown(
        **{
            name: getattr(part, name) - amount if name in ("gross", "net") else getattr(part, name)
            for name in FIGURES
        },
        processing_bearer=part.processing_bearer,
    )


def full_breakdowns(
    amounts: Sequence[int], policies: Sequence[FeePolicy], processing_cost_total: int | None
) -> tuple[AllocationBreakdown, ...]:
    """Every allocation's full breakdown (the provider's fee split by gross, if known)."""
    total = sum(amounts)
    return compute_allocation_breakdown(
        total, list(policies), processing_cost_total, allocations=list(amounts)
    ).allocations


def charged_of(part: AllocationBreakdown) -> int:
    """What a part moves in the ledger: its gross and the payer's surcharge on it."""
    return part.gross + part.surcharge
