"""Optional validation of every request and response against Stripe's OpenAPI spec.

``escrowd.sandbox.spec_check`` (loaded when ``ESCROWD_STRIPE_OPENAPI`` names the spec) checks
parameters and bodies; mismatches go to its ``recorder`` and fail the test that caused them.
Without the module or the variable, nothing is checked and nothing is slowed down.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol


class Checker(Protocol):
    def check_request(self, method: str, path: str, params: Any) -> list[str]: ...
    def check_response(self, method: str, path: str, status: int, body: Any) -> list[str]: ...
    def check_object(self, obj: Any) -> list[str]: ...


class SpecHook:
    def __init__(self) -> None:
        self.checker: Checker | None = None
        self._record: Callable[[list[str]], None] = _ignore
        try:
            module = importlib.import_module("escrowd.sandbox.spec_check")
        except ImportError:  # the checker is optional (it needs the spec file anyway)
            return
        self.checker = module.load_from_env()
        self._record = module.record

    def request(self, method: str, path: str, params: Any) -> None:
        if self.checker is not None:
            self._record(self.checker.check_request(method, path, params))

    def response(self, method: str, path: str, status: int, body: Any) -> None:
        if self.checker is not None:
            self._record(self.checker.check_response(method, path, status, body))

    def event_object(self, obj: Any) -> None:
        """A webhook event's ``data.object`` against the schema its ``object`` names."""
        if self.checker is not None and isinstance(obj, dict) and obj.get("object"):
            self._record(self.checker.check_object(obj))


def _ignore(_: list[str]) -> None:
    return None
