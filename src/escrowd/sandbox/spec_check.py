"""Check Stripe requests and responses against Stripe's official OpenAPI spec.

The sandbox calls `SpecChecker.check_request` and `check_response` on every request it serves
when `load_from_env()` returns a checker, and `record`s what they find; the test suite fails on
anything left in `recorder`. See docs/spec-check.md.

Stripe's spec (stripe/openapi, ``spec3.json``) describes form bodies as ``deepObject``
parameters that generic OpenAPI validators cannot read, so this walks the schemas itself:
decode the brackets (`decode_form`), then check names, coerced types, enums, ``required``,
``anyOf`` (including ``""`` to unset), ``maxLength`` and ``expand[]`` paths.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from escrowd.sandbox.spec_form import FormDecodeError, decode_form
from escrowd.sandbox.spec_request import check_params
from escrowd.sandbox.spec_response import check_body
from escrowd.sandbox.spec_schema import Spec

__all__ = [
    "ENV_VAR",
    "NEWER_EXPANSIONS",
    "NEWER_PARAMETERS",
    "SKIP_REASON",
    "FormDecodeError",
    "SpecChecker",
    "decode_form",
    "drain",
    "load",
    "load_from_env",
    "record",
    "recorder",
]

ENV_VAR = "ESCROWD_STRIPE_OPENAPI"
SKIP_REASON = (
    f"{ENV_VAR} is not set: set it to Stripe's OpenAPI spec3.json (or spec3.yaml) from the "
    "stripe/openapi repository (github.com/stripe/openapi, openapi/spec3.json) to run the "
    "Stripe fidelity checks"
)

# Parameters Stripe accepts today that the 2023-08-16 spec lacks, per (METHOD, templated
# path), as bracket names ("payment_method_options[card][foo]"). Add only what a real current
# Stripe SDK call sends, each with a comment naming the call and the API version that added it.
# A listed name passes with everything under it unchecked (the spec has no schema for it).
NEWER_PARAMETERS: Mapping[tuple[str, str], frozenset[str]] = {}

# Likewise for `expand[]` paths (dotted, as sent).
NEWER_EXPANSIONS: Mapping[tuple[str, str], frozenset[str]] = {
    # StripeProvider.create_subscription / retrieve_subscription: since API version 2025-03-31
    # (basil) an invoice's client secret is `confirmation_secret` and `invoice.payment_intent`
    # is gone; stripe-python 16.1.0 sends 2026-10-28.endive.
    ("POST", "/v1/subscriptions"): frozenset({"latest_invoice.confirmation_secret"}),
    ("GET", "/v1/subscriptions/{subscription_exposed_id}"): frozenset(
        {"latest_invoice.confirmation_secret"}
    ),
    # StripeProvider.change_subscription_price: the same expansion on update.
    ("POST", "/v1/subscriptions/{subscription_exposed_id}"): frozenset(
        {"latest_invoice.confirmation_secret"}
    ),
    # StripeProvider.retrieve_invoice / list_invoices: since 2025-03-31 (basil) an invoice no
    # longer names its `payment_intent` / `charge`; its `payments` (expanded) do.
    ("GET", "/v1/invoices/{invoice}"): frozenset({"payments"}),
    ("GET", "/v1/invoices"): frozenset({"data.payments"}),
}

_NONE: frozenset[str] = frozenset()


class SpecChecker:
    """Validates Stripe wire traffic against one loaded spec document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.spec = Spec(document)
        self.version = self.spec.version

    def check_request(self, method: str, path: str, params: Mapping[str, Any]) -> list[str]:
        """Mismatches of one request; ``params`` is the decoded body (POST) or query.

        ``path`` is the concrete Stripe path (``/v1/payment_intents/pi_1/capture``). Each
        message starts with ``METHOD path: `` and says what is wrong and where.
        """
        method = method.upper()
        prefix = f"{method} {path}: "
        match = self.spec.match(method, path)
        if match is None:
            return [f"{prefix}no such path in Stripe's API (spec {self.version})"]
        operation = match.operation
        if operation is None:
            allowed = ", ".join(match.allowed)
            return [f"{prefix}method not allowed on {match.template} (spec has {allowed})"]
        key = (method, match.template)
        mismatches = check_params(
            self.spec,
            operation,
            params,
            NEWER_PARAMETERS.get(key, _NONE),
            NEWER_EXPANSIONS.get(key, _NONE),
        )
        return [prefix + m for m in mismatches]

    def check_response(self, method: str, path: str, status: int, body: object) -> list[str]:
        """Mismatches of one JSON response: the 2xx schema, or Stripe's error object.

        An unknown path or method gives nothing here: `check_request` already reports it.
        """
        method = method.upper()
        match = self.spec.match(method, path)
        if match is None or match.operation is None:
            return []
        schema = match.operation.response_schema(status)
        if schema is None:
            return []  # not JSON (a quote's PDF)
        prefix = f"{method} {path} → {status}: "
        return [prefix + m for m in check_body(self.spec, schema, body)]

    def check_object(self, obj: Mapping[str, Any]) -> list[str]:
        """Mismatches of one Stripe object outside a response, such as a webhook event's
        ``data.object``, against the schema its ``object`` field names."""
        name = obj.get("object")
        prefix = f"object {name} {obj.get('id', '')}".rstrip() + ": "
        schemas = self.spec.schemas_for_object(str(name))
        if not schemas:
            return [f"{prefix}no object named {name!r} in Stripe's spec"]
        # `customer` may be a customer or a deleted_customer: the best-fitting one speaks.
        found = [check_body(self.spec, schema, obj) for schema in schemas]
        return [prefix + m for m in min(found, key=len)]


def load(path: str | os.PathLike[str]) -> SpecChecker:
    """A checker for the spec at ``path`` (JSON, or YAML when no sibling ``.json`` exists)."""
    return _load_cached(str(Path(path).resolve()))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> SpecChecker:
    source = Path(path)
    if source.suffix in (".yaml", ".yml") and source.with_suffix(".json").is_file():
        source = source.with_suffix(".json")  # same data; YAML takes seconds to parse
    if not source.is_file():
        raise FileNotFoundError(f"{ENV_VAR}={path}: no such file (expected Stripe's spec3.json)")
    if source.suffix == ".json":
        with source.open("rb") as fh:
            document = json.load(fh)
    else:
        document = _load_yaml(source)
    if not isinstance(document, dict) or "paths" not in document:
        raise ValueError(f"{source} is not an OpenAPI document (no 'paths')")
    return SpecChecker(document)


def _load_yaml(source: Path) -> Any:
    try:
        yaml = importlib.import_module("yaml")
    except ImportError as exc:
        raise RuntimeError(
            f"{source} is YAML and PyYAML is not installed; point {ENV_VAR} at spec3.json"
        ) from exc
    loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    with source.open("rb") as fh:
        return yaml.load(fh, Loader=loader)  # a safe loader, chosen above


def load_from_env() -> SpecChecker | None:
    """The checker for ``$ESCROWD_STRIPE_OPENAPI`` (loaded once per process), or None if unset.

    Callers skip their checks on None and say why (`SKIP_REASON`). A set but wrong path
    raises: a misconfigured fidelity run must not pass silently.
    """
    path = os.environ.get(ENV_VAR, "").strip()
    return load(path) if path else None


# Mismatches found while serving, for the test suite to fail on.
recorder: list[str] = []
_recorder_lock = threading.Lock()


def record(mismatches: Iterable[str]) -> None:
    with _recorder_lock:
        recorder.extend(mismatches)


def drain() -> list[str]:
    """Everything recorded so far, and clear it."""
    with _recorder_lock:
        found = list(recorder)
        recorder.clear()
    return found
