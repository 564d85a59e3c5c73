"""Check every ledger invariant over the whole database, with SQL aggregates.

Call it with a :class:`~escrowd.db.session.Database`; this is what ``escrowd ledger verify``
does::

    from escrowd.db.session import Database
    from escrowd.ledger.verify import summary_lines, verify

    database = Database(url)
    try:
        report = await verify(database, progress=lambda done, total, step: ...)
    finally:
        await database.dispose()
    print("\\n".join(summary_lines(report)))
    exit_code = 0 if report.ok else 1

``progress(done, total, step)`` is called before each check (``done`` checks finished out of
``total``, ``step`` describes the one starting) and once at the end with ``done == total``.

The work happens in the database: each check is one statement whose result is only the rows
that break an invariant (normally none), read as a stream, so Python's memory stays flat
whatever the ledger's size. All checks read one snapshot (REPEATABLE READ on PostgreSQL; on
SQLite the transaction holds the write lock), so verify can run beside live traffic.

Other domains add their own invariants (escrow balances, provider counterparts): the
composition root gathers them (``Registries.checks``) and callers pass them as ``extra``; they
run after the ledger's own checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.db.session import Database
from escrowd.ledger.checks import LEDGER_CHECKS, Check, CheckFn

__all__ = [
    "LEDGER_CHECKS",
    "Break",
    "Check",
    "CheckFn",
    "VerifyReport",
    "summary_lines",
    "verify",
]

#: ``progress(done, total, step)``.
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True, slots=True)
class Break:
    check: str
    message: str


@dataclass(slots=True)
class VerifyReport:
    accounts: int = 0
    transfers: int = 0
    entries: int = 0
    currencies: int = 0
    failed_ids: int = 0
    checks: list[str] = field(default_factory=list)
    #: The first ``max_breaks`` breaks of each check.
    breaks: list[Break] = field(default_factory=list)
    #: Every break found, including those not listed.
    break_count: int = 0
    seconds: float = 0.0
    #: Wall time of each check, in the order run.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.break_count == 0


#: Checks other modules register (escrow balance = funded - released - refunded, provider
#: counterparts, ...). Run after :data:`LEDGER_CHECKS`, in registration order.
async def _counts(conn: AsyncConnection, report: VerifyReport) -> None:
    row = (
        await conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM ledger_accounts) AS accounts,"
                " (SELECT COUNT(*) FROM ledger_transfers) AS transfers,"
                " (SELECT COUNT(*) FROM ledger_entries) AS entries,"
                " (SELECT COUNT(DISTINCT currency) FROM ledger_accounts) AS currencies,"
                " (SELECT COUNT(*) FROM ledger_failed_transfers) AS failed_ids"
            )
        )
    ).one()
    report.accounts, report.transfers, report.entries = row.accounts, row.transfers, row.entries
    report.currencies, report.failed_ids = row.currencies, row.failed_ids


async def verify(
    database: Database,
    *,
    progress: Progress | None = None,
    checks: Sequence[Check] | None = None,
    extra: Sequence[Check] = (),
    max_breaks: int = 100,
) -> VerifyReport:
    """Run ``checks`` (default: the ledger's own, then ``extra``) and report what broke."""
    todo = list(checks) if checks is not None else [*LEDGER_CHECKS, *extra]
    report = VerifyReport()
    started = time.monotonic()
    async with database.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with conn.begin():
            if conn.dialect.name == "postgresql":
                # Big joins and sorts stay in memory instead of spilling; local to this snapshot.
                await conn.execute(text("SET LOCAL work_mem = '128MB'"))
            await _counts(conn, report)
            for done, check in enumerate(todo):
                if progress is not None:
                    progress(done, len(todo), check.description)
                report.checks.append(check.name)
                check_started = time.monotonic()
                listed = 0
                async for message in check.run(conn):
                    report.break_count += 1
                    if listed < max_breaks:
                        report.breaks.append(Break(check.name, message))
                        listed += 1
                report.timings[check.name] = time.monotonic() - check_started
    if progress is not None:
        progress(len(todo), len(todo), "done")
    report.seconds = time.monotonic() - started
    return report


def summary_lines(report: VerifyReport) -> list[str]:
    """The report for people: a verdict, the counts, then one line per listed break."""
    verdict = "OK" if report.ok else f"{report.break_count} break(s) found"
    lines = [
        f"ledger verify: {verdict}",
        f"  {report.accounts:,} accounts, {report.transfers:,} transfers, "
        f"{report.entries:,} entries, {report.currencies} currencies, "
        f"{report.failed_ids:,} failed ids",
        f"  {len(report.checks)} checks in {report.seconds:.1f} s",
    ]
    lines += [f"  [{b.check}] {b.message}" for b in report.breaks]
    unlisted = report.break_count - len(report.breaks)
    if unlisted:
        lines.append(f"  … and {unlisted:,} more")
    return lines
