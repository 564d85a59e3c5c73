"""Fixtures for the tests of the Stripe spec checker itself.

They need Stripe's OpenAPI spec: set ESCROWD_STRIPE_OPENAPI to spec3.json from the
stripe/openapi repository (`.ci/run` points it at ../shared/stripe/spec3.json). Without it these
tests skip and say so. Stripe's example objects (fixtures3.json, same repository) are looked
for next to the spec.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from escrowd.sandbox.spec_check import ENV_VAR, SKIP_REASON, SpecChecker, load_from_env


@pytest.fixture(scope="session")
def checker() -> SpecChecker:
    found = load_from_env()
    if found is None:
        pytest.skip(SKIP_REASON)
    return found


@pytest.fixture(scope="session")
def stripe_objects(checker: SpecChecker) -> dict[str, Any]:
    """Stripe's example object per resource (``payment_intent``, ``charge``, ...)."""
    path = Path(os.environ[ENV_VAR]).with_name("fixtures3.json")
    if not path.is_file():
        pytest.skip(
            f"{path} not found: put fixtures3.json from the stripe/openapi repository next to "
            f"the spec {ENV_VAR} points at"
        )
    resources: dict[str, Any] = json.loads(path.read_text())["resources"]
    return resources
