"""Fixtures for outbound webhooks: a real HTTP receiver on 127.0.0.1, an independent signature
check, and drivers for the fan-out sweep and the delivery jobs.

- ``receiver``: a threaded HTTP server on 127.0.0.1 that answers each POST with the next status
  of ``receiver.script`` (200 once the script is used up) and keeps every request it got (a
  GET too, as a followed redirect could be); a 3xx carries ``Location: receiver.location``.
  ``make_receiver()`` starts another one (stopped after the test).
- ``verify(secret, request)``: checks ``webhook-signature`` with the ``standardwebhooks``
  package (PyPI), not escrowd's code; ``strict=True`` also checks the timestamp against the
  real time, as a receiver does.
- ``await deliver(container)``: one fan-out run and the delivery jobs that are due, until idle.
- After each test its endpoints are disabled (the databases are shared).
- The escrowd settings allow private addresses (the receiver is on loopback); a module that
  needs them refused overrides the ``allow_private`` fixture.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update
from standardwebhooks import Webhook

from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.jobs.worker import Worker
from escrowd.outbound import service
from escrowd.outbound.models import WebhookEndpoint, WebhookFanout
from escrowd.outbound.tasks import fan_out
from tests.escrows.conftest import sweep
from tests.integration.conftest import make_api_key


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.body)
        return out


@dataclass
class Receiver:
    port: int
    script: list[int] = field(default_factory=list)
    location: str | None = None
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def answer(self, request: Received) -> int:
        with self.lock:
            self.got.append(request)
            return self.script.pop(0) if self.script else 200


ReceiverFactory = Callable[[], Receiver]


@pytest.fixture
def make_receiver() -> Iterator[ReceiverFactory]:
    servers: list[ThreadingHTTPServer] = []

    def make() -> Receiver:
        state: list[Receiver] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                got = Received(self.command, self.path, headers, body)
                status = state[0].answer(got)
                payload = b'{"ok": true}' if status < 300 else b"not now"
                self.send_response(status)
                if 300 <= status < 400 and state[0].location is not None:
                    self.send_header("location", state[0].location)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _answer  # noqa: N815  (http.server's hook names)
            do_GET = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        state.append(Receiver(server.server_address[1]))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return state[0]

    try:
        yield make
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def receiver(make_receiver: ReceiverFactory) -> Receiver:
    return make_receiver()


def verify(secret: str, request: Received, *, strict: bool = False) -> None:
    """Raises unless ``request`` is signed with ``secret`` (the standardwebhooks package)."""
    hook = Webhook(secret)
    if strict:
        hook.verify(request.body, request.headers)
        return
    stamp = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
    expected = hook.sign(request.headers["webhook-id"], stamp, request.body)
    offered = request.headers["webhook-signature"].split(" ")
    assert expected in offered, (expected, offered)


@pytest.fixture
def allow_private() -> bool:
    return True


@pytest.fixture
def settings(db_url: str, allow_private: bool) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        webhooks_allow_private=allow_private,
    )


@pytest.fixture
async def container(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    c = build(settings, clock=clock)
    try:
        yield c
        await _forget_endpoints(c)
    finally:
        await c.close()


async def _forget_endpoints(container: Container) -> None:
    """The databases are shared by the whole run: a test's endpoints must not receive the
    events of the tests after it, and each test's clock starts at the real now, behind where
    the last one may have left the fan-out's read position."""
    async with container.db.transaction() as session:
        await session.execute(
            update(WebhookEndpoint).values(enabled=False, disabled_reason="manual")
        )
        await session.execute(delete(WebhookFanout))


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
        yield c


@pytest.fixture
async def admin_headers(container: Container) -> dict[str, str]:
    _, secret = await make_api_key(container)
    return {"Authorization": f"Bearer {secret}"}


async def deliver(container: Container) -> int:
    """Fan out, then run the due delivery jobs (and those they make due) until none is left."""
    await sweep(container, fan_out)
    worker = Worker(container, kinds={service.DELIVER}, run_sweeps=False)
    total = 0
    for _ in range(20):
        ran = await worker.tick()
        total += ran
        if not ran:
            return total
    raise AssertionError("delivery jobs kept coming")


def later(container: Container, delta: timedelta) -> None:
    clock = container.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(delta)


async def create_endpoint(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    events: list[str] | None = None,
    status: int = 200,
) -> dict[str, Any]:
    r = await client.post(
        "/v1/webhook_endpoints",
        json={"url": url, "enabled_events": events or ["*"]},
        headers=headers,
    )
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def deliveries(
    client: httpx.AsyncClient, headers: dict[str, str], endpoint_id: str
) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/webhook_endpoints/{endpoint_id}/deliveries", headers=headers)
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data
