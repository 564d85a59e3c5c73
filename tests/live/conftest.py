"""Real server processes and an incremental SSE reader, for streams read while they are open.

- ``servers(url, n, *extra)`` (fixture, a factory): ``n`` ``escrowd serve`` processes on free
  127.0.0.1 ports, all on the database ``url`` (already migrated), started at once; each is
  stopped (SIGTERM, then SIGKILL) when the test ends, whatever happened. Their output is in
  the test's tmp_path, and in the failure message when one does not come up. ``extra`` goes
  to each ``serve`` command (``--workers 2``); ``ports`` and ``env`` fix ports and add to
  their environment.
- ``sandbox_server(url, port=…, deliver_to=…)`` (fixture, a factory): ``escrowd sandbox
  serve`` on ``port``, posting the sandbox's webhooks to ``deliver_to``; stopped the same way.
  ``wait=False`` returns at once (``wait_until_up(server)`` later), to start it beside escrowd.
- ``real_container(url)``: a container on the real clock with the servers' secret key, so the
  tokens it issues (``make_user``) are good for the servers.
- ``async with Subscription.open(client, base, headers, **params) as sub``: an SSE stream,
  read frame by frame as the server writes them (``await sub.next_event()``), never after it
  ends; it has started (``: connected``) when ``open`` returns.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

import escrowd
from escrowd.bootstrap import Container, build
from escrowd.config import Environment, Settings

SECRET_KEY = "live-test-secret-key-that-is-long-enough-0123456789"
#: Guards against a hang, not a measurement: how long a frame or a start-up may take at most.
PATIENCE = 60.0


def real_container(url: str) -> Container:
    return build(Settings(env=Environment.test, database_url=url, secret_key=SECRET_KEY))


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def wait_until_up(server: Server) -> None:
    """Until ``/healthz`` answers 200; fails with the server's output if it never does."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{server.base} did not come up:\n{server.log.read_text()[-4000:]}")


class ServerFactory(Protocol):
    def __call__(
        self,
        url: str,
        n: int,
        *extra: str,
        ports: Sequence[int] = (),
        env: Mapping[str, str] | None = None,
    ) -> list[Server]: ...


class SandboxFactory(Protocol):
    def __call__(self, url: str, *, port: int, deliver_to: str, wait: bool = True) -> Server: ...


def free_port() -> int:
    """A port free now, for a server whose address must be known before it starts."""
    return _free_port()


@dataclass
class _Spawner:
    """Starts ``escrowd`` commands as servers and stops every one it started."""

    tmp_path: Path
    started: list[Server] = field(default_factory=list)

    def spawn(self, port: int, args: list[str], env: Mapping[str, str] | None) -> Server:
        source = str(Path(escrowd.__file__).resolve().parents[1])
        full_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
            "ESCROWD_ENV": "test",
            "ESCROWD_SECRET_KEY": SECRET_KEY,
            "ESCROWD_LOG_FORMAT": "console",
            "ESCROWD_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        log = self.tmp_path / f"server-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
                [sys.executable, "-c", "from escrowd.cli import main; main()", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
            )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            _stop(server.process)


@pytest.fixture
def _spawner(tmp_path: Path) -> Iterator[_Spawner]:
    spawner = _Spawner(tmp_path)
    try:
        yield spawner
    finally:
        spawner.stop_all()


@pytest.fixture
def servers(_spawner: _Spawner) -> ServerFactory:
    """``escrowd serve`` processes; ``ports`` fixes the first ones' ports, ``env`` adds to
    their environment."""

    def start(
        url: str,
        n: int,
        *extra: str,
        ports: Sequence[int] = (),
        env: Mapping[str, str] | None = None,
    ) -> list[Server]:
        made = []
        for i in range(n):
            port = ports[i] if i < len(ports) else _free_port()
            args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            args += ["--database-url", url, "--no-migrate", "--no-demo", *extra]
            made.append(_spawner.spawn(port, args, env))
        for server in made:
            wait_until_up(server)
        return made

    return start


@pytest.fixture
def sandbox_server(_spawner: _Spawner) -> SandboxFactory:
    """An ``escrowd sandbox serve`` process on ``port``, delivering to ``deliver_to``; up when
    returned, unless ``wait=False`` (then ``wait_until_up(server)`` when it must be)."""

    def start(url: str, *, port: int, deliver_to: str, wait: bool = True) -> Server:
        args = ["sandbox", "serve", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--database-url", url, "--deliver-to", deliver_to]
        server = _spawner.spawn(port, args, None)
        if wait:
            wait_until_up(server)
        return server

    return start


@dataclass
class Subscription:
    """One open SSE stream; frames are parsed from lines as they arrive."""

    lines: AsyncIterator[str]
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def _frame(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                fields.setdefault("comment", line[1:].strip())
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        raise AssertionError(f"the stream ended; events so far: {self.seen}")

    async def next_frame(self) -> dict[str, str]:
        return await asyncio.wait_for(self._frame(), PATIENCE)

    async def next_event(self) -> dict[str, Any]:
        """The next event frame (comments skipped), as its ``data`` object."""
        while True:
            fields = await self.next_frame()
            if "data" in fields:
                event: dict[str, Any] = json.loads(fields["data"])
                assert fields["id"] == event["id"]
                assert fields["event"] == event["type"]
                self.seen.append(event)
                return event

    async def events_until_object(self, object_id: str) -> list[dict[str, Any]]:
        """Every event frame up to and including the first about ``object_id``."""
        out = [await self.next_event()]
        while out[-1]["data"]["object"]["id"] != object_id:
            out.append(await self.next_event())
        return out

    async def events_until_type(self, event_type: str) -> list[dict[str, Any]]:
        """Every event frame up to and including the first of ``event_type``."""
        out = [await self.next_event()]
        while out[-1]["type"] != event_type:
            out.append(await self.next_event())
        return out

    @classmethod
    @asynccontextmanager
    async def open(
        cls, client: httpx.AsyncClient, base: str, headers: dict[str, str], **params: Any
    ) -> AsyncIterator[Subscription]:
        url = f"{base}/v1/events/stream"
        # Long enough never to end on its own while a test reads it: frames are read while
        # it is open, and it is closed by leaving this block.
        params = {"seconds": 600, **params}
        async with client.stream("GET", url, params=params, headers=headers) as r:
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"].startswith("text/event-stream")
            sub = cls(r.aiter_lines())
            # Once `: connected` is here the stream has taken its starting point: whatever
            # is recorded from now on is what it must send.
            first = await sub.next_frame()
            assert first.get("comment") == "connected", first
            yield sub
