"""Allocation breakdowns as stored: sums of parts released and refunded, and what is left.

An allocation's full breakdown is computed from its gross, its policy and its share of the
provider's fee (``fees.compute_allocation_breakdown``); what has been released and refunded is
stored as the sum of the parts taken (``AllocationBreakdown.take``). What is left is the full
breakdown minus both. Pure: no database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from escrowd.fees.domain import (
    BREAKDOWN_FIGURES,
    AllocationBreakdown,
    Bearer,
    FeePolicy,
    compute_allocation_breakdown,
)

#: The integer figures of a breakdown (everything but the bearer).
FIGURES = BREAKDOWN_FIGURES

T = TypeVar("T")


@lru_cache(maxsize=8)  # one per bearer; breakdowns are frozen
def zero(bearer: Bearer) -> AllocationBreakdown:
    return AllocationBreakdown(**dict.fromkeys(FIGURES, 0), processing_bearer=bearer)


def dump(part: AllocationBreakdown) -> dict[str, int]:
    return {name: getattr(part, name) for name in FIGURES}


def load(data: Mapping[str, Any] | None, bearer: Bearer) -> AllocationBreakdown:
    """A stored sum of parts (an allocation's ``released``, an operation's part), checked
    and built once per distinct content: every book reads each of them again."""
    if not data:
        return zero(bearer)
    return _by_content(_load, _build, data, bearer)


@lru_cache(maxsize=4096)
def _load(items: tuple[tuple[str, Any], ...], bearer: Bearer) -> AllocationBreakdown:
    return _build(dict(items), bearer)


def _build(data: Mapping[str, Any], bearer: Bearer) -> AllocationBreakdown:
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
    """Every allocation's full breakdown (the provider's fee split by gross, if known).

    Computed once per distinct input: a book is read again after each change of its money
    (``store.refreshed``), a flow builds a few dozen, and the figures depend on nothing but
    these values (policies and breakdowns are frozen)."""
    return _full_breakdowns(tuple(amounts), tuple(policies), processing_cost_total)


@lru_cache(maxsize=4096)
def _full_breakdowns(
    amounts: tuple[int, ...], policies: tuple[FeePolicy, ...], processing_cost_total: int | None
) -> tuple[AllocationBreakdown, ...]:
    return compute_allocation_breakdown(
        sum(amounts), list(policies), processing_cost_total, allocations=list(amounts)
    ).allocations


def stored_policy(data: Mapping[str, Any]) -> FeePolicy:
    """An allocation's stored fee policy, checked and parsed once per distinct content."""
    return _by_content(_stored_policy, FeePolicy.from_dict, data)


def _by_content(
    cached: Callable[..., T], build: Callable[..., T], data: Mapping[str, Any], *args: Any
) -> T:
    """``cached(<data's items>, *args)``, or ``build(data, *args)`` when a value of ``data``
    cannot be part of a cache key (not what escrowd stores)."""
    try:
        return cached(tuple(data.items()), *args)
    except TypeError:
        return build(data, *args)


@lru_cache(maxsize=1024)
def _stored_policy(items: tuple[tuple[str, Any], ...]) -> FeePolicy:
    return FeePolicy.from_dict(dict(items))


def charged_of(part: AllocationBreakdown) -> int:
    """What a part moves in the ledger: its gross and the payer's surcharge on it."""
    return part.gross + part.surcharge
