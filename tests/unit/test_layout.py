"""The layout docs/architecture.md sets down ("One layout per domain"), checked on the tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "escrowd"
DOMAINS = sorted(SRC.rglob("domain.py"))
#: What a pure rules module must not reach for.
OUTER = ("sqlalchemy", "fastapi", "starlette", "httpx", "stripe", "escrowd.db", "escrowd.api")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_there_are_domain_modules_to_check() -> None:
    assert len(DOMAINS) >= 8


@pytest.mark.parametrize("path", DOMAINS, ids=lambda p: str(p.relative_to(SRC)))
def test_domain_modules_import_no_framework(path: Path) -> None:
    outer = sorted(
        name for name in _imports(path) for o in OUTER if name == o or name.startswith(o + ".")
    )
    assert not outer, f"{path.relative_to(SRC)} imports {outer}: domain.py holds pure rules"


def test_no_domain_names_a_module_after_a_layout_file_with_a_prefix() -> None:
    # routes_x.py / x_routes.py is what a subpackage x/ with its own routes.py replaces.
    odd = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "sandbox" not in p.parts
        and any(
            p.stem != layout and (p.stem.startswith(layout + "_") or p.stem.endswith("_" + layout))
            for layout in ("domain", "models", "schemas", "service", "routes")
        )
    )
    assert not odd, f"modules that should be a subpackage's layout files: {odd}"


def test_the_sandbox_never_imports_the_composition_root() -> None:
    # bootstrap builds the sandbox from a Host (settings, db, clock); the reverse would be a
    # cycle. clock_routes.py is escrowd's own API about the sandbox, served by the app.
    sandbox = [p for p in (SRC / "sandbox").rglob("*.py") if p.name != "clock_routes.py"]
    reaching = sorted(
        str(p.relative_to(SRC))
        for p in sandbox
        for name in _imports(p)
        if name in ("escrowd.bootstrap", "escrowd.app") or name.startswith("escrowd.api")
    )
    assert sandbox
    assert not reaching, f"sandbox modules importing the app or its wiring: {reaching}"


#: What a routes.py may import from its own package beyond the five layout files (and the
#: routers of its subpackages), each named in docs/architecture.md.
ROUTES_MAY_CALL = {
    "users": {"passwords", "tokens"},  # the credentials
    "jobs": {"incidents"},  # the shared incidents module
    "accounts": {"refresh_links"},  # the onboarding refresh page and its links
    "escrows": {"funding", "refund", "release", "states"},  # money verbs; the state machine
    "events": {"stream"},  # Server-Sent Events for GET /v1/events/stream
    "web": {"checkout", "once"},  # Stripe.js settings; a money form's idempotency key
}
ROUTES = sorted(p for p in SRC.rglob("routes.py") if "sandbox" not in p.parts)


def _own_modules(path: Path) -> set[str]:
    """The modules of ``path``'s own package that ``path`` imports (``escrowd.a.b.x`` → x)."""
    package = ".".join(("escrowd", *path.parent.relative_to(SRC).parts))
    own: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == package:
                own.update(a.name for a in node.names)
            elif node.module.startswith(package + "."):
                own.add(node.module[len(package) + 1 :])
    return own


def test_there_are_routes_to_check() -> None:
    assert len(ROUTES) >= 10


@pytest.mark.parametrize("path", ROUTES, ids=lambda p: str(p.relative_to(SRC)))
def test_routes_call_their_service(path: Path) -> None:
    allowed = {"service", "domain", "models", "schemas"}
    allowed |= ROUTES_MAY_CALL.get(path.parent.name, set())
    own = {m for m in _own_modules(path) if not m.endswith(".routes")}  # subpackage routers
    assert own <= allowed, (
        f"{path.relative_to(SRC)} calls {sorted(own - allowed)}: routes call service.py "
        "(docs/architecture.md, One layout per domain)"
    )
