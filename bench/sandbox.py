"""escrowd's Stripe sandbox against localstripe on the create → confirm → capture cycle.

Both run as servers in their own process on 127.0.0.1, reached through the official SDK over
loopback HTTP, so each pays for what a client of it pays (sockets, HTTP parsing, its storage):

- escrowd: ``escrowd serve`` (uvicorn) on a fresh PostgreSQL database, the production setup.
  In process (ASGI, no socket) would skip the HTTP cost localstripe pays and flatter the ratio.
- localstripe: its aiohttp app, with its store pickled to a temp dir (it rewrites the whole
  store on every write; that is how it runs, so it is kept) and emptied before the run.

The cycle is the same three SDK calls with the same parameters against both (``pm_card_visa``,
manual capture, ``payment_method_types=[card]``, which both accept): create, confirm, capture,
each with an Idempotency-Key. DESIGN §8 asks for the sandbox at >= 10x localstripe. The
client's own share (SDK and httpx) is about 0.5 ms a call on the 2-core machine, far below
either server's. localstripe slows down as its store grows, so its rate depends on --cycles.

    .venv/bin/python bench/sandbox.py --cycles 300 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    @property
    def rate(self) -> float:
        return self.cycles / self.seconds


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
def process(args: list[str], env: dict[str, str], up_url: str) -> Iterator[None]:
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
            yield
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


@contextmanager
def escrowd_server(database_url: str | None, *, background: bool = True) -> Iterator[str]:
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
        args = [sys.executable, "-c", ESCROWD_SERVER, "serve", "--port", str(port), "--no-demo"]
        if not background:
            args.append("--no-background")
        base = f"http://127.0.0.1:{port}"
        with process(args, env, f"{base}/healthz"):
            yield f"{base}/sandbox/stripe"


@contextmanager
def localstripe_server() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        store = str(Path(data) / "localstripe.pickle")
        args = [sys.executable, "-c", LOCALSTRIPE_SERVER, str(port), store]
        base = f"http://127.0.0.1:{port}"
        with process(args, dict(os.environ), base):
            httpx.delete(f"{base}/_config/data").raise_for_status()
            yield base


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


async def run_cycles(name: str, base: str, cycles: int, concurrency: int, warmup: int) -> Result:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        client = make_stripe_client(api_key=SANDBOX_API_KEY, http=http, api_base=base)
        run = uuid.uuid4().hex[:8]
        for i in range(warmup):
            await cycle(client, f"bench-{run}-warm-{i}")
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(cycles):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                await cycle(client, f"bench-{run}-{queue.get_nowait()}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Result(name, cycles, concurrency, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="create → confirm → capture through the Stripe SDK: escrowd's sandbox "
        "(uvicorn + PostgreSQL) against localstripe, side by side."
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
        "--no-background",
        action="store_true",
        help="serve with --no-background: the sandbox queues its webhooks but escrowd does not "
        "deliver or process them during the run (localstripe sends none in this benchmark "
        "either); without it escrowd's own webhook intake and processing share the server",
    )
    args = parser.parse_args()

    results: list[Result] = []
    if args.only != "localstripe":
        with escrowd_server(args.database_url, background=not args.no_background) as base:
            results.append(
                asyncio.run(
                    run_cycles("escrowd sandbox", base, args.cycles, args.concurrency, args.warmup)
                )
            )
    if args.only != "sandbox":
        with localstripe_server() as base:
            results.append(
                asyncio.run(
                    run_cycles("localstripe", base, args.cycles, args.concurrency, args.warmup)
                )
            )

    print(f"{'target':<16} {'cycles':>7} {'conc.':>6} {'seconds':>8} {'cycles/s':>9}")
    for r in results:
        print(f"{r.name:<16} {r.cycles:>7} {r.concurrency:>6} {r.seconds:>8.2f} {r.rate:>9.1f}")
    if len(results) == 2:
        sandbox, reference = results
        print(f"ratio sandbox / localstripe: {sandbox.rate / reference.rate:.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
