"""Fixtures shared by the seed flows' scenario tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from tests.accounts.conftest import Browser
from tests.escrows.conftest import Ctx, mount


@pytest.fixture(params=["postgres", "sqlite"])
def own_url(request: pytest.FixtureRequest, fresh_db_url_factory: Callable[[str], str]) -> str:
    return fresh_db_url_factory(request.param)


@pytest.fixture
async def own(own_url: str, clock: FrozenClock) -> AsyncIterator[Ctx]:
    """An app on a database of its own (PostgreSQL: real row locks between connections)."""
    settings = Settings(
        env=Environment.test,
        database_url=own_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        db_pool_size=30,
        marketplaces="all",
    )
    container: Container = build(settings, clock=clock)
    app = mount(create_app(container))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
            yield Ctx(c, container, Browser(c))
    finally:
        await container.close()
