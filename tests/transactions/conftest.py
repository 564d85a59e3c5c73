"""Fixtures for transactions: the escrow tests' app, parties and drivers (as balances)."""

from __future__ import annotations

from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    sandbox,
)
from tests.escrows.conftest import ctx as ctx
