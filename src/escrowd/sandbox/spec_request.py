"""Walk a decoded Stripe form (body or query) against an operation's parameter schema.

Form leaves are strings, so scalars are checked after the coercion Stripe's server applies:
``"100"`` is an integer, ``"true"`` a boolean. Messages are the part after ``METHOD path: ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from escrowd.sandbox.spec_schema import Operation, Schema, Spec, fmt_enum, fmt_value, kind

_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_BOOLEANS = frozenset({"true", "false"})
_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})
_ARTICLE = {"integer": "an integer", "array": "an array", "object": "a hash (object)"}
MAX_EXPAND_DEPTH = 4  # Stripe refuses deeper expansions ("more than 4 levels")


def _child(name: str, key: str | int) -> str:
    return str(key) if not name else f"{name}[{key}]"


def _shape(schema: Schema) -> str:
    if schema.get("enum") == [""]:
        return "unset"
    declared = schema.get("type")
    if declared in ("object", "array"):
        return str(declared)
    return "scalar" if declared in _SCALAR_TYPES else "any"


def _fits(shape: str, value: object) -> bool:
    if shape == "any":
        return True
    if isinstance(value, dict):
        return shape == "object"
    if isinstance(value, list):
        return shape in ("array", "object")  # an indexed list may be a hash with keys 0..n
    if shape == "unset":
        return value == ""
    return shape == "scalar"


def check_params(
    spec: Spec,
    operation: Operation,
    params: Mapping[str, Any],
    newer_parameters: frozenset[str] = frozenset(),
    newer_expansions: frozenset[str] = frozenset(),
) -> list[str]:
    """Mismatches of ``params`` against ``operation``; names in ``newer_*`` pass unchecked."""
    walk = _FormWalk(spec, newer_parameters)
    walk.walk_object(operation.request_schema, dict(params), "")
    expand = params.get("expand")
    root = operation.response_schema(200)
    if isinstance(expand, list) and root is not None:
        for i, path in enumerate(expand):
            if isinstance(path, str) and path not in newer_expansions:
                walk.expansion(root, path, _child("expand", i))
    return walk.out


class _FormWalk:
    """One request's walk: the spec, the allowlisted names, and the mismatches found."""

    __slots__ = ("newer", "out", "spec")

    def __init__(self, spec: Spec, newer: frozenset[str]) -> None:
        self.spec = spec
        self.newer = newer
        self.out: list[str] = []

    def walk_value(self, schema: Schema, value: object, name: str) -> None:
        schema = self.spec.resolve(schema)
        branches = self.spec.branches(schema)
        if branches is not None:
            self._any_of(branches, value, name)
            return
        declared = schema.get("type")
        if declared == "object":
            self.walk_object(schema, value, name)
        elif declared == "array":
            self._array(schema, value, name)
        elif declared in _SCALAR_TYPES:
            self._scalar(schema, str(declared), value, name)
        # A schema with no type accepts anything; the spec leaves such values open.

    def _any_of(self, branches: list[Schema], value: object, name: str) -> None:
        # Stripe models "unset this" as a branch {type: string, enum: [""]}; a value passes when
        # any branch takes it, so "" passes exactly where such a branch exists.
        failures: list[list[str]] = []
        outer = self.out
        try:
            for branch in branches:
                self.out = []
                self.walk_value(branch, value, name)
                if not self.out:
                    return
                failures.append(self.out)
        finally:
            self.out = outer
        fitting = [
            errs
            for branch, errs in zip(branches, failures, strict=True)
            if _fits(_shape(branch), value) and _shape(branch) != "unset"
        ]
        if len(fitting) == 1:
            self.out.extend(fitting[0])  # the one branch the value was meant for says what is wrong
        elif value == "":
            self.out.append(self._cannot_unset(name))
        else:
            kinds = ", ".join(kind(b) for b in branches)
            self.out.append(f"parameter {name!r}={fmt_value(value)} matches none of: {kinds}")

    @staticmethod
    def _cannot_unset(name: str) -> str:
        return f"parameter {name!r}='' (an empty string, which unsets) cannot be unset"

    def walk_object(self, schema: Schema, value: object, name: str) -> None:
        if isinstance(value, list):
            # The decoder cannot tell ``metadata[0]=x`` (a hash key "0") from a list.
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            self.out.append(
                self._cannot_unset(name) if value == "" else self._not_a(name, value, "object")
            )
            return
        properties: Schema = schema.get("properties", {})
        # Request objects without `additionalProperties` are closed: Stripe answers "Received
        # unknown parameter: transfer_data[foo]". Free-form ones (metadata, currency_options)
        # carry an `additionalProperties` schema for their values.
        extra = schema.get("additionalProperties", False)
        for key, item in value.items():
            sub = _child(name, key)
            if key in properties:
                self.walk_value(properties[key], item, sub)
            elif isinstance(extra, Mapping):
                self.walk_value(extra, item, sub)
            elif extra is not True and sub not in self.newer:
                self.out.append(f"unknown parameter {sub!r}")
        for key in schema.get("required", ()):
            if key not in value:
                self.out.append(f"missing required parameter {_child(name, key)!r}")

    def _array(self, schema: Schema, value: object, name: str) -> None:
        if not isinstance(value, list):
            if value == "":
                self.out.append(self._cannot_unset(name))
            elif isinstance(value, dict) and value and all(k.isdigit() for k in value):
                self.out.append(f"parameter {name!r} is not an array: its indices must run from 0")
            else:
                self.out.append(self._not_a(name, value, "array"))
            return
        items: Schema = schema.get("items", {})
        for i, item in enumerate(value):
            self.walk_value(items, item, _child(name, i))

    def _scalar(self, schema: Schema, declared: str, value: object, name: str) -> None:
        if not isinstance(value, str):
            self.out.append(f"parameter {name!r} is {fmt_value(value)}, not a single {declared}")
            return
        if declared == "integer":
            ok = _INTEGER.fullmatch(value) is not None
        elif declared == "number":
            ok = _NUMBER.fullmatch(value) is not None
        elif declared == "boolean":
            ok = value in _BOOLEANS
        else:
            ok = schema.get("format") != "decimal" or _NUMBER.fullmatch(value) is not None
            declared = "decimal string" if not ok else declared
        if not ok:
            self.out.append(
                self._cannot_unset(name) if value == "" else self._not_a(name, value, declared)
            )
            return
        enum = schema.get("enum")
        # x-stripeBypassValidation marks enums Stripe itself does not enforce (values may be
        # added without notice), so the spec is lenient there and so are we.
        if (
            enum is not None
            and not schema.get("x-stripeBypassValidation")
            and value not in enum
            and value not in {_form_text(v) for v in enum}
        ):
            self.out.append(f"parameter {name!r}={fmt_value(value)} not in enum {fmt_enum(enum)}")
            return
        max_length = schema.get("maxLength")
        if max_length is not None and len(value) > max_length:
            self.out.append(
                f"parameter {name!r} is {len(value)} characters, over maxLength {max_length}"
            )
        pattern = schema.get("pattern")
        if pattern is not None and re.search(pattern, value) is None:
            self.out.append(f"parameter {name!r}={fmt_value(value)} does not match {pattern!r}")

    @staticmethod
    def _not_a(name: str, value: object, declared: str) -> str:
        article = _ARTICLE.get(declared, f"a {declared}")
        if declared == "boolean":
            article += " (true or false)"
        return f"parameter {name!r}={fmt_value(value)} is not {article}"

    def expansion(self, root: Schema, path: str, name: str) -> None:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            self.out.append(
                f"parameter {name!r}={path!r} expands more than {MAX_EXPAND_DEPTH} levels"
            )
            return
        schemas = self.spec.object_schemas(root)
        for depth, part in enumerate(parts):
            expandable = {f for s in schemas for f in s.get("x-expandableFields", ())}
            if part not in expandable:
                where = ".".join(parts[:depth]) or _title(schemas)
                choices = ", ".join(sorted(expandable)) or "nothing"
                self.out.append(
                    f"parameter {name!r}={path!r}: {part!r} is not expandable on {where} "
                    f"(expandable: {choices})"
                )
                return
            schemas = [
                found
                for s in schemas
                if part in s.get("properties", {})
                for found in self.spec.object_schemas(s["properties"][part])
            ]


def _form_text(value: object) -> str:
    """An enum value as it appears in a form: booleans lower-case, numbers as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _title(schemas: list[Schema]) -> str:
    for schema in schemas:
        name = schema.get("x-resourceId") or schema.get("title")
        if name:
            return str(name)
    return "the response"
