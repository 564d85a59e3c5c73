"""Helpers for job tests: a private handler registry, unique kinds, job rows, a client with
the incidents router.

Tests share the session's databases with every other test, so each one registers its
handlers on its own ``Registry`` under unique kind names and runs workers that claim only
those kinds (``drain``); leftovers of other tests are never touched.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Collection
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from ulid import ULID

from escrowd.app import create_app
from escrowd.bootstrap import Container
from escrowd.jobs import Registry, enqueue
from escrowd.jobs.models import Incident, Job
from escrowd.jobs.routes import router as incidents_router
from escrowd.jobs.worker import Worker

#: The jitter's random source in tests: every wait is exactly half its ceiling.
HALF = 0.5


def unique_kind(label: str = "test") -> str:
    return f"test.{label}.{str(ULID()).lower()}"


@pytest.fixture
def registry() -> Registry:
    return Registry()


def worker(
    container: Container,
    registry: Registry,
    *,
    kinds: Collection[str] | None = None,
    worker_id: str | None = None,
    lease: timedelta | None = None,
) -> Worker:
    """A worker that claims only ``kinds`` (default: the registry's own kinds)."""
    extra: dict[str, Any] = {"lease": lease} if lease is not None else {}
    return Worker(
        container,
        registry=registry,
        kinds=registry.kinds() if kinds is None else kinds,
        worker_id=worker_id,
        uniform=lambda: HALF,
        **extra,
    )


async def drain(
    container: Container, registry: Registry, *, kinds: Collection[str] | None = None
) -> int:
    """One ``run_once``-style tick over the registry's kinds; returns how many ran."""
    return await worker(container, registry, kinds=kinds).tick()


async def add_job(
    container: Container, kind: str, payload: dict[str, Any] | None = None, **kwargs: Any
) -> str:
    async with container.db.transaction() as session:
        job_id = await enqueue(
            session, clock=container.clock, kind=kind, payload=payload or {}, **kwargs
        )
    assert job_id is not None
    return job_id


async def job_row(container: Container, job_id: str) -> Job:
    async with container.db.transaction() as session:
        job = await session.get(Job, job_id)
    assert job is not None, job_id
    return job


async def incidents_of(container: Container, job_id: str) -> list[Incident]:
    async with container.db.transaction() as session:
        rows = await session.scalars(
            select(Incident).where(Incident.job_id == job_id).order_by(Incident.id)
        )
        return list(rows.all())


@pytest.fixture
async def jobs_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, with the incidents router mounted if app.py does not yet."""
    app = create_app(container)
    if not any(getattr(r, "path", "") == "/v1/incidents" for r in app.routes):
        app.include_router(incidents_router, prefix="/v1")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
        yield c


async def until_succeeded(container: Container, job_ids: Collection[str], patience: float) -> None:
    """Return once every job is recorded succeeded (polled: its outcome is written by the
    worker's own transaction); TimeoutError after ``patience`` seconds, a bound far past what
    any test needs, not a speed check."""
    async with asyncio.timeout(patience):
        for _ in itertools.count():
            statuses = [(await job_row(container, i)).status for i in job_ids]
            if statuses == ["succeeded"] * len(statuses):
                return
            await asyncio.sleep(0.01)
