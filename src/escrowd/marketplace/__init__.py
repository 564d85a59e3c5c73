"""Marketplace flows: one thin module per seed system, switched on by configuration.

Each flow (``jobs`` for seed 000 … ``auctions`` for seed 004) has its own tables, its own small
domain and its routes, and moves money only through the core services (escrows, payouts,
disputes, subscriptions). ``ESCROWD_MARKETPLACES`` names the flows an operator runs, by seed
number or name (``000,auctions``), or ``all``; the others' routes are not served (their tables
exist either way: migrations are one chain). docs/marketplaces.md walks each flow.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter


@dataclass(frozen=True)
class Flow:
    seed: str
    name: str
    #: The module whose ``routers`` list serves the flow.
    routes: str
    #: The module whose ``scenario(stage)`` tells the flow's story (``escrowd demo --seed``).
    demo: str | None = None


#: The flows built so far, in seed order.
FLOWS: tuple[Flow, ...] = (
    Flow("000", "jobs", "escrowd.marketplace.jobs.routes", demo="escrowd.marketplace.jobs.demo"),
    Flow(
        "001",
        "bookings",
        "escrowd.marketplace.bookings.routes",
        demo="escrowd.marketplace.bookings.demo",
    ),
    Flow("002", "gigs", "escrowd.marketplace.gigs.routes", demo="escrowd.marketplace.gigs.demo"),
    Flow("003", "tasks", "escrowd.marketplace.tasks.routes", demo="escrowd.marketplace.tasks.demo"),
    Flow(
        "004",
        "auctions",
        "escrowd.marketplace.auctions.routes",
        demo="escrowd.marketplace.auctions.demo",
    ),
)

ALL = "all"


class UnknownFlowError(ValueError):
    """A name in ESCROWD_MARKETPLACES that is not a built flow."""


def choose(spec: str) -> tuple[Flow, ...]:
    """The flows ``spec`` (comma-separated seeds or names, ``all``, or empty: none) names."""
    words = [w.strip().lower() for w in spec.split(",") if w.strip()]
    if ALL in words:
        return FLOWS
    by_word = {f.seed: f for f in FLOWS} | {f.name: f for f in FLOWS}
    unknown = [w for w in words if w not in by_word]
    if unknown:
        known = ", ".join(f"{f.seed} ({f.name})" for f in FLOWS) or "none yet"
        raise UnknownFlowError(
            f"no marketplace flow {', '.join(map(repr, unknown))}: use seed numbers or names "
            f"of {known}, or {ALL!r}"
        )
    chosen = {by_word[w].seed for w in words}
    return tuple(f for f in FLOWS if f.seed in chosen)


def routers(flows: Sequence[Flow]) -> list[APIRouter]:
    """The API routers of ``flows``; a flow's module is imported only when it is switched on."""
    out: list[APIRouter] = []
    for flow in flows:
        out.extend(importlib.import_module(flow.routes).routers)
    return out
