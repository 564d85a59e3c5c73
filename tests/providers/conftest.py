"""Fixtures for the Stripe adapter: a scripted Stripe (httpx.MockTransport) and localstripe.

The sandbox tests use the root fixtures (``container``, ``client``): ``create_app`` builds the
adapter pointed at the in-process sandbox and leaves it in ``container.provider``.
"""

from __future__ import annotations

import asyncio
import pickle
import re
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.config import Environment, ProviderMode, Settings
from escrowd.providers.registry import build_stripe_provider
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.stripe.client import make_stripe_client
from escrowd.sandbox import spec_check

SECRET_KEY = "sk_test_51SECRETkeyThatMustNeverBeLogged0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


class Scripted:
    """A Stripe that answers from a script, recording every request it receives."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
async def scripted_stripe() -> AsyncIterator[Callable[..., tuple[StripeProvider, Scripted]]]:
    """Build adapters over a scripted Stripe; ``retries`` is the SDK's max_network_retries."""
    made: list[StripeProvider] = []

    def make(handler: Handler, *, retries: int = 0) -> tuple[StripeProvider, Scripted]:
        script = Scripted(handler)
        http = httpx.AsyncClient(transport=httpx.MockTransport(script))
        client = make_stripe_client(
            api_key=SECRET_KEY,
            http=http,
            api_base="https://api.stripe.test",
            max_network_retries=retries,
        )
        provider = StripeProvider(client, http=http)
        made.append(provider)
        return provider, script

    yield make
    for provider in made:
        await provider.aclose()


# --- localstripe -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _import_localstripe() -> tuple[Any, Any]:
    # localstripe registers plain (non-async) aiohttp handlers, which aiohttp deprecates with a
    # DeprecationWarning at import time. The suite turns warnings into errors; this one is about
    # localstripe's code, not ours, and is silenced for exactly that message during the import.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Bare functions are deprecated", category=DeprecationWarning
        )
        from localstripe import resources, server

    return resources, server


class _LocalStripe:
    """localstripe's aiohttp app on 127.0.0.1, in a thread with its own event loop.

    A thread, so one server lives for the whole session while each test runs on its own event
    loop. Its store is pickled to a temp dir instead of the fixed /tmp/localstripe.pickle that
    every localstripe on the machine shares.
    """

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._data_file = data_dir / "localstripe.pickle"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: Any = None

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        resources, server = _import_localstripe()
        store = resources.store
        data_file = self._data_file

        def dump_to_disk() -> None:
            # localstripe's own behaviour (a full pickle on every write), in our temp dir.
            with data_file.open("wb") as f:
                pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)

        monkeypatch.setattr(store, "dump_to_disk", dump_to_disk)
        monkeypatch.setattr(store, "try_load_from_disk", lambda: None)
        store.clear()
        self._thread.start()
        self._runner = asyncio.run_coroutine_threadsafe(self._serve(server.app), self._loop).result(
            timeout=10
        )

    async def _serve(self, app: Any) -> Any:
        from aiohttp import web

        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        return runner

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()
            # localstripe schedules webhook sends as loose tasks (1 s delay); end them here.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = _LocalStripe(tmp_path_factory.mktemp("localstripe"))
    with pytest.MonkeyPatch.context() as mp:
        server.start(mp)
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture
async def localstripe(localstripe_url: str) -> AsyncIterator[StripeProvider]:
    """The adapter as ``ESCROWD_PROVIDER=stripe`` builds it, pointed at an emptied localstripe."""
    async with httpx.AsyncClient(base_url=localstripe_url) as http:
        (await http.delete("/_config/data")).raise_for_status()
    settings = Settings(
        env=Environment.test,
        provider=ProviderMode.stripe,
        stripe_secret_key="sk_test_localstripe",
        stripe_api_base=localstripe_url,
        stripe_timeout_seconds=10,
    )
    provider = build_stripe_provider(settings)
    try:
        yield provider
    finally:
        await provider.aclose()


# --- escrowd's sandbox -----------------------------------------------------------------------


@pytest.fixture
async def sandbox(client: httpx.AsyncClient, container: Container) -> AsyncIterator[StripeProvider]:
    """The adapter create_app built for sandbox mode: the production code path, in process.

    With ESCROWD_STRIPE_OPENAPI set, the sandbox checks every request and response against
    Stripe's spec; a test whose calls left a mismatch fails here, naming it.
    """
    provider = container.provider
    assert isinstance(provider, StripeProvider)
    spec_check.drain()
    yield provider
    mismatches = spec_check.drain()
    assert not mismatches, "Stripe's OpenAPI spec disagrees:\n" + "\n".join(mismatches)


class Browser:
    """A person on the sandbox's hosted pages, reached through escrowd's own app."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @staticmethod
    def local(url: str) -> str:
        # Hosted pages are addressed on ESCROWD_PUBLIC_URL; the app in process answers them.
        u = httpx.URL(url)
        return u.raw_path.decode()

    async def complete_3ds(self, url: str, *, outcome: str = "complete") -> httpx.Response:
        page = await self.client.get(self.local(url))
        assert page.status_code == 200, page.text
        token = httpx.URL(url).params["token"]
        return await self.client.post(self.local(url), data={"token": token, "outcome": outcome})

    async def onboard(self, url: str, *, outcome: str = "verified") -> httpx.Response:
        page = await self.client.get(self.local(url))
        assert page.status_code == 200, page.text
        found = re.search(r"name=session value='([^']+)'", page.text)
        assert found, page.text
        return await self.client.post(
            self.local(url), data={"session": found.group(1), "outcome": outcome}
        )


@pytest.fixture
def browser(client: httpx.AsyncClient) -> Browser:
    return Browser(client)
