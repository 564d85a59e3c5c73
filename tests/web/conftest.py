"""Fixtures for the browser tests: one real ``escrowd serve`` process and one chromium per
module, a fresh browser context (cookies) per test, and a screenshot of the page when a test
fails.

- ``live`` (module): a ``Live`` with the server's ``base`` URL, an ``api`` (httpx, the
  server's HTTP API) and helpers that make the data a page shows: users, escrows, a verified
  payee, each through the API as a marketplace backend would.
- ``page`` (test): a Playwright page in a new context; on failure its screenshot goes to
  ``<ESCROWD_TEST_DATA_DIR>/screenshots/<test>.png``.

The browser is Debian's chromium (``/usr/bin/chromium``, installed by scripts/test); no
browser is ever downloaded. Tests that need it are skipped when it is missing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from ulid import ULID

import escrowd
from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from tests.conftest import TEST_DATA_DIR
from tests.integration.conftest import DEFAULT_PASSWORD, Account, make_user, unique_email
from tests.live.conftest import (
    SECRET_KEY,
    Server,
    _free_port,
    _stop,
    real_container,
    wait_until_up,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
SCREENSHOTS = TEST_DATA_DIR / "screenshots"
T = TypeVar("T")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@dataclass
class Live:
    base: str
    api: httpx.Client
    url: str

    def user(self, role: str) -> Account:
        """A client or worker signed up through the API, with a fresh token."""
        email = unique_email(role)
        r = self.api.post(
            "/v1/users",
            json={
                "email": email,
                "password": DEFAULT_PASSWORD,
                "name": f"Web {role}",
                "role": role,
            },
        )
        assert r.status_code == 200, r.text
        token = self.api.post(
            "/v1/auth/tokens", json={"email": email, "password": DEFAULT_PASSWORD}
        )
        assert token.status_code == 200, token.text
        return Account(r.json()["id"], email, DEFAULT_PASSWORD, role, token.json()["access_token"])

    def admin(self) -> Account:
        """Admins are made on the server, never signed up: through the service, as the CLI."""
        container = real_container(self.url)

        async def make() -> Account:
            try:
                return await make_user(container, role="admin")
            finally:
                await container.close()

        # Playwright's sync API keeps an event loop running on this thread: use another.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, make()).result()

    def post(self, who: Account, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {**who.headers, "Idempotency-Key": f"web-test-{ULID()}"}
        r = self.api.post(path, json=body or {}, headers=headers)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def get(self, who: Account, path: str) -> dict[str, Any]:
        r = self.api.get(path, headers=who.headers)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def escrow(self, payer: Account, payee: str | None, amount: int, **body: Any) -> str:
        payload = {
            "currency": "usd",
            "amount": amount,
            "allocations": [{"payee": payee, "amount": amount}],
            **body,
        }
        return str(self.post(payer, "/v1/escrows", payload)["id"])

    def verified_payee(self) -> Account:
        """A worker whose connected account passed the sandbox's hosted onboarding."""
        worker = self.user("worker")
        acct = self.post(worker, "/v1/accounts")
        link = self.post(
            worker,
            f"/v1/accounts/{acct['id']}/onboarding_link",
            {"refresh_url": "https://market.test/r", "return_url": "https://market.test/done"},
        )
        path = httpx.URL(link["url"]).raw_path.decode()
        page = self.api.get(path)
        found = re.search(r"name=session value='([^']+)'", page.text)
        assert found, page.text
        done = self.api.post(path, data={"session": found.group(1), "outcome": "verified"})
        assert done.status_code == 303, done.text
        self.wait(lambda: self.get(worker, f"/v1/accounts/{acct['id']}")["status"] == "verified")
        return worker

    def later(self, seconds: int, work: Callable[[Container], Awaitable[T]]) -> T:
        """Run ``work`` on the server's database with escrowd's clock ``seconds`` ahead: what
        the server's own workers do once that much time has passed. (The sandbox clock moves
        the provider's time only; escrowd's deadlines, such as a payment window, are on
        escrowd's clock, which a running server takes from the system.)"""
        ahead = FrozenClock(datetime.now(UTC) + timedelta(seconds=seconds))
        settings = Settings(env=Environment.test, database_url=self.url, secret_key=SECRET_KEY)

        async def run() -> T:
            container = build(settings, clock=ahead)
            try:
                return await work(container)
            finally:
                await container.close()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, run()).result()

    def wait(self, done: Any, seconds: float = 30) -> None:
        """Until ``done()`` holds: the server's background loop delivers webhooks meanwhile."""
        import time

        end = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < end, "the server did not get there in time"
            time.sleep(0.2)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(
    request: pytest.FixtureRequest,
    shared_db_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Live]:
    backend: str = request.param
    if backend not in shared_db_urls:
        pytest.skip(f"{backend} not in ESCROWD_TEST_BACKENDS")
    url = shared_db_urls[backend]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("web") / "server.log"
    source = str(Path(escrowd.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
        "ESCROWD_ENV": "test",
        "ESCROWD_SECRET_KEY": SECRET_KEY,
        "ESCROWD_PUBLIC_URL": base,
        "ESCROWD_LOG_FORMAT": "console",
        "ESCROWD_LOG_LEVEL": "WARNING",
        "ESCROWD_MARKETPLACES": "all",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
            [
                sys.executable,
                "-c",
                "from escrowd.cli import main; main()",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--database-url",
                url,
                "--no-migrate",
                "--no-demo",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(base, process, log)
    try:
        wait_until_up(server)
        with httpx.Client(base_url=base, timeout=60) as api:
            yield Live(base, api, url)
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, live: Live, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(base_url=live.base)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()


@pytest.fixture
async def web(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process (httpx's ASGI transport), keeping cookies as a browser does."""
    transport = httpx.ASGITransport(app=create_app(container, background=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as client:
        yield client
