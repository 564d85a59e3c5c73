"""Walk a JSON response body against an operation's response schema.

Checked for every field the body has: JSON type, ``nullable``, ``enum`` (so ``object`` values
too), ``maxLength``, ``pattern``, and that each object has its ``required`` fields. Messages are
the part after ``METHOD path → status: ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from escrowd.sandbox.spec_schema import Schema, Spec, fmt_enum, fmt_value, kind

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _child(where: str, key: str) -> str:
    return key if not where else f"{where}.{key}"


def check_body(spec: Spec, schema: Schema, body: object) -> list[str]:
    walk = _JsonWalk(spec)
    walk.walk_value(schema, body, "")
    return walk.out


class _JsonWalk:
    __slots__ = ("out", "spec")

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.out: list[str] = []

    def walk_value(self, schema: Schema, value: object, where: str) -> None:
        # `nullable` sits on the property (next to its anyOf / $ref), so look before resolving.
        if value is None:
            if not schema.get("nullable") and not self.spec.resolve(schema).get("nullable"):
                self.out.append(f"field {where or 'body'!r} is null but not nullable")
            return
        schema = self.spec.resolve(schema)
        branches = self.spec.branches(schema)
        if branches is not None:
            self._any_of(branches, value, where)
            return
        declared = schema.get("type")
        if declared is None:
            return  # the spec leaves an untyped value open
        expected = _JSON_TYPES.get(str(declared), ())
        # bool is an int in Python, but JSON's true is not an integer.
        if not isinstance(value, expected) or (isinstance(value, bool) and declared != "boolean"):
            self.out.append(f"field {where or 'body'!r}={fmt_value(value)} is not {declared}")
            return
        if isinstance(value, dict):
            self._object(schema, value, where)
        elif isinstance(value, list):
            items: Schema = schema.get("items", {})
            for i, item in enumerate(value):
                self.walk_value(items, item, f"{where}[{i}]")
        else:
            self._scalar(schema, value, where)

    def _any_of(self, branches: list[Schema], value: object, where: str) -> None:
        failures: list[list[str]] = []
        outer = self.out
        try:
            for branch in branches:
                self.out = []
                self.walk_value(branch, value, where)
                if not self.out:
                    return
                failures.append(self.out)
        finally:
            self.out = outer
        # An expandable field is an id string or one of several objects; report against the
        # branch the value claims to be (its `object`), else the closest one.
        candidates: list[list[str]] = [
            errors
            for branch, errors in zip(branches, failures, strict=True)
            if _claims(branch, value)
        ]
        if candidates:
            closest: list[str] = min(candidates, key=len)
            self.out.extend(closest)
        else:
            kinds = ", ".join(kind(b) for b in branches)
            self.out.append(
                f"field {where or 'body'!r}={fmt_value(value)} matches none of: {kinds}"
            )

    def _object(self, schema: Schema, value: Mapping[str, Any], where: str) -> None:
        properties: Schema = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                self.walk_value(properties[key], item, _child(where, key))
            elif isinstance(extra, Mapping):
                self.walk_value(extra, item, _child(where, key))
            # Otherwise ignored: response objects in the spec are open (no additionalProperties),
            # and newer API versions add fields the 2023 spec has never heard of.
        for key in schema.get("required", ()):
            if key not in value:
                self.out.append(f"missing required field {_child(where, key)!r}")

    def _scalar(self, schema: Schema, value: object, where: str) -> None:
        enum = schema.get("enum")
        # x-stripeBypassValidation: Stripe may send values outside this enum (the spec says so).
        if enum is not None and value not in enum and not schema.get("x-stripeBypassValidation"):
            self.out.append(f"field {where!r}={fmt_value(value)} not in enum {fmt_enum(enum)}")
            return
        if isinstance(value, str):
            max_length = schema.get("maxLength")
            if max_length is not None and len(value) > max_length:
                self.out.append(
                    f"field {where!r} is {len(value)} characters, over maxLength {max_length}"
                )
            pattern = schema.get("pattern")
            if pattern is not None and re.search(pattern, value) is None:
                self.out.append(f"field {where!r}={fmt_value(value)} does not match {pattern!r}")


def _claims(branch: Schema, value: object) -> bool:
    """Whether ``value`` is meant to be of ``branch``: same JSON kind and same ``object`` name."""
    declared = branch.get("type")
    if isinstance(value, dict):
        if declared not in ("object", None):
            return False
        names = branch.get("properties", {}).get("object", {}).get("enum")
        return names is None or value.get("object") in names
    if declared is None:
        return True
    expected = _JSON_TYPES.get(str(declared), ())
    return isinstance(value, expected) and not (isinstance(value, bool) and declared != "boolean")
