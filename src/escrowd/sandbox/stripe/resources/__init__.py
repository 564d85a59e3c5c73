"""One module per Stripe resource; importing them registers their routes."""

from __future__ import annotations

import importlib

MODULES = (
    "customers",
    "payment_methods",
    "setup_intents",
    "payment_intents",
    "charges",
    "refunds",
    "disputes",
    "balance",
    "accounts",
    "bank_accounts",
    "links",
    "transfers",
    "reversals",
    "destination",
    "payouts",
    "products",
    "subscriptions",
    "invoices",
    "events",
)


def load() -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
