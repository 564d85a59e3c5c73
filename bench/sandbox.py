"""escrowd's Stripe sandbox against localstripe on the create → confirm → capture cycle.

Both run as servers in their own process on 127.0.0.1, reached over loopback HTTP, so each
pays for what a client of it pays (sockets, HTTP parsing, its storage):

- escrowd's sandbox, by ``--mode``:
  - ``process`` (default): ``escrowd sandbox serve`` on a fresh, migrated PostgreSQL database,
    the sandbox alone in its own process, as Stripe is remote. Without ``--deliver-to`` it
    keeps its webhooks queued (localstripe sends none in this benchmark either) and runs only
    what comes due on its clock.
  - ``serve``: ``escrowd serve``, the sandbox in escrowd's process, with escrowd's background
    loop delivering the sandbox's webhooks to escrowd's endpoint and processing them.
  - ``serve-no-background``: ``escrowd serve --no-background``: the sandbox in escrowd's
    process, its webhooks queued but neither delivered nor processed during the run.
  In process (ASGI, no socket) would skip the HTTP cost localstripe pays and flatter the ratio.
- localstripe: its aiohttp app, with its store pickled to a temp dir (it rewrites the whole
  store on every write; that is how it runs, so it is kept) and emptied before the run.

The cycle is the same three calls with the same parameters against both (``pm_card_visa``,
manual capture, ``payment_method_types=[card]``, which both accept): create, confirm, capture,
each with an Idempotency-Key. ``--client sdk`` (default) sends them through the official SDK;
``--client lean`` sends the same form-encoded requests over plain keep-alive HTTP/1.1
connections, so that the SDK's own CPU (more than the sandbox's per cycle) does not cap the
measure on a small machine. DESIGN §8 asks for the sandbox at >= 10x localstripe. Besides
cycles/s it prints, per cycle, the CPU the server process used and the CPU the client (this
process) used over the measured window: CPU per cycle moves less with other load on the
machine than cycles/s. localstripe slows down as its store grows, so its rate depends on
--cycles.

    .venv/bin/python bench/sandbox.py --cycles 300 --concurrency 8 [--client lean]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from stripe import StripeClient

from escrowd.providers.stripe.client import SANDBOX_API_KEY, make_stripe_client

PG_SERVER_URL = os.environ.get(
    "ESCROWD_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)

LOCALSTRIPE_SERVER = """
import pickle, sys, warnings
# localstripe's plain (non-async) handlers trigger aiohttp's DeprecationWarning at import.
warnings.filterwarnings("ignore", "Bare functions are deprecated", DeprecationWarning)
from aiohttp import web
from localstripe import resources, server
store, path = resources.store, sys.argv[2]
def dump_to_disk():
    with open(path, "wb") as f:
        pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
store.dump_to_disk = dump_to_disk
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

ESCROWD_SERVER = "import sys; from escrowd.cli import main; sys.argv[0] = 'escrowd'; main()"


@dataclass
class Result:
    name: str
    cycles: int
    concurrency: int
    seconds: float
    #: CPU seconds (user + system) of the server process and of this client process.
    server_cpu: float
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.cycles / self.seconds

    @property
    def server_ms(self) -> float:
        return 1000 * self.server_cpu / self.cycles

    @property
    def client_ms(self) -> float:
        return 1000 * self.client_cpu / self.cycles


@dataclass
class Server:
    """A server under test: its base URL for the Stripe API and its process id."""

    base: str
    pid: int


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


@contextmanager
def process(args: list[str], env: dict[str, str], up_url: str) -> Iterator[int]:
    """A server process, its output kept aside and shown only if it fails to start."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_until_up(up_url, proc)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))
                raise
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _pg_admin(sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

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


@contextmanager
def fresh_database(url: str | None) -> Iterator[str]:
    """The given database, or a new one on the local server, dropped afterwards."""
    if url:
        yield url
        return
    from sqlalchemy.engine import make_url

    name = f"escrowd_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


MODES = ("process", "serve", "serve-no-background")


@contextmanager
def escrowd_server(database_url: str | None, mode: str) -> Iterator[Server]:
    port = free_port()
    with fresh_database(database_url) as db_url, tempfile.TemporaryDirectory() as data:
        env = {
            # The spec checker is for the test suite; a benchmark measures the sandbox alone.
            **{k: v for k, v in os.environ.items() if k != "ESCROWD_STRIPE_OPENAPI"},
            "ESCROWD_PROVIDER": "sandbox",
            "ESCROWD_DATABASE_URL": db_url,
            "ESCROWD_DATA_DIR": data,
            "ESCROWD_LOG_LEVEL": "WARNING",
        }
        base = f"http://127.0.0.1:{port}"
        if mode == "process":
            # The sandbox alone refuses an unmigrated database; escrowd serve migrates itself.
            subprocess.run(
                [sys.executable, "-c", ESCROWD_SERVER, "migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            args = [sys.executable, "-c", ESCROWD_SERVER, "sandbox", "serve", "--port", str(port)]
        else:
            args = [sys.executable, "-c", ESCROWD_SERVER, "serve", "--port", str(port)]
            args.append("--no-demo")
            if mode == "serve-no-background":
                args.append("--no-background")
        with process(args, env, f"{base}/healthz") as pid:
            yield Server(f"{base}/sandbox/stripe", pid)


@contextmanager
def localstripe_server() -> Iterator[Server]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        store = str(Path(data) / "localstripe.pickle")
        args = [sys.executable, "-c", LOCALSTRIPE_SERVER, str(port), store]
        base = f"http://127.0.0.1:{port}"
        with process(args, dict(os.environ), base) as pid:
            httpx.delete(f"{base}/_config/data").raise_for_status()
            yield Server(base, pid)


async def cycle(client: StripeClient, key: str) -> None:
    params: Any = {
        "amount": 2000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
        "payment_method_types": ["card"],
    }
    pi = await client.v1.payment_intents.create_async(params, {"idempotency_key": f"{key}:c"})
    pi = await client.v1.payment_intents.confirm_async(pi.id, {}, {"idempotency_key": f"{key}:f"})
    if pi.status != "requires_capture":
        raise RuntimeError(f"confirm left {pi.id} in {pi.status}")
    pi = await client.v1.payment_intents.capture_async(pi.id, {}, {"idempotency_key": f"{key}:p"})
    if pi.status != "succeeded":
        raise RuntimeError(f"capture left {pi.id} in {pi.status}")


#: What the SDK sends for the create call's parameters, form-encoded the same way.
CREATE_FORM = urlencode(
    {
        "amount": "2000",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
        "payment_method_types[0]": "card",
    }
)


class LeanConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams, sending the requests the SDK
    sends (form-encoded POSTs, the same key, an Idempotency-Key) without the SDK's own cost."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.prefix = url.path.rstrip("/")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, form: str, key: str) -> dict[str, Any]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = form.encode()
        head = (
            f"POST {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {SANDBOX_API_KEY}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            await self.reader.readline()
            payload = b"".join(parts)
        else:
            payload = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}: {payload[:300]!r}")
        found: dict[str, Any] = json.loads(payload)
        return found

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()


async def lean_cycle(conn: LeanConnection, key: str) -> None:
    pi = await conn.post("/v1/payment_intents", CREATE_FORM, f"{key}:c")
    pi = await conn.post(f"/v1/payment_intents/{pi['id']}/confirm", "", f"{key}:f")
    if pi["status"] != "requires_capture":
        raise RuntimeError(f"confirm left {pi['id']} in {pi['status']}")
    pi = await conn.post(f"/v1/payment_intents/{pi['id']}/capture", "", f"{key}:p")
    if pi["status"] != "succeeded":
        raise RuntimeError(f"capture left {pi['id']} in {pi['status']}")


CLIENTS = ("sdk", "lean")


async def run_cycles(
    name: str, server: Server, cycles: int, concurrency: int, warmup: int, client_kind: str
) -> Result:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    lean = [LeanConnection(server.base) for _ in range(concurrency)]
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        client = make_stripe_client(api_key=SANDBOX_API_KEY, http=http, api_base=server.base)

        async def one(worker: int, key: str) -> None:
            if client_kind == "lean":
                await lean_cycle(lean[worker], key)
            else:
                await cycle(client, key)

        run = uuid.uuid4().hex[:8]
        for i in range(warmup):
            await one(i % concurrency, f"bench-{run}-warm-{i}")
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(cycles):
            queue.put_nowait(i)

        async def worker(n: int) -> None:
            while not queue.empty():
                await one(n, f"bench-{run}-{queue.get_nowait()}")

        server_cpu, client_cpu = process_cpu(server.pid), own_cpu()
        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        seconds = time.perf_counter() - started
        for conn in lean:
            await conn.close()
        return Result(
            name,
            cycles,
            concurrency,
            seconds,
            server_cpu=process_cpu(server.pid) - server_cpu,
            client_cpu=own_cpu() - client_cpu,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="create → confirm → capture: escrowd's Stripe sandbox (uvicorn + "
        "PostgreSQL) against localstripe, side by side."
    )
    parser.add_argument("--cycles", type=int, default=200, help="measured cycles per target")
    parser.add_argument("--concurrency", type=int, default=8, help="cycles in flight at once")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured cycles first")
    parser.add_argument(
        "--database-url",
        help="escrowd's database (default: a fresh PostgreSQL database on "
        "$ESCROWD_BENCH_PG_URL's server, dropped afterwards)",
    )
    parser.add_argument(
        "--only", choices=["sandbox", "localstripe"], help="run one side (no ratio then)"
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="process",
        help="how escrowd's sandbox is served: process (default): `escrowd sandbox serve`, "
        "the sandbox alone in its own process, as Stripe is remote, its webhooks kept queued; "
        "serve: in `escrowd serve`, whose background loop delivers and processes the "
        "sandbox's webhooks during the run; serve-no-background: in `escrowd serve "
        "--no-background`, webhooks queued but not delivered (localstripe sends none here)",
    )
    parser.add_argument(
        "--client",
        choices=CLIENTS,
        default="sdk",
        help="sdk (default): the official Stripe SDK over httpx; lean: the same form-encoded "
        "requests with Idempotency-Keys over plain keep-alive HTTP/1.1 connections, so that "
        "the client's own CPU (the SDK's is several ms a cycle) does not cap the measure on a "
        "small machine; both sides get the same client",
    )
    args = parser.parse_args()

    results: list[Result] = []
    if args.only != "localstripe":
        with escrowd_server(args.database_url, args.mode) as server:
            results.append(
                asyncio.run(
                    run_cycles(
                        "escrowd sandbox",
                        server,
                        args.cycles,
                        args.concurrency,
                        args.warmup,
                        args.client,
                    )
                )
            )
    if args.only != "sandbox":
        with localstripe_server() as server:
            results.append(
                asyncio.run(
                    run_cycles(
                        "localstripe",
                        server,
                        args.cycles,
                        args.concurrency,
                        args.warmup,
                        args.client,
                    )
                )
            )

    print(
        f"sandbox mode: {args.mode}; client: {args.client}; "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    print(
        f"{'target':<16} {'cycles':>7} {'conc.':>6} {'seconds':>8} {'cycles/s':>9} "
        f"{'server CPU ms/cycle':>20} {'client CPU ms/cycle':>20}"
    )
    for r in results:
        print(
            f"{r.name:<16} {r.cycles:>7} {r.concurrency:>6} {r.seconds:>8.2f} {r.rate:>9.1f} "
            f"{r.server_ms:>20.2f} {r.client_ms:>20.2f}"
        )
    if len(results) == 2:
        sandbox, reference = results
        print(
            f"ratio sandbox / localstripe: {sandbox.rate / reference.rate:.1f}x (goal >= 10x); "
            f"server CPU per cycle: {reference.server_ms / sandbox.server_ms:.1f}x less"
        )


if __name__ == "__main__":
    main()
