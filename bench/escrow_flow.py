"""Escrow flows over HTTP against PostgreSQL, side by side with pgbench ``tpcb-like``.

    .venv/bin/python bench/escrow_flow.py                  # 16 clients, 20 s
    .venv/bin/python bench/escrow_flow.py --clients 64 --seconds 30

What runs, all on loopback:

- ``escrowd serve`` (uvicorn, one process, its background loop included: the sandbox's
  webhooks are delivered and processed while the flows run) on a free port, over a fresh
  PostgreSQL database, with the Stripe sandbox in process. ``--processes N`` serves with N
  processes (``serve --workers N``); ``--workers M`` adds M ``escrowd worker`` processes and
  leaves them the background work (``serve --no-background``). ``--sandbox-process`` runs the
  sandbox as Stripe would be, remote: ``escrowd sandbox serve`` in a process of its own
  (its clock and webhook deliveries too, over HTTP), escrowd pointed at it with
  ``ESCROWD_SANDBOX_URL``; the server's CPU is then reported split into escrowd's and the
  sandbox's.
- Setup, not timed: ``--clients`` payers (each signs up, logs in, saves the 4242 card) and two
  workers per payer (each signs up and onboards a connected account on the sandbox's hosted
  page). ``--payees ring`` instead makes one worker per payer and has payer i pay workers i and
  i+1, so concurrent releases share payees in crossing orders. Then one unmeasured flow per
  client.
- Timed: each client repeats create → fund (its saved card, capture mode) → release (both
  allocations, two transfers) until ``--seconds`` have passed; every POST carries an
  Idempotency-Key, as a real client's would. Fund and release are the money-moving
  operations (DESIGN §8 counts fund, capture, release and refund); create is timed too.
- Then pgbench: ``pgbench -i`` and ``pgbench -b tpcb-like -c N -j N -T secs`` on a scratch
  database with the same client count: the machine's durable-commit reference.

Both databases are created on the ``--url`` server and dropped at the end. The load generator
(this process) shares the machine's cores with the server and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from escrowd.db.migrate import upgrade
from escrowd.demo import Api, DemoError, onboard, saved_card

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PASSWORD = "bench-password-not-a-secret"  # noqa: S105  (throwaway bench users)
#: Safety bound on each client's loop, whatever --seconds says.
MAX_FLOWS_PER_CLIENT = 100_000
MONEY_OPS = ("fund", "release")

#: ``escrowd serve`` as the console script runs it (sandbox, background loop, uvicorn).
SERVER = "import sys; from escrowd.cli import main; sys.argv[0] = 'escrowd'; main()"


# --- databases and processes ----------------------------------------------------------------


def _libpq(url: str) -> dict[str, str]:
    u = make_url(url)
    return {
        "host": u.host or "127.0.0.1",
        "port": str(u.port or 5432),
        "user": u.username or "postgres",
        "dbname": u.database or "postgres",
    }


async def _admin(server_url: str, sql: str) -> None:
    p = _libpq(server_url)
    conn = await asyncpg.connect(
        host=p["host"], port=int(p["port"]), user=p["user"], database="postgres"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def scratch_database(server_url: str, label: str) -> Iterator[str]:
    """A new database on the server, dropped on the way out whatever happens."""
    name = f"escrowd_bench_{label}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Pids:
    """The process ids whose CPU (with their children's) is escrowd's, and the sandbox's when
    it runs in a process of its own (empty: in escrowd's)."""

    escrowd: list[int]
    sandbox: list[int]


def _wait_for(base: str, proc: subprocess.Popen[bytes], log: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise RuntimeError(f"{what} did not come up")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


@contextmanager
def escrowd_server(
    database_url: str,
    log_path: str | None,
    processes: int = 1,
    workers: int = 0,
    sandbox_process: bool = False,
) -> Iterator[tuple[str, Pids]]:
    """escrowd under uvicorn on a free loopback port (``processes`` serving processes), with
    ``workers`` ``escrowd worker`` processes doing the background work when there are any,
    and with ``sandbox_process`` the sandbox in its own (``escrowd sandbox serve``); yields
    escrowd's base URL and the process ids."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox_port = free_port()
    sandbox_base = f"http://127.0.0.1:{sandbox_port}"
    with (
        tempfile.TemporaryDirectory() as data,
        open(log_path, "w+b") if log_path else tempfile.TemporaryFile() as log,
    ):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ESCROWD_")},
            "ESCROWD_ENV": "development",
            "ESCROWD_PROVIDER": "sandbox",
            "ESCROWD_DATABASE_URL": database_url,
            "ESCROWD_DATA_DIR": data,
            "ESCROWD_PUBLIC_URL": base,
            "ESCROWD_LOG_LEVEL": "WARNING",
            "ESCROWD_ACCESS_TOKEN_TTL_SECONDS": "7200",
            # Setup signs up 2 × --clients users: cheap hashes keep it short (not measured).
            "ESCROWD_ARGON2_TIME_COST": "1",
            "ESCROWD_ARGON2_MEMORY_COST": "1024",
            "ESCROWD_ARGON2_PARALLELISM": "1",
        }
        sandbox = None
        if sandbox_process:
            sandbox = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SERVER,
                    *f"sandbox serve --port {sandbox_port} --deliver-to {base}".split(),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            env["ESCROWD_SANDBOX_URL"] = sandbox_base
        args = [
            sys.executable,
            "-c",
            SERVER,
            *f"serve --port {port} --no-migrate --no-demo --workers {processes}".split(),
            *(["--no-background"] if workers else []),
        ]
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        helpers = [
            subprocess.Popen(
                [sys.executable, "-c", SERVER, "worker", "--concurrency", "8"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for _ in range(workers)
        ]
        started = [proc, *helpers, *([sandbox] if sandbox else [])]
        try:
            _wait_for(base, proc, log, "escrowd")
            if sandbox is not None:
                _wait_for(sandbox_base, sandbox, log, "the sandbox")
            yield (
                base,
                Pids([proc.pid, *(h.pid for h in helpers)], [sandbox.pid] if sandbox else []),
            )
        finally:
            for each in started:
                each.terminate()
            for each in started:
                try:
                    each.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    each.kill()
                    each.wait()


# --- setup -------------------------------------------------------------------------------------


async def _user(api: Api, role: str, run: str, i: int) -> tuple[str, str]:
    email = f"{role}{i}-{run}@bench.escrowd.dev"
    body = {"email": email, "password": PASSWORD, "name": f"Bench {role} {i}", "role": role}
    created = await api.call("POST", "/v1/users", body=body, what="signing up")
    # Sign-up commits after its response is sent (a request-scoped FastAPI dependency), so
    # a login right after it can miss the user: try again briefly.
    for _ in range(20):
        r = await api.client.post("/v1/auth/tokens", json={"email": email, "password": PASSWORD})
        if r.status_code != 401:
            break
        await asyncio.sleep(0.05)
    if r.status_code != 200:
        raise DemoError(f"login: HTTP {r.status_code}: {r.text[:300]}")
    return str(created["id"]), str(r.json()["access_token"])


async def _payee(api: Api, base: str, run: str, i: int) -> str:
    """A worker with a connected account onboarded on the sandbox's page (escrowd.demo)."""
    user_id, token = await _user(api, "worker", run, i)
    await onboard(api, token, user_id, public_url=base, settle=lambda: asyncio.sleep(0.05))
    return user_id


@dataclass
class Payer:
    token: str
    card: str
    payees: tuple[str, str]


async def _payer(api: Api, run: str, i: int, payees: tuple[str, str]) -> Payer:
    _, token = await _user(api, "client", run, i)
    return Payer(token, await saved_card(api, token, card="pm_card_visa", last4="4242"), payees)


async def _bounded(n: int, limit: int, make: Any) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(i: int) -> Any:
        async with gate:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


# --- the flows ---------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"create": [], "fund": [], "release": []}
    )
    flows: int = 0
    errors: list[str] = field(default_factory=list)


async def flow(api: Api, payer: Payer, key: str, stats: Stats | None) -> None:
    """create → fund (the saved card) → release both allocations; each step timed."""
    (first, second), escrow_id = payer.payees, ""
    allocations = [{"payee": first, "amount": 6_000}, {"payee": second, "amount": 4_000}]
    body: dict[str, Any] = {"currency": "usd", "amount": 10_000, "allocations": allocations}
    body["fee_policy"] = {"rate_bps": 1000}  # 10 %: each release moves a net and a fee
    steps = [("create", body), ("fund", {"payment_method": payer.card}), ("release", {})]
    for name, payload in steps:
        path = f"/v1/escrows/{escrow_id}/{name}" if escrow_id else "/v1/escrows"
        started = time.perf_counter()
        out = await api.call("POST", path, payer.token, payload, key=f"{key}:{name}", what=name)
        if stats is not None:
            stats.latencies[name].append(time.perf_counter() - started)
        escrow_id = str(out["id"])
    if out["status"] != "released":
        raise DemoError(f"escrow {escrow_id} ended {out['status']}")


def _tree_jiffies(roots: list[int]) -> dict[int, int]:
    """User + system jiffies of each process in the trees under ``roots`` (uvicorn's serving
    processes are children of the one started)."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, jiffies)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    wanted = set(roots)
    grew = True
    while grew:
        more = {pid for pid, (parent, _) in stats.items() if parent in wanted} - wanted
        wanted |= more
        grew = bool(more)
    return {pid: stats[pid][1] for pid in wanted if pid in stats}


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far: escrowd's processes (serving and workers), the sandbox's process
    (0 when the sandbox runs inside escrowd's), this process, the whole machine (busy)."""

    escrowd: float
    sandbox: float
    bench: float
    machine: float

    @property
    def server(self) -> float:
        return self.escrowd + self.sandbox

    @classmethod
    def sample(cls, pids: Pids) -> Cpu:
        tick = os.sysconf("SC_CLK_TCK")
        try:
            escrowd = sum(_tree_jiffies(pids.escrowd).values()) / tick
            sandbox = sum(_tree_jiffies(pids.sandbox).values()) / tick if pids.sandbox else 0.0
            with open("/proc/stat") as f:
                jiffies = [int(x) for x in f.readline().split()[1:]]
            machine = (sum(jiffies) - jiffies[3] - jiffies[4]) / tick  # minus idle, iowait
        except OSError:  # not Linux: no CPU figures
            escrowd = sandbox = machine = 0.0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(escrowd, sandbox, usage.ru_utime + usage.ru_stime, machine)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.escrowd - other.escrowd,
            self.sandbox - other.sandbox,
            self.bench - other.bench,
            self.machine - other.machine,
        )


async def drive(
    base: str, payers: list[Payer], seconds: float, run: str, server_pids: Pids
) -> tuple[Stats, float, Cpu, Cpu]:
    """One unmeasured flow per client, then flows until ``seconds`` have passed; the stats,
    the window's length, the CPU used in it and the CPU sample at its start."""
    limits = httpx.Limits(max_connections=len(payers), max_keepalive_connections=len(payers))
    stats = Stats()
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        api = Api(http)

        async def warm(i: int, payer: Payer) -> None:
            try:
                await flow(api, payer, f"{run}:warm:{i}", None)
            except (DemoError, httpx.HTTPError) as exc:
                stats.errors.append(f"warm-up: {exc}")

        await asyncio.gather(*(warm(i, p) for i, p in enumerate(payers)))
        cpu_before = Cpu.sample(server_pids)
        started = time.perf_counter()
        deadline = started + seconds

        async def client(i: int, payer: Payer) -> None:
            for n in range(MAX_FLOWS_PER_CLIENT):
                if time.perf_counter() >= deadline:
                    return
                try:
                    await flow(api, payer, f"{run}:{i}:{n}", stats)
                    stats.flows += 1
                except (DemoError, httpx.HTTPError) as exc:
                    stats.errors.append(str(exc))
                    if len(stats.errors) > 50:
                        return

        await asyncio.gather(*(client(i, p) for i, p in enumerate(payers)))
        elapsed = time.perf_counter() - started
        return stats, elapsed, Cpu.sample(server_pids) - cpu_before, cpu_before


#: The background work a run can leave behind, each counted by one query.
BACKLOG = {
    "sandbox webhooks to send": "SELECT count(*) FROM sandbox_stripe_events "
    "WHERE state = 'pending'",
    "webhooks to process": "SELECT count(*) FROM inbound_webhook_events WHERE status = 'received'",
    "jobs queued": "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')",
}


async def _connect(database_url: str) -> Any:
    """One asyncpg connection to the run's database."""
    p = _libpq(database_url)
    return await asyncpg.connect(
        host=p["host"], port=int(p["port"]), user=p["user"], database=p["dbname"]
    )


async def backlog(database_url: str) -> dict[str, int]:
    """Background work still waiting in escrowd's database (webhooks, jobs)."""
    conn = await _connect(database_url)
    try:
        return {name: int(await conn.fetchval(sql)) for name, sql in BACKLOG.items()}
    finally:
        await conn.close()


async def drain_time(database_url: str, *, every: float = 0.05, limit: float = 120.0) -> float:
    """Seconds until no background work is left (``backlog`` all zero), polled every
    ``every`` seconds on one connection, so that the figure is within ``every`` of the truth
    (a drain goal of 2 s needs better than half-second steps); at most ``limit``."""
    conn = await _connect(database_url)
    sql = "SELECT " + " + ".join(f"({query})" for query in BACKLOG.values())
    start = time.perf_counter()
    try:
        while True:
            left = int(await conn.fetchval(sql))
            waited = time.perf_counter() - start
            if not left or waited >= limit:
                return waited
            await asyncio.sleep(every)
    finally:
        await conn.close()


async def jobs_by_kind(database_url: str) -> dict[str, int]:
    """Queued or running jobs per kind (what a backlog of jobs is made of)."""
    conn = await _connect(database_url)
    sql = (
        "SELECT kind, count(*) FROM jobs WHERE status IN ('queued', 'running') "
        "GROUP BY kind ORDER BY count(*) DESC, kind"
    )
    try:
        return {str(kind): int(n) for kind, n in await conn.fetch(sql)}
    finally:
        await conn.close()


async def ledger_ok(database_url: str) -> list[str]:
    from escrowd.db.session import Database
    from escrowd.ledger.verify import summary_lines, verify

    db = Database(database_url)
    try:
        return summary_lines(await verify(db))
    finally:
        await db.dispose()


# --- pgbench -----------------------------------------------------------------------------------


def pgbench(database_url: str, clients: int, seconds: int) -> float:
    """``pgbench -i``, then tpcb-like with ``clients`` clients and threads; its TPS."""
    p = _libpq(database_url)
    conn = f"-h {p['host']} -p {p['port']} -U {p['user']}".split()
    run = f"-b tpcb-like -c {clients} -j {clients} -T {seconds}".split()
    subprocess.run(["pgbench", "-i", "-q", *conn, p["dbname"]], check=True, capture_output=True)
    out = subprocess.run(
        ["pgbench", *run, *conn, p["dbname"]], check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r"tps = ([0-9.]+)", out)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(found[1])


# --- main --------------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f}"


async def setup(base: str, clients: int, run: str, ring: bool) -> list[Payer]:
    """Payers with saved cards and their payees, onboarded (not timed)."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        api = Api(http)
        count = clients if ring else 2 * clients
        payees = await _bounded(count, 8, lambda i: _payee(api, base, run, i))
        pairs = [
            (payees[i], payees[(i + 1) % clients]) if ring else (payees[2 * i], payees[2 * i + 1])
            for i in range(clients)
        ]
        return await _bounded(clients, 8, lambda i: _payer(api, run, i, pairs[i]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--seconds", type=int, default=20, help="timed seconds for each side (20)")
    parser.add_argument(
        "--url",
        default=DEFAULT_SERVER,
        help="PostgreSQL server (asyncpg URL, loopback only); the bench creates its two "
        "databases there and drops them. Default: %(default)s",
    )
    parser.add_argument(
        "--payees",
        choices=["own", "ring"],
        default="own",
        help="own (default): each client pays two payees of its own; ring: N payees, client i "
        "pays payees i and i+1, so concurrent releases share payees in crossing orders",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="escrowd serving processes (serve --workers N; default 1)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="escrowd worker processes; with any, serve runs --no-background (default 0: the "
        "serving process does the background work)",
    )
    parser.add_argument(
        "--sandbox-process",
        action="store_true",
        help="run the sandbox as its own process (escrowd sandbox serve), as Stripe would be "
        "remote, and report the server's CPU split into escrowd's and the sandbox's (default: "
        "the sandbox runs in escrowd's processes)",
    )
    parser.add_argument("--server-log", help="keep escrowd's own output in this file")
    args = parser.parse_args()
    if not 2 <= args.clients <= 256 or not 1 <= args.seconds <= 600:
        parser.error("--clients must be 2..256 and --seconds 1..600")
    if make_url(args.url).host not in LOOPBACK:
        parser.error("--url must point at a PostgreSQL server on loopback")
    run = uuid.uuid4().hex[:8]

    with scratch_database(args.url, "flow") as flow_db:
        upgrade(flow_db)
        with escrowd_server(
            flow_db, args.server_log, args.processes, args.workers, args.sandbox_process
        ) as (base, pids):
            t = time.perf_counter()
            payers = asyncio.run(setup(base, args.clients, run, args.payees == "ring"))
            payees = args.clients * (1 if args.payees == "ring" else 2)
            print(
                f"setup: {args.clients} payers, {payees} verified payees in "
                f"{time.perf_counter() - t:.1f} s; timing {args.seconds} s …",
                flush=True,
            )
            stats, elapsed, cpu, cpu_start = asyncio.run(
                drive(base, payers, args.seconds, run, pids)
            )
            left = asyncio.run(backlog(flow_db))
            left_jobs = asyncio.run(jobs_by_kind(flow_db))
            drained = asyncio.run(drain_time(flow_db)) if sum(left.values()) else 0.0
            # The work the window left is the flows' too: count it where it was done.
            cpu_all = Cpu.sample(pids) - cpu_start
        verify_lines = asyncio.run(ledger_ok(flow_db))
    print(f"pgbench tpcb-like, {args.clients} clients, {args.seconds} s …", flush=True)
    with scratch_database(args.url, "pgbench") as pg_db:
        tps = pgbench(pg_db, args.clients, args.seconds)
    report(args, stats, elapsed, (cpu, cpu_all), left, left_jobs, drained, verify_lines, tps)


def report(
    args: argparse.Namespace,
    stats: Stats,
    elapsed: float,
    cpus: tuple[Cpu, Cpu],
    left: dict[str, int],
    left_jobs: dict[str, int],
    drained: float,
    verify_lines: list[str],
    tps: float,
) -> None:
    flows, ops = stats.flows, stats.flows * len(MONEY_OPS)
    print(
        f"\nescrow flows (create → fund → release to 2 payees), {args.clients} clients, "
        f"{args.processes} serving process(es), {args.workers} worker process(es), sandbox "
        f"{'in its own process' if args.sandbox_process else 'in process'}"
    )
    print(f"  flows/s               {flows / elapsed:8.1f}   ({flows} flows in {elapsed:.1f} s)")
    print(f"  money-moving ops/s    {ops / elapsed:8.1f}   (fund + release)")
    print(f"  {'latency ms':<21} {'p50':>8} {'p99':>8} {'mean':>8}")
    for name, values in stats.latencies.items():
        mean = f"{statistics.fmean(values) * 1000:.0f}" if values else "-"
        print(f"  {name:<21} {_ms(values, 0.5):>8} {_ms(values, 0.99):>8} {mean:>8}")
    print(f"  errors                {len(stats.errors):8d}")
    for error in stats.errors[:3]:
        print(f"    {error}")
    backlog_text = ", ".join(f"{v} {k}" for k, v in left.items())
    print(f"  left after the window: {backlog_text}; drained in {drained:.1f} s")
    if left_jobs:
        print("    jobs by kind: " + ", ".join(f"{k} {v}" for k, v in left_jobs.items()))
    sustained = ops / (elapsed + drained)
    print(f"  sustained ops/s       {sustained:8.1f}   (window + draining what it left)")
    cpu, cpu_all = cpus
    if flows and cpu.server:
        per = 1000 / flows
        for label, used in (("in the window", cpu), ("+ draining", cpu_all)):
            split = (
                f"escrowd {used.escrowd * per:.0f} + sandbox {used.sandbox * per:.0f}"
                if args.sandbox_process
                else "escrowd, the sandbox in its process"
            )
            print(f"  server CPU ms/flow    {used.server * per:5.0f} ({split}), {label}")
        print(
            f"  CPU ms per flow       bench client {cpu.bench * per:.0f}, whole machine "
            f"{cpu.machine * per:.0f} (machine busy {cpu.machine / elapsed:.2f} of "
            f"{os.cpu_count()} cores), in the window"
        )
    print(f"  {verify_lines[0] if verify_lines else 'ledger verify: ?'}")
    print(f"pgbench tpcb-like, {args.clients} clients, {args.seconds} s: {tps:,.0f} tps")
    print(
        f"ratio money-moving ops/s ÷ pgbench tps: {ops / elapsed / tps:.3f} "
        f"(sustained {sustained / tps:.3f}; goal ≥ 0.5)"
    )


if __name__ == "__main__":
    main()
