"""Stripe's OpenAPI document, indexed for the spec checker: paths, operations, `$ref`s.

Only what the checker needs is built up front (the path index, a few milliseconds); each
operation's request and response schemas are assembled on first use and kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Schema = Mapping[str, Any]

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"  # only POST /v1/files (files.stripe.com)
JSON = "application/json"
_REF_PREFIX = "#/components/schemas/"
_EMPTY: Schema = {}


@dataclass(slots=True)
class Operation:
    """One method on one templated path, e.g. POST /v1/payment_intents/{intent}/capture."""

    method: str
    template: str
    raw: Schema
    _request: Schema | None = field(default=None, repr=False)

    @property
    def request_schema(self) -> Schema:
        """The parameters as one closed object: form body properties plus query parameters.

        The SDKs send GET and DELETE parameters in the query and POST ones in the body, while
        the spec puts DELETE parameters (``invoice_now`` on a subscription) in a form body and
        GET ones in ``parameters``; merging both is what a server reading either sees.
        """
        if self._request is None:
            properties: dict[str, Any] = {}
            required: list[str] = []
            content = self.raw.get("requestBody", {}).get("content", {})
            body = content.get(FORM) or content.get(MULTIPART) or {}
            body_schema: Schema = body.get("schema", _EMPTY)
            properties.update(body_schema.get("properties", {}))
            required.extend(body_schema.get("required", ()))
            for parameter in self.raw.get("parameters", ()):
                if parameter.get("in") != "query":
                    continue
                properties[parameter["name"]] = parameter.get("schema", _EMPTY)
                if parameter.get("required"):
                    required.append(parameter["name"])
            self._request = {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            }
        return self._request

    def response_schema(self, status: int) -> Schema | None:
        """The JSON schema for ``status``: ``200`` for any 2xx, ``default`` (error) otherwise."""
        responses: Schema = self.raw.get("responses", _EMPTY)
        if 200 <= status < 300:
            response = responses.get(str(status)) or responses.get("200")
        else:
            response = responses.get(str(status)) or responses.get("default")
        if not response:
            return None
        media: Schema | None = response.get("content", {}).get(JSON)
        return None if media is None else media.get("schema")


@dataclass(frozen=True, slots=True)
class PathMatch:
    template: str
    operation: Operation | None
    allowed: tuple[str, ...]  # the methods the spec has on this path


class Spec:
    """The loaded document with a path index and `$ref` resolution."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.version: str = str(document.get("info", {}).get("version", "?"))
        self._schemas: Mapping[str, Any] = document.get("components", {}).get("schemas", {})
        self._by_object: dict[str, list[Schema]] | None = None
        # (segment count, first segment after /v1) → [(segments, template, {METHOD: op})],
        # most literal segments first so /v1/customers/search wins over /v1/customers/{customer}.
        self._index: dict[
            tuple[int, str], list[tuple[tuple[str | None, ...], str, dict[str, Operation]]]
        ] = {}
        for template, methods in document.get("paths", {}).items():
            parts = template.strip("/").split("/")
            segments = tuple(None if p.startswith("{") else p for p in parts)
            operations = {
                m.upper(): Operation(m.upper(), template, op)
                for m, op in methods.items()
                if m in ("get", "post", "delete", "put", "patch")
            }
            key = (len(parts), parts[1] if len(parts) > 1 else "")
            self._index.setdefault(key, []).append((segments, template, operations))
        for bucket in self._index.values():
            bucket.sort(key=lambda entry: (-sum(s is not None for s in entry[0]), entry[1]))

    def match(self, method: str, path: str) -> PathMatch | None:
        """The operation for a concrete path (``/v1/payment_intents/pi_1/capture``), if any."""
        parts = path.strip("/").split("/")
        bucket = self._index.get((len(parts), parts[1] if len(parts) > 1 else ""), ())
        for segments, template, operations in bucket:
            if all((s is None and p != "") or s == p for s, p in zip(segments, parts, strict=True)):
                return PathMatch(template, operations.get(method.upper()), tuple(operations))
        return None

    def schemas_for_object(self, name: str) -> list[Schema]:
        """The component schemas whose ``object`` is ``name`` (customer, deleted_customer)."""
        if self._by_object is None:
            self._by_object = {}
            for schema in self._schemas.values():
                names = schema.get("properties", {}).get("object", {}).get("enum") or ()
                for object_name in names:
                    self._by_object.setdefault(object_name, []).append(schema)
        return self._by_object.get(name, [])

    def resolve(self, schema: Schema) -> Schema:
        """Follow ``$ref`` into ``components.schemas`` (the spec's only kind of reference)."""
        while "$ref" in schema:
            ref: str = schema["$ref"]
            if not ref.startswith(_REF_PREFIX):
                raise ValueError(f"unsupported $ref {ref!r} in Stripe's spec")
            schema = self._schemas[ref[len(_REF_PREFIX) :]]
        return schema

    def branches(self, schema: Schema) -> list[Schema] | None:
        """The resolved branches of an ``anyOf`` / ``oneOf``, or None for a plain schema."""
        options = schema.get("anyOf") or schema.get("oneOf")
        if options is None:
            return None
        return [self.resolve(option) for option in options]

    def object_schemas(self, schema: Schema) -> list[Schema]:
        """The object schemas a value of ``schema`` may expand to (through anyOf and arrays)."""
        schema = self.resolve(schema)
        branches = self.branches(schema)
        if branches is not None:
            return [s for branch in branches for s in self.object_schemas(branch)]
        if schema.get("type") == "array":
            return self.object_schemas(schema.get("items", _EMPTY))
        if schema.get("type") == "object" or "properties" in schema:
            return [schema]
        return []


def kind(schema: Schema) -> str:
    """A short name of what a (resolved) schema accepts, for messages."""
    if "enum" in schema:
        return "one of " + fmt_enum(schema["enum"])
    title = schema.get("title")
    name = str(schema.get("type", "any value"))
    return f"{name} ({title})" if title and name == "object" else name


def fmt_enum(values: list[Any]) -> str:
    return "[" + ", ".join('""' if v == "" else str(v) for v in values) + "]"


def fmt_value(value: object, limit: int = 40) -> str:
    """A value for a message: strings quoted and cut, containers by kind."""
    if isinstance(value, dict):
        return "a hash"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
