"""The request-field tables in docs/*.md are the OpenAPI document's: every operation that takes
fields has one, and none is stale (``scripts/api_tables.py`` rewrites them)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_tables", ROOT / "scripts/api_tables.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("api_tables", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc(api_tables: Any) -> dict[str, Any]:
    openapi: dict[str, Any] = api_tables.openapi()
    return openapi


def test_the_docs_request_field_tables_are_up_to_date(api_tables: Any, doc: Any) -> None:
    assert api_tables.problems(doc) == [], "run scripts/api_tables.py"


def test_signing_up_documents_that_name_is_required(api_tables: Any, doc: Any) -> None:
    auth = (ROOT / "docs/auth.md").read_text()
    assert "| `name` | string | **yes** |" in auth
    assert "| `name` | string | **yes** |" in api_tables.table(doc, "POST", "/v1/users")


def test_a_stale_table_and_an_uncovered_operation_are_reported(
    api_tables: Any, doc: Any, tmp_path: Path
) -> None:
    (tmp_path / "auth.md").write_text(
        "<!-- fields:begin POST /v1/users -->\n| `email` | string | **yes** | |\n"
        "<!-- fields:end -->\n"
    )
    found = api_tables.problems(doc, docs=tmp_path)
    assert any("stale" in line for line in found)
    assert any(line.startswith("POST /v1/escrows: no") for line in found)
    assert not any(line.startswith("POST /v1/users: no") for line in found)
