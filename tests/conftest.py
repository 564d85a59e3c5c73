"""Shared fixtures: the two databases every integration test runs on.

Integration tests run once on SQLite and once on PostgreSQL (the ``db_url`` fixture is
parametrized). Both databases are created and migrated once per session and are shared by the
tests, which make their own uniquely named records; the test command runs
``escrowd ledger verify`` over both when the suite ends. A test that must break an invariant or
needs an empty database asks for ``fresh_db_url`` instead.

Environment:
- ``ESCROWD_TEST_PG_URL``: PostgreSQL server to use (default the local trust-auth server).
- ``ESCROWD_TEST_BACKENDS``: ``sqlite,postgres`` (default) or one of them.
- ``ESCROWD_TEST_DATA_DIR``: where the SQLite file lives (default ``.test-data``).

Under pytest-xdist (``-n 2``, as the test command runs it) each worker has shared databases of
its own, and the controller verifies the ledger over all of them at the end (tests/parallel.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from ulid import ULID

from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.db.migrate import upgrade
from escrowd.db.session import Database
from escrowd.sandbox import spec_check
from escrowd.users import passwords
from tests import parallel
from tests.parallel import pytest_sessionfinish, pytest_testnodedown  # noqa: F401  (hooks)

PG_SERVER_URL = os.environ.get(
    "ESCROWD_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TEST_DATA_DIR = Path(os.environ.get("ESCROWD_TEST_DATA_DIR", ".test-data")).resolve()
BACKENDS = [
    b.strip() for b in os.environ.get("ESCROWD_TEST_BACKENDS", "sqlite,postgres").split(",")
]
# The test command names the shared databases so they can be looked at after the run; ad-hoc
# runs get their own names (and drop them), so parallel runs never clobber each other. The run
# name goes into the environment so that pytest-xdist's workers, started after this module is
# imported by the controller, inherit it.
_RUN = os.environ.get("ESCROWD_TEST_RUN_NAME") or f"run{os.getpid()}"
os.environ["ESCROWD_TEST_RUN_NAME"] = _RUN
#: ``gw0``, ``gw1``… in a pytest-xdist worker; each worker has shared databases of its own.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_SUFFIX = f"_{XDIST_WORKER}" if XDIST_WORKER else ""
SHARED_PG_DB = (os.environ.get("ESCROWD_TEST_PG_DB") or f"escrowd_test_{_RUN}") + _SUFFIX
_SQLITE_NAME = Path(os.environ.get("ESCROWD_TEST_SQLITE_NAME") or f"escrowd_test_{_RUN}.sqlite3")
SHARED_SQLITE = TEST_DATA_DIR / f"{_SQLITE_NAME.stem}{_SUFFIX}{_SQLITE_NAME.suffix}"
# A worker leaves its databases to the controller, which verifies the ledger over them once
# every worker is done (tests/parallel.py) and drops them unless the test command named them.
_KEEP_SHARED = bool(os.environ.get("ESCROWD_TEST_PG_DB")) or bool(XDIST_WORKER)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``run_last`` (the ledger verification of the suite's data) go last; in a
    pytest-xdist worker they are left to the controller, which runs the same check over every
    worker's databases once all of them are done (tests/parallel.py)."""
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)
    if XDIST_WORKER:
        last = [item for item in items if item.get_closest_marker("run_last") is not None]
        if last:
            config.hook.pytest_deselected(items=last)
            items[:] = [item for item in items if item not in last]


def pg_url(database: str) -> str:
    return make_url(PG_SERVER_URL).set(database=database).render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    u = make_url(PG_SERVER_URL)
    conn = await asyncpg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database=u.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(name: str) -> str:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = pg_url(name)
    upgrade(url)
    return url


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def create_sqlite_database(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def shared_db_urls(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    if "sqlite" in BACKENDS:
        urls["sqlite"] = create_sqlite_database(SHARED_SQLITE)
    if "postgres" in BACKENDS:
        urls["postgres"] = create_pg_database(SHARED_PG_DB)
    parallel.hand_over(request.config, urls)
    yield urls
    if not _KEEP_SHARED:
        if "postgres" in urls:
            drop_pg_database(SHARED_PG_DB)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SHARED_SQLITE}{suffix}").unlink(missing_ok=True)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, shared_db_urls: dict[str, str]) -> str:
    backend: str = request.param
    if backend not in shared_db_urls:
        pytest.skip(f"{backend} not in ESCROWD_TEST_BACKENDS")
    return shared_db_urls[backend]


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def fresh_db_url_factory(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make an empty database migrated to head on the given backend; dropped afterwards."""
    made: list[str] = []

    def make(backend: str) -> str:
        if backend not in BACKENDS:
            pytest.skip(f"{backend} not in ESCROWD_TEST_BACKENDS")
        if backend == "sqlite":
            return create_sqlite_database(tmp_path / f"fresh-{ULID()}.sqlite3")
        name = f"escrowd_fresh_{str(ULID()).lower()}"
        made.append(name)
        return create_pg_database(name)

    yield make
    for name in made:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_db_url(request: pytest.FixtureRequest, fresh_db_url_factory: Callable[[str], str]) -> str:
    return fresh_db_url_factory(request.param)


@pytest.fixture
def postgres_url(fresh_db_url_factory: Callable[[str], str]) -> str:
    """A fresh PostgreSQL database, for tests of real row-level concurrency."""
    return fresh_db_url_factory("postgres")


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that takes ``postgres_url`` is PostgreSQL-only: ``-m postgres_only`` selects it.
    A test marked ``stripe_only`` says why, and does not also run on both providers."""
    fixtures = getattr(item, "fixturenames", ())
    if "postgres_url" in fixtures:
        item.add_marker(pytest.mark.postgres_only)
    stripe_only = item.get_closest_marker("stripe_only")
    if stripe_only is not None:
        reason = stripe_only.args[0] if stripe_only.args else ""
        if not (isinstance(reason, str) and reason.strip()):
            raise pytest.UsageError(f"{item.nodeid}: stripe_only(reason) needs its reason")
        if "rail" in fixtures or "destination" in fixtures:
            raise pytest.UsageError(f"{item.nodeid}: stripe_only, yet it runs on both providers")


@pytest.fixture(autouse=True)
def _stripe_spec_mismatches_fail_the_test() -> Iterator[None]:
    """With ESCROWD_STRIPE_OPENAPI set, the sandbox checks every request and response it sees
    against Stripe's spec; whatever test caused a mismatch fails here, naming it."""
    spec_check.drain()
    yield
    mismatches = spec_check.drain()
    assert not mismatches, "Stripe's OpenAPI spec disagrees:\n" + "\n".join(mismatches)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """argon2 at production cost takes ~0.1 s a hash; tests need speed, not strength."""
    before = passwords.default_parameters()
    passwords.set_default_parameters(passwords.FAST_FOR_TESTS)
    yield
    passwords.set_default_parameters(before)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        marketplaces="all",
    )


@pytest.fixture
def clock() -> FrozenClock:
    """A clock the test moves; starts at the real now so JWT libraries agree with it."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def container(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    c = build(settings, clock=clock)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to the app in process (no sockets)."""
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
        yield c
