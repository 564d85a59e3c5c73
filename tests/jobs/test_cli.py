"""``escrowd worker``: --once drains what is due; Ctrl-C stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from escrowd import bootstrap
from escrowd.bootstrap import Registries, build
from escrowd.bootstrap import registries as default_registries
from escrowd.config import Environment, Settings
from escrowd.jobs import JobContext
from escrowd.jobs.cli import worker
from escrowd.jobs.models import Job, Sweep
from tests.jobs.conftest import add_job, unique_kind

app = typer.Typer()
app.command()(worker)


@pytest.fixture
def sqlite_url(fresh_db_url_factory: Callable[[str], str]) -> str:
    return fresh_db_url_factory("sqlite")


@pytest.fixture
def kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """A kind the command's worker handles: the process's registries (what ``build`` wires)
    plus one handler of this test's."""
    name = unique_kind("cli")

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        return None

    def with_handler() -> Registries:
        made = default_registries()
        made.jobs.add_handler(name, handle)
        return made

    monkeypatch.setattr(bootstrap, "registries", with_handler)
    return name


def _settings(url: str) -> Settings:
    return Settings(env=Environment.test, database_url=url)


def _enqueue(url: str, kind: str, n: int) -> None:
    async def run() -> None:
        container = build(_settings(url))
        try:
            for _ in range(n):
                await add_job(container, kind)
            await add_job(container, unique_kind("not_mine"))
        finally:
            await container.close()

    asyncio.run(run())


def _state(url: str) -> tuple[dict[str, str], set[str]]:
    async def run() -> tuple[dict[str, str], set[str]]:
        container = build(_settings(url))
        try:
            async with container.db.transaction() as session:
                rows = (await session.execute(select(Job.kind, Job.status))).all()
                sweeps = set((await session.scalars(select(Sweep.name))).all())
            jobs = {r.kind: r.status for r in rows}
            return jobs, sweeps
        finally:
            await container.close()

    return asyncio.run(run())


def test_worker_once_runs_the_due_jobs_of_its_kinds_then_exits(sqlite_url: str, kind: str) -> None:
    _enqueue(sqlite_url, kind, 3)
    result = CliRunner().invoke(app, ["--once", "--kind", kind, "--database-url", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "3 succeeded, 0 retried, 0 failed" in result.output
    assert kind in result.output  # the start line lists the handlers
    jobs, sweeps = _state(sqlite_url)
    assert jobs[kind] == "succeeded"
    assert sorted(jobs.values()).count("queued") == 1  # the other kind was left alone
    assert "jobs.prune" in sweeps


def test_worker_refuses_a_database_without_the_jobs_table(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    result = CliRunner().invoke(app, ["--once", "--database-url", url])
    assert result.exit_code == 2
    assert "escrowd migrate" in result.output


def test_ctrl_c_stops_a_running_worker_cleanly(sqlite_url: str) -> None:
    code = "import typer; from escrowd.jobs.cli import worker; typer.run(worker)"
    env = {**os.environ, "ESCROWD_ENV": "test", "ESCROWD_LOG_FORMAT": "console"}
    proc = subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
        [sys.executable, "-c", code, "--database-url", sqlite_url, "--poll-interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = ""
        deadline = time.monotonic() + 30
        while "Ctrl-C to stop" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert "Ctrl-C to stop" in seen, seen
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, seen + rest
    assert "Stopping" in rest
    assert "Done:" in rest
    assert "Traceback" not in rest


def _inbound_statuses(url: str) -> list[str]:
    from escrowd.webhooks.models import InboundWebhookEvent

    async def read() -> list[str]:
        container = build(_settings(url))
        try:
            async with container.db.transaction() as session:
                rows = await session.scalars(select(InboundWebhookEvent.status))
                return list(rows)
        finally:
            await container.close()

    return asyncio.run(read())


def _sandbox_customer(url: str) -> None:
    """A customer made at the sandbox: the sandbox queues its ``customer.created`` webhook."""
    from escrowd.providers.types import CustomerRequest

    async def make() -> None:
        container = build(_settings(url))
        try:
            await container.provider.create_customer(
                CustomerRequest(idempotency_key=f"cli-{time.time_ns()}", email="w@example.com")
            )
        finally:
            await container.close()

    asyncio.run(make())


def test_worker_once_delivers_the_sandboxs_webhooks_and_processes_them(sqlite_url: str) -> None:
    """With `escrowd serve --no-background`, the workers do what the serving process would:
    the sandbox's webhooks reach escrowd's intake and the stored events are processed."""
    _sandbox_customer(sqlite_url)
    assert _inbound_statuses(sqlite_url) == []

    skipped = CliRunner().invoke(app, ["--once", "--no-webhooks", "--database-url", sqlite_url])
    assert skipped.exit_code == 0, skipped.output
    assert "inbound webhooks: off" in skipped.output
    assert _inbound_statuses(sqlite_url) == []

    result = CliRunner().invoke(app, ["--once", "--database-url", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "inbound webhooks: on" in result.output
    statuses = _inbound_statuses(sqlite_url)
    assert statuses, "the sandbox's customer.created was not delivered"
    assert "received" not in statuses, statuses  # stored and processed, none left waiting
