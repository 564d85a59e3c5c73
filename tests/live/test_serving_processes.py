"""``escrowd serve --workers N --no-background`` with ``escrowd worker``: the way to run under
load (docs/scaling.md). Several serving processes share one port and one PostgreSQL database;
they only serve requests, and the workers do the background work."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.webhooks.models import InboundWebhookEvent
from tests.live.conftest import SECRET_KEY, ServerFactory, real_container


def _spawned_children(pid: int) -> list[int]:
    """The processes ``pid`` started with multiprocessing's spawn (uvicorn's serving ones)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # the process ended while we looked
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _escrowd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own interpreter, fixed arguments)
        [sys.executable, "-c", "from escrowd.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ESCROWD_ENV": "test", "ESCROWD_SECRET_KEY": SECRET_KEY},
        check=False,
    )


async def _inbound_statuses(url: str) -> list[str]:
    container = real_container(url)
    try:
        async with container.db.transaction() as session:
            return list(await session.scalars(select(InboundWebhookEvent.status)))
    finally:
        await container.close()


async def test_two_serving_processes_leave_the_webhooks_to_the_worker(
    servers: ServerFactory, postgres_url: str
) -> None:
    (server,) = servers(postgres_url, 1, "--workers", "2", "--no-background")
    serving = await asyncio.to_thread(_spawned_children, server.process.pid)
    assert len(serving) >= 2, (serving, server.log.read_text())

    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        answers = await asyncio.gather(*(http.get("/healthz") for _ in range(20)))
        assert {a.status_code for a in answers} == {200}
        # The sandbox (standing in for Stripe) makes a customer and queues its webhook.
        made = await http.post(
            "/sandbox/stripe/v1/customers",
            data={"email": "scale@example.com"},
            headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
        )
        assert made.status_code == 200, made.text
        # Nothing was delivered or processed by the serving processes (a request's worth of
        # background loops would have done it long before this second request returns).
        await asyncio.sleep(1.0)
        assert (await http.get("/healthz")).status_code == 200
    assert await _inbound_statuses(postgres_url) == []

    worker = await asyncio.to_thread(_escrowd, "worker", "--once", "--database-url", postgres_url)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    statuses = await _inbound_statuses(postgres_url)
    assert statuses, worker.stdout + worker.stderr
    assert "received" not in statuses, statuses


def test_more_than_one_serving_process_needs_postgresql(tmp_path: Path) -> None:
    run = _escrowd(
        "serve",
        "--workers",
        "2",
        "--database-url",
        f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}",
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "--workers 2 needs PostgreSQL" in run.stderr
    assert not (tmp_path / "one.sqlite3").exists()  # refused before migrating anything
