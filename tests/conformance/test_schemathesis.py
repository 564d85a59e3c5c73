"""The OpenAPI document tells the truth: schemathesis drives every operation in process.

Two principals, each on a database of its own, so neither can spoil the other's run:

- a platform API key (acts as an admin). It has no user behind it, and API keys cannot be
  managed with an API key (that takes an admin *user*), so nothing it is allowed to do can
  revoke it or lock an admin out;
- a client user's access token. A client may not disable itself or change its own role.

Every operation runs the examples, coverage and fuzzing phases with all checks, then a short
stateful run follows the document's links. Settings come from schemathesis.toml (seeded and
deterministic); only the number of examples is lowered here to fit the suite's budget. The
longer run against `escrowd serve` is in docs/schemathesis.md.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import hooks as schemathesis_hooks
from schemathesis.engine import events, from_schema

from escrowd.app import create_app
from escrowd.bootstrap import build
from escrowd.config import Environment, Settings
from escrowd.users import passwords, service, tokens
from escrowd.users.api_keys import service as api_keys
from tests.conformance import hooks
from tests.conftest import BACKENDS, create_sqlite_database

ROOT = Path(__file__).resolve().parents[2]
# Registered on import: a fresh Idempotency-Key per request.
assert hooks.before_call in schemathesis_hooks.get_all_by_name("before_call")
#: Per operation and phase: enough to find the classes of mismatch, small enough for CI.
MAX_EXAMPLES = 8

pytestmark = pytest.mark.skipif("sqlite" not in BACKENDS, reason="runs on SQLite only")


def _config(token: str) -> schemathesis.Config:
    data: dict[str, Any] = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    data["generation"]["max-examples"] = MAX_EXAMPLES
    data["auth"] = {"openapi": {"bearer": {"bearer": token}}}
    return schemathesis.Config.from_dict(data)


def _settings(path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=create_sqlite_database(path),
        secret_key="schemathesis-secret-key-that-is-long-enough-0123",
        marketplaces="all",
    )


async def _api_key(settings: Settings) -> str:
    container = build(settings)
    try:
        async with container.db.transaction() as session:
            _, secret = await api_keys.create(
                session, clock=container.clock, name="schemathesis", created_by=None
            )
        return secret
    finally:
        await container.close()


async def _client_token(settings: Settings) -> str:
    container = build(settings)
    try:
        async with container.db.transaction() as session:
            user = await service.create(
                session,
                clock=container.clock,
                passwords=passwords.for_settings(settings),
                email="schemathesis-client@example.com",
                password="correct horse battery staple",
                name="Schemathesis client",
                role="client",
                granted_by_admin=True,
            )
        return tokens.issue(
            settings=settings, clock=container.clock, user_id=user.id, role="client"
        ).token
    finally:
        await container.close()


def _run(settings: Settings, token: str) -> list[str]:
    """Run schemathesis's engine over the app in process: its failures, one line each."""
    # No background loop: nothing runs between requests but what the requests start.
    app: FastAPI = create_app(build(settings), background=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(token))
    failures: list[str] = []
    errors: list[str] = []
    finished: events.EngineFinished | None = None
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            failures.extend(_failures(event))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(f"{type(event).__name__}: {event}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None
    failures.extend(f"{f.code} {f.operation}: {f.title}" for f in finished.failures)
    return sorted(set(failures)) + errors


def _failures(event: events.ScenarioFinished) -> Iterator[str]:
    recorder = event.recorder
    for case_id, checks in recorder.checks.items():
        for check in checks:
            info = check.failure_info
            if info is None:
                continue
            failure = info.failure
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            got = "" if response is None else f" -> {response.status_code} {response.text[:300]}"
            first = failure.message.splitlines()[0] if failure.message else ""
            yield (
                f"[{event.phase.value}] {failure.code} {failure.operation}: {failure.title}"
                f" ({first}){got}\n    {info.code_sample}"
            )


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    return tmp_path / "schemathesis.sqlite3"


def test_every_operation_with_a_platform_api_key(database_path: Path) -> None:
    settings = _settings(database_path)
    failures = _run(settings, asyncio.run(_api_key(settings)))
    assert not failures, "\n".join(failures)


def test_every_operation_with_a_client_token(database_path: Path) -> None:
    settings = _settings(database_path)
    failures = _run(settings, asyncio.run(_client_token(settings)))
    assert not failures, "\n".join(failures)
