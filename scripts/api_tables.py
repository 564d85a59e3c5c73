#!/usr/bin/env python3
"""Rewrite the request-field tables in docs/*.md from escrowd's OpenAPI document.

A table lives between two markers naming an operation:

    <!-- fields:begin POST /v1/users -->
    ...generated...
    <!-- fields:end -->

Run ``scripts/api_tables.py`` (with the project's Python, e.g. ``.venv/bin/python``) after
changing a request model to rewrite them; ``--check`` only reports stale tables and operations
with request fields that no table covers, and exits 1 if there are any (tests/unit/test_api_docs.py
runs it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(<!-- fields:begin (?P<method>[A-Z]+) (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- fields:end -->)",
    re.DOTALL,
)
Schema = dict[str, Any]


def openapi() -> Schema:
    """The OpenAPI document of an app in development mode (the sandbox's routes included)."""
    from escrowd.app import create_app
    from escrowd.bootstrap import build
    from escrowd.config import Environment, Settings

    settings = Settings(
        env=Environment.test, database_url="sqlite+aiosqlite:///:memory:", marketplaces="all"
    )
    doc: Schema = create_app(build(settings), background=False).openapi()
    return doc


def _deref(schema: Schema, doc: Schema) -> Schema:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _without_null(schema: Schema, doc: Schema) -> tuple[Schema, bool]:
    """The schema behind ``X | None``, and whether null is allowed."""
    options = schema.get("anyOf")
    if options:
        real = [o for o in options if o.get("type") != "null"]
        if len(real) == 1:
            merged = {**schema, **_deref(real[0], doc)}
            merged.pop("anyOf", None)
            return merged, len(real) < len(options)
    return _deref(schema, doc) | {k: v for k, v in schema.items() if k != "$ref"}, False


def _named(schema: Schema) -> str | None:
    """The name of the shared schema a field refers to (``Currency``), if it does."""
    for option in [schema, *schema.get("anyOf", [])]:
        if "$ref" in option:
            return str(option["$ref"].rsplit("/", 1)[-1])
    return None


#: Enums longer than this are named (``Currency``), not spelled out value by value.
_LONGEST_ENUM = 8


def _type(schema: Schema, doc: Schema) -> str:
    name = _named(schema)
    schema, nullable = _without_null(schema, doc)
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if len(options) > 1:  # integer or string, say
        nullable = nullable or len(options) < len(schema["anyOf"])
        kind = " or ".join(_type(o, doc) for o in options)
    elif "enum" in schema and name and len(schema["enum"]) > _LONGEST_ENUM:
        kind = f"{schema.get('type', 'any')} (`{name}`)"
    elif "enum" in schema:
        kind = " or ".join(f"`{v}`" for v in schema["enum"])
    elif schema.get("type") == "array":
        item, _ = _without_null(schema.get("items", {}), doc)
        kind = "list of objects" if item.get("properties") else f"list of {_type(item, doc)}"
    elif schema.get("type") == "integer":
        low, high = _number(schema.get("minimum")), _number(schema.get("maximum"))
        bounds = f" {low}–{high}" if low and high else ""
        bounds = bounds or (f" ≥ {low}" if low else "")
        kind = "integer" + bounds
    elif schema.get("type") == "object" or schema.get("properties"):
        kind = "object"
    else:
        kind = str(schema.get("type", "any"))
    return kind + (" or null" if nullable else "")


def _number(value: object) -> str:
    if isinstance(value, int | float):
        return f"{value:,.0f}" if float(value).is_integer() else str(value)
    return ""


def _rows(schema: Schema, doc: Schema, prefix: str = "") -> list[tuple[str, str, str, str]]:
    schema, _ = _without_null(schema, doc)
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        plain, _ = _without_null(prop, doc)
        description = " ".join(
            str(prop.get("description") or plain.get("description") or "").split()
        )
        if "default" in prop and prop["default"] not in (None, {}, []):
            description = f"{description} Default `{prop['default']}`.".strip()
        field = f"{prefix}{name}"
        rows.append((field, _type(prop, doc), "**yes**" if name in required else "no", description))
        nested = plain
        suffix = "."
        if plain.get("type") == "array":
            nested, _ = _without_null(plain.get("items", {}), doc)
            suffix = "[]."
        if nested.get("properties") and prefix.count(".") < 2:
            rows += _rows(nested, doc, f"{field}{suffix}")
    return rows


def _body_schema(doc: Schema, method: str, path: str) -> Schema | None:
    op = doc["paths"].get(path, {}).get(method.lower())
    if op is None:
        raise KeyError(f"{method} {path} is not in the OpenAPI document")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    return None if body is None else dict(body["schema"])


def table(doc: Schema, method: str, path: str) -> str:
    schema = _body_schema(doc, method, path)
    rows = _rows(schema, doc) if schema is not None else []
    if not rows:
        return "No request body.\n"
    esc = [tuple(cell.replace("|", "\\|") for cell in row) for row in rows]
    lines = ["| field | type | required | meaning |", "|---|---|---|---|"]
    lines += [f"| `{f}` | {t} | {r} | {d} |" for f, t, r, d in esc]
    return "\n".join(lines) + "\n"


def operations_with_fields(doc: Schema) -> set[tuple[str, str]]:
    found = set()
    for path, ops in doc["paths"].items():
        for method in ops:
            schema = _body_schema(doc, method, path)
            if schema is not None and _rows(schema, doc):
                found.add((method.upper(), path))
    return found


def rewrite(doc: Schema, text: str) -> tuple[str, set[tuple[str, str]]]:
    covered: set[tuple[str, str]] = set()

    def fill(m: re.Match[str]) -> str:
        covered.add((m["method"], m["path"]))
        return m.group(1) + table(doc, m["method"], m["path"]) + m.group(5)

    return BLOCK.sub(fill, text), covered


def problems(doc: Schema, docs: Path = DOCS) -> list[str]:
    """Stale tables and uncovered operations; [] when the docs are true."""
    found, covered = [], set()
    for md in sorted(docs.glob("*.md")):
        text = md.read_text()
        new, seen = rewrite(doc, text)
        covered |= seen
        if new != text:
            found.append(f"docs/{md.name}: request-field tables are stale")
    for method, path in sorted(operations_with_fields(doc) - covered):
        found.append(f"{method} {path}: no <!-- fields:begin {method} {path} --> table in docs/")
    return found


def main(argv: list[str]) -> int:
    doc = openapi()
    if "--check" in argv:
        found = problems(doc)
        for line in found:
            sys.stderr.write(line + "\n")
        if found:
            sys.stderr.write("run scripts/api_tables.py to rewrite the tables\n")
        return 1 if found else 0
    for md in sorted(DOCS.glob("*.md")):
        text = md.read_text()
        new, _ = rewrite(doc, text)
        if new != text:
            md.write_text(new)
            sys.stdout.write(f"rewrote {md.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
