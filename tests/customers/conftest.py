"""Customers share the accounts tests' app, browser and spec check (tests/accounts/conftest.py)."""

from __future__ import annotations

from tests.accounts.conftest import _stripe_spec, browser, client

__all__ = ["_stripe_spec", "browser", "client"]
