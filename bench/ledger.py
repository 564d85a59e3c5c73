"""Ledger benchmark: escrowd's Ledger service against the same writes in plain SQL (pgbench).

    .venv/bin/python bench/ledger.py                   # single + batched, 1/8/32 workers
    .venv/bin/python bench/ledger.py --seconds 10 --workers 8
    .venv/bin/python bench/ledger.py --verify-million  # time `verify` over 1,000,000 transfers

Each measurement runs for a fixed time over a pool of accounts with random pairs. escrowd's
side posts from asyncio workers in this one process (or spread over ``--processes``
processes, as pgbench spreads its clients over as many threads), one mode at a time:

- single: one transfer per call, a unit of work of its own (``post_alone``: one autocommit
  call of ``ledger_post_transfer`` on a pooled connection);
- in-transaction: one transfer per ``Database.transaction()``, through ``Ledger.transfer``
  (how a use case posts a transfer together with rows of its own);
- grouped: one transfer per call through one shared ``TransferPoster``;
- batch: ``--batch`` transfers per ``create_transfers`` call and transaction, each batching
  worker on its own slice of the pool.
The reference is pgbench running a script that does the same writes per transfer in one
transaction — lock and update the two account rows in id order, insert the transfer row and
its two entries with before/after figures — on the same database with as many clients.
The ratio is escrowd ÷ pgbench; absolute numbers drift between runs, the ratio less so.

By default a database ``escrowd_bench`` is created on the local server and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from escrowd.db.migrate import upgrade
from escrowd.db.session import Database
from escrowd.ledger import Ledger, TransferRequest
from escrowd.ledger.alone import post_alone
from escrowd.ledger.poster import TransferPoster
from escrowd.ledger.verify import summary_lines, verify

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "escrowd_bench"
#: What each escrowd worker does per call (see the module's docstring).
MODES = ("single", "in-transaction", "grouped", "batch")

PGBENCH_SCRIPT = """
\\set a random(1, {accounts})
\\set b random(1, {accounts} - 1)
\\set b case when :b >= :a then :b + 1 else :b end
\\set amt random(1, 1000)
\\set tid random(1, 9000000000000000000)
BEGIN;
\\if :a < :b
UPDATE ledger_accounts SET debits_posted = debits_posted + :amt::bigint, version = version + 1
  WHERE id = 'pgb_' || lpad(:a::text, 6, '0')
  RETURNING version AS dv, credits_posted - debits_posted AS dp,
            credits_pending - debits_pending AS dq \\gset
UPDATE ledger_accounts SET credits_posted = credits_posted + :amt::bigint, version = version + 1
  WHERE id = 'pgb_' || lpad(:b::text, 6, '0')
  RETURNING version AS cv, credits_posted - debits_posted AS cp,
            credits_pending - debits_pending AS cq \\gset
\\else
UPDATE ledger_accounts SET credits_posted = credits_posted + :amt::bigint, version = version + 1
  WHERE id = 'pgb_' || lpad(:b::text, 6, '0')
  RETURNING version AS cv, credits_posted - debits_posted AS cp,
            credits_pending - debits_pending AS cq \\gset
UPDATE ledger_accounts SET debits_posted = debits_posted + :amt::bigint, version = version + 1
  WHERE id = 'pgb_' || lpad(:a::text, 6, '0')
  RETURNING version AS dv, credits_posted - debits_posted AS dp,
            credits_pending - debits_pending AS dq \\gset
\\endif
INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, kind,
                              effective_at, created_at, payload_hash)
  VALUES ('pgb_' || :tid::text, 'pgb_' || lpad(:a::text, 6, '0'),
          'pgb_' || lpad(:b::text, 6, '0'), :amt::bigint, 'usd', 'posted', now(), now(),
          md5(:tid::text));
INSERT INTO ledger_entries (transfer_id, account_id, side, amount, posted_before, posted_after,
                            pending_before, pending_after, version_after)
  VALUES ('pgb_' || :tid::text, 'pgb_' || lpad(:a::text, 6, '0'), 'debit', :amt::bigint,
          :dp::bigint + :amt::bigint, :dp::bigint, :dq::bigint, :dq::bigint, :dv::bigint),
         ('pgb_' || :tid::text, 'pgb_' || lpad(:b::text, 6, '0'), 'credit', :amt::bigint,
          :cp::bigint - :amt::bigint, :cp::bigint, :cq::bigint, :cq::bigint, :cv::bigint);
END;
"""


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


async def setup_accounts(url: str, count: int) -> list[str]:
    """``count`` accounts through the service, and as many ``pgb_`` rows for pgbench."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            ledger = Ledger(session)
            ids = [
                (await ledger.open_account(code=f"bench:{i}", currency="usd")).id
                for i in range(count)
            ]
            conn = await session.connection()
            raw = await conn.get_raw_connection()
            await raw.driver_connection.executemany(  # type: ignore[union-attr]
                "INSERT INTO ledger_accounts (id, code, currency, flags, debits_pending,"
                " debits_posted, credits_pending, credits_posted, version, created_at)"
                " VALUES ($1, $2, 'usd', 0, 0, 0, 0, 0, 0, now()) ON CONFLICT DO NOTHING",
                [(f"pgb_{i:06d}", f"pgbench:{i}") for i in range(1, count + 1)],
            )
        return ids
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Run:
    """What a measurement did: transfers, wall seconds, and this side's CPU seconds."""

    transfers: int
    seconds: float
    cpu: float

    def __add__(self, other: Run) -> Run:  # processes run side by side: the longest wall
        return Run(
            self.transfers + other.transfers,
            max(self.seconds, other.seconds),
            self.cpu + other.cpu,
        )

    @property
    def rate(self) -> float:
        return self.transfers / self.seconds

    @property
    def cpu_per_transfer(self) -> float:
        return self.cpu / self.transfers


async def run_escrowd(
    url: str,
    accounts: list[str],
    *,
    workers: int,
    seconds: float,
    mode: str,
    batch: int,
    ready: Callable[[], object] | None = None,
) -> Run:
    """``workers`` asyncio workers in this process, for ``seconds``, posting as ``mode`` says.

    ``ready`` is called once connected, just before the clock starts (to start several
    processes together). The CPU counted is this process's (``time.process_time``) while the
    clock runs.
    """
    if mode != "batch":
        batch = 1
    db = Database(url, pool_size=workers)
    stop = time.monotonic() + seconds
    done = 0
    run = f"{os.getpid():x}-{time.time_ns():x}"
    poster = TransferPoster(db)

    async def worker(w: int) -> None:
        nonlocal done
        rng = random.Random(w)
        # A batch of random pairs locks a good part of a shared pool: concurrent batches would
        # only queue behind each other. Batching workers draw from their own slice instead, as
        # concurrent use cases touch different escrows.
        pool = accounts[w::workers] if batch > 1 and len(accounts) >= 2 * workers else accounts
        n = 0
        while time.monotonic() < stop:
            if mode in ("single", "grouped"):  # one transfer per call, its own unit of work
                a, b = rng.sample(pool, 2)
                n += 1
                request = TransferRequest(
                    id=f"b{run}-{w}-{n}",
                    debit_account_id=a,
                    credit_account_id=b,
                    amount=rng.randint(1, 1000),
                    currency="usd",
                )
                if mode == "single":
                    result = await post_alone(db, request)
                else:
                    result = await poster.post(request)
                assert result.ok, result.error
                done += 1
                continue
            async with db.transaction() as session:
                ledger = Ledger(session)
                if batch == 1:
                    a, b = rng.sample(pool, 2)
                    n += 1
                    await ledger.transfer(
                        id=f"b{run}-{w}-{n}",
                        debit=a,
                        credit=b,
                        amount=rng.randint(1, 1000),
                        currency="usd",
                    )
                else:
                    requests = []
                    for _ in range(batch):
                        a, b = rng.sample(pool, 2)
                        n += 1
                        requests.append(
                            TransferRequest(
                                id=f"b{run}-{w}-{n}",
                                debit_account_id=a,
                                credit_account_id=b,
                                amount=rng.randint(1, 1000),
                                currency="usd",
                            )
                        )
                    results = await ledger.create_transfers(requests)
                    assert all(r.ok for r in results)
            done += batch

    try:
        await db.ping()  # connect before the clock matters
        if ready is not None:
            ready()
        started, cpu = time.monotonic(), time.process_time()
        stop = started + seconds
        await asyncio.gather(*(worker(w) for w in range(workers)))
        return Run(done, time.monotonic() - started, time.process_time() - cpu)
    finally:
        await db.dispose()


def _one_process(
    url: str,
    accounts: list[str],
    workers: int,
    seconds: float,
    mode: str,
    batch: int,
    barrier: Barrier,
    runs: Queue[Run],
) -> None:
    runs.put(
        asyncio.run(
            run_escrowd(
                url,
                accounts,
                workers=workers,
                seconds=seconds,
                mode=mode,
                batch=batch,
                ready=barrier.wait,
            )
        )
    )


def run_processes(
    url: str,
    accounts: list[str],
    *,
    processes: int,
    workers: int,
    seconds: float,
    mode: str,
    batch: int,
) -> Run:
    """``workers`` clients spread over ``processes`` processes that start together, as pgbench
    spreads its clients over threads (``-j``); their transfers and CPU summed.

    Batching processes each take a slice of the pool (as batching workers do in a process).
    """
    if workers % processes:
        raise SystemExit(f"--processes {processes} must divide {workers} workers")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    runs: Queue[Run] = context.Queue()
    children = [
        context.Process(
            target=_one_process,
            args=(
                url,
                accounts[p::processes] if mode == "batch" else accounts,
                workers // processes,
                seconds,
                mode,
                batch,
                barrier,
                runs,
            ),
        )
        for p in range(processes)
    ]
    for child in children:
        child.start()
    total = runs.get()
    for _ in children[1:]:
        total += runs.get()
    for child in children:
        child.join()
        if child.exitcode:
            raise SystemExit(f"a benchmark process failed (exit code {child.exitcode})")
    return total


def run_pgbench(url: str, *, accounts: int, workers: int, seconds: int) -> float:
    p = _libpq(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(PGBENCH_SCRIPT.format(accounts=accounts))
        script = f.name
    try:
        out = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "prepared",
                "-f",
                script,
                "-c",
                str(workers),
                "-j",
                str(workers),
                "-T",
                str(seconds),
                "-h",
                p["host"],
                "-p",
                p["port"],
                "-U",
                p["user"],
                p["dbname"],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script).unlink()
    m = re.search(r"tps = ([0-9.]+)", out)
    if not m:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(m.group(1))


async def main_throughput(args: argparse.Namespace, url: str) -> None:
    accounts = await setup_accounts(url, args.accounts)
    workers = [int(w) for w in args.workers.split(",")]
    reference: dict[int, float] = {}
    print(
        f"{'mode':<16}{'workers':>8}{'escrowd tps':>14}{'pgbench tps':>14}{'ratio':>8}"
        f"{'CPU µs/transfer':>17}"
    )
    for mode in args.modes:
        for n in workers:
            if args.processes > 1:
                run = await asyncio.to_thread(
                    run_processes,
                    url,
                    accounts,
                    processes=args.processes,
                    workers=n,
                    seconds=args.seconds,
                    mode=mode,
                    batch=args.batch,
                )
            else:
                run = await run_escrowd(
                    url, accounts, workers=n, seconds=args.seconds, mode=mode, batch=args.batch
                )
            if n not in reference:
                reference[n] = await asyncio.to_thread(
                    run_pgbench, url, accounts=args.accounts, workers=n, seconds=int(args.seconds)
                )
            ref, tps = reference[n], run.rate
            print(
                f"{mode:<16}{n:>8}{tps:>14,.0f}{ref:>14,.0f}{tps / ref:>8.2f}"
                f"{run.cpu_per_transfer * 1e6:>17,.0f}",
                flush=True,
            )
    print(
        f"(batch = {args.batch} transfers per call; pgbench runs one transfer per transaction, "
        f"-M prepared; {args.accounts} accounts, {args.seconds:g} s each; escrowd's workers in "
        f"{args.processes} process(es); CPU: escrowd's processes, server excluded)"
    )


MILLION_SQL = """
INSERT INTO ledger_accounts (id, code, currency, flags, debits_pending, debits_posted,
                             credits_pending, credits_posted, version, created_at)
SELECT 'mil_' || lpad(a::text, 6, '0'), 'million:' || a, 'usd', 0, 0, 0, 0, 0, 0, now()
FROM generate_series(1, {accounts}) a;

-- Every 10th transfer is a hold; the next one posts half of it (even tens) or voids it.
CREATE TEMP TABLE mil AS
SELECT g,
       CASE WHEN g % 10 = 0 THEN 'pending'
            WHEN g % 10 = 1 AND g > 1 AND (g / 10) % 2 = 0 THEN 'post_pending'
            WHEN g % 10 = 1 AND g > 1 THEN 'void_pending'
            ELSE 'posted' END AS kind,
       1 + (hashint4(g) & 2147483647) % {accounts} AS d,
       1 + (hashint4(g + 7919) & 2147483647) % ({accounts} - 1) AS c0,
       100 + (hashint4(g * 31) & 2147483647) % 10000 AS amt
FROM generate_series(1, {transfers}) g;
-- A settling transfer uses its hold's accounts; its amount is half (post) or all (void).
UPDATE mil s SET d = h.d, c0 = h.c0,
       amt = CASE WHEN s.kind = 'post_pending' THEN h.amt / 2 ELSE h.amt END
FROM mil h WHERE s.kind IN ('post_pending', 'void_pending') AND h.g = s.g - 1;
ALTER TABLE mil ADD COLUMN c int;
UPDATE mil SET c = CASE WHEN c0 >= d THEN c0 + 1 ELSE c0 END;

INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, kind,
                              pending_id, state, effective_at, created_at, payload_hash)
SELECT 'mil_' || g, 'mil_' || lpad(d::text, 6, '0'), 'mil_' || lpad(c::text, 6, '0'), amt,
       'usd', kind,
       CASE WHEN kind IN ('post_pending', 'void_pending') THEN 'mil_' || (g - 1) END,
       CASE WHEN kind = 'pending' THEN
            CASE WHEN g = {transfers} THEN 'pending'
                 WHEN (g / 10) % 2 = 0 THEN 'posted' ELSE 'voided' END END,
       now(), now(), md5(g::text)
FROM mil ORDER BY g;

-- Per side: change to posted and to pending (the hold released by a settle is the hold's
-- full amount, which for a post is twice the posted amount rounded: take it from the hold).
CREATE TEMP TABLE moves AS
SELECT m.g, s.side, CASE s.side WHEN 'debit' THEN m.d ELSE m.c END AS acct, m.amt,
       CASE WHEN m.kind IN ('posted', 'post_pending') THEN m.amt ELSE 0 END AS dposted,
       CASE m.kind WHEN 'pending' THEN m.amt WHEN 'posted' THEN 0 ELSE -h.amt END AS dpending
FROM mil m
CROSS JOIN (VALUES ('debit'), ('credit')) s(side)
LEFT JOIN mil h ON h.g = m.g - 1 AND m.kind IN ('post_pending', 'void_pending');

INSERT INTO ledger_entries (transfer_id, account_id, side, amount, posted_before, posted_after,
                            pending_before, pending_after, version_after)
SELECT 'mil_' || g, 'mil_' || lpad(acct::text, 6, '0'), side, amt,
       net_posted - sp, net_posted, net_pending - sq, net_pending, version
FROM (
    SELECT g, acct, side, amt,
           CASE side WHEN 'debit' THEN -dposted ELSE dposted END AS sp,
           CASE side WHEN 'debit' THEN -dpending ELSE dpending END AS sq,
           SUM(CASE side WHEN 'debit' THEN -dposted ELSE dposted END)
               OVER (PARTITION BY acct ORDER BY g) AS net_posted,
           SUM(CASE side WHEN 'debit' THEN -dpending ELSE dpending END)
               OVER (PARTITION BY acct ORDER BY g) AS net_pending,
           ROW_NUMBER() OVER (PARTITION BY acct ORDER BY g) AS version
    FROM moves
) x ORDER BY g;

UPDATE ledger_accounts a SET
    debits_posted = t.dpo, debits_pending = t.dpe, credits_posted = t.cpo,
    credits_pending = t.cpe, version = t.n
FROM (
    SELECT acct,
           SUM(CASE WHEN side = 'debit' THEN dposted ELSE 0 END) AS dpo,
           SUM(CASE WHEN side = 'debit' THEN dpending ELSE 0 END) AS dpe,
           SUM(CASE WHEN side = 'credit' THEN dposted ELSE 0 END) AS cpo,
           SUM(CASE WHEN side = 'credit' THEN dpending ELSE 0 END) AS cpe,
           COUNT(*) AS n
    FROM moves GROUP BY acct
) t WHERE a.id = 'mil_' || lpad(t.acct::text, 6, '0');
ANALYZE;
"""


async def main_million(args: argparse.Namespace, url: str) -> None:
    p = _libpq(url)
    conn = await asyncpg.connect(
        host=p["host"], port=int(p["port"]), user=p["user"], database=p["dbname"]
    )
    started = time.monotonic()
    try:
        await conn.execute("SET work_mem = '256MB'")
        await conn.execute(MILLION_SQL.format(accounts=args.accounts, transfers=args.transfers))
    finally:
        await conn.close()
    print(f"generated {args.transfers:,} transfers in {time.monotonic() - started:.1f} s")
    db = Database(url)
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report = await verify(db)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        await db.dispose()
    print("\n".join(summary_lines(report)))
    print("  " + ", ".join(f"{name} {secs:.1f} s" for name, secs in report.timings.items()))
    print(
        f"verify: {report.seconds:.1f} s wall, peak RSS {peak / 1024:.0f} MB "
        f"(was {before / 1024:.0f} MB before verify)"
    )


def _modes(value: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in value.split(",") if m.strip())
    unknown = [m for m in names if m not in MODES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown mode(s) {', '.join(unknown) or repr(value)}; choose from {', '.join(MODES)}"
        )
    return tuple(m for m in MODES if m in names)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--url",
        help="PostgreSQL database to use (asyncpg URL); default: a "
        f"fresh '{BENCH_DB}' on the local server, dropped afterwards",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    parser.add_argument("--workers", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument("--accounts", type=int, default=1000, help="account pool (default 1000)")
    parser.add_argument("--batch", type=int, default=100, help="transfers per batch call")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="spread escrowd's workers over this many processes (default 1: all in this one)",
    )
    parser.add_argument(
        "--modes",
        type=_modes,
        default=MODES,
        help=f"only these, comma-separated, of {','.join(MODES)} (default: all)",
    )
    parser.add_argument(
        "--verify-million",
        action="store_true",
        help="generate --transfers transfers with SQL, then time verify()",
    )
    parser.add_argument(
        "--transfers",
        type=int,
        default=1_000_000,
        help="size of the --verify-million ledger (default 1,000,000)",
    )
    args = parser.parse_args()

    url = args.url
    if url is None:
        url = make_url(DEFAULT_SERVER).set(database=BENCH_DB).render_as_string(False)
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        asyncio.run(_admin(url, f'CREATE DATABASE "{BENCH_DB}"'))
    try:
        upgrade(url)
        if args.verify_million:
            asyncio.run(main_million(args, url))
        else:
            asyncio.run(main_throughput(args, url))
    finally:
        if args.url is None:
            asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
