"""``escrowd reconcile``: the ledger against the payment provider, with an exit code for cron."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from escrowd.cli_support import DatabaseUrlOpt, load_settings, progress_bar, redact
from escrowd.config import Settings
from escrowd.errors import EscrowdError
from escrowd.money import Money
from escrowd.providers.errors import ProviderError
from escrowd.reconcile.service import Report, day_start, reconcile, reconcile_escrow
from escrowd.reconcile.sides import MEASURES

err = Console(stderr=True)
out = Console()

#: Exit codes (docs/reconcile.md).
OK, DIFFERENCES, CANNOT_RUN = 0, 1, 2


def parse_when(text: str, *, param: str) -> datetime:
    """``2024-05-01`` (midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        if len(text) == 10:
            return day_start(date.fromisoformat(text))
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is neither a date (2024-05-01) nor a time (2024-05-01T06:00:00Z)",
            param_hint=param,
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


#: ``--help``: paragraphs are one string each, so the terminal wraps them.
HELP = "\n\n".join(
    [
        "Compare the ledger with the payment provider and report every difference.",
        "`escrowd ledger verify` checks the ledger against itself; this checks it against the "
        "world: each escrow's payment (amount and fee), refunds, transfers to payees and their "
        "reversals, and each subscription invoice's payment (amount and fee), as escrowd "
        "booked them and as the provider has them. PayPal escrows are compared with PayPal "
        "(each order's captures, fee and refunds), and so are payouts to PayPal emails. Each "
        "difference "
        "comes with what to do about it; each day's totals are shown side by side.",
        "Exit status: 0 no differences, 1 differences found, 2 could not run (configuration, "
        "database, or provider unreachable).",
        'Every morning from cron: escrowd reconcile --since "$(date -u -d yesterday +%F)" '
        '--until "$(date -u +%F)" --json > reconcile.json',
        "`escrowd worker` runs the same check daily and opens an incident per difference. "
        "More: docs/reconcile.md.",
    ]
)


def reconcile_command(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Start of the range (inclusive): a date such as 2024-05-01 (midnight UTC) or "
            "an ISO time. [default: 24 hours before --until]",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="End of the range (exclusive), same forms. Held at least 10 minutes before "
            "now: younger objects may still be settling. [default: now]",
            show_default=False,
        ),
    ] = None,
    escrow: Annotated[
        str | None,
        typer.Option(
            "--escrow",
            help="Check one escrow's whole life instead of a range (esc_…): its payment, "
            "every refund and every transfer.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the report as JSON on stdout (for scripts)."),
    ] = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Compare the ledger with the payment provider and report every difference."""
    settings = load_settings(database_url)
    now = datetime.now(UTC)
    end = parse_when(until, param="--until") if until else now
    start = parse_when(since, param="--since") if since else end - timedelta(days=1)
    if escrow is None and start >= end:
        raise typer.BadParameter("--since must be before --until", param_hint="--since")
    try:
        report = asyncio.run(_run(settings, start, end, escrow, quiet=as_json))
    except (EscrowdError, ProviderError, OSError, ValueError) as exc:
        where = redact(settings.effective_database_url)
        err.print(f"[red]Could not reconcile[/red] ({where}): {exc}")
        raise typer.Exit(CANNOT_RUN) from exc
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        _print(report)
    raise typer.Exit(OK if report.ok else DIFFERENCES)


async def _run(
    settings: Settings, start: datetime, end: datetime, escrow: str | None, *, quiet: bool
) -> Report:
    from escrowd.bootstrap import build

    container = build(settings)
    try:
        if escrow is not None:
            return await reconcile_escrow(container, escrow)
        with progress_bar(err, "reconciling", unit="days", quiet=quiet) as step:
            return await reconcile(container, since=start, until=end, progress=step)
    finally:
        await container.close()


def _print(report: Report) -> None:
    if report.escrow_id:
        out.print(f"Reconciled escrow {report.escrow_id}.")
    elif report.since and report.until:
        out.print(f"Reconciled {report.since.isoformat()} to {report.until.isoformat()}.")
    c = report.compared
    out.print(
        f"Compared {c['payments']} payments, {c['refunds']} refunds, {c['transfers']} "
        f"transfers, {c['payouts']} payouts."
    )
    if report.totals:
        table = Table("day", "currency", *MEASURES, title="Totals: ledger / provider")
        for (day, currency), measures in sorted(report.totals.items()):
            cells = []
            for m in MEASURES:
                ours, theirs = measures[m]
                text = f"{Money(ours, currency)} / {Money(theirs, currency)}"
                cells.append(text if ours == theirs else f"[yellow]{text}[/yellow]")
            table.add_row(day.isoformat(), currency.upper(), *cells)
        out.print(table)
    if report.in_flight:
        out.print(
            f"Left out (operations in flight, settled by the janitor): "
            f"{', '.join(sorted(report.in_flight))}"
        )
    if report.ok:
        out.print("[green]No differences.[/green]")
        return
    out.print(f"[red]{len(report.differences)} difference(s):[/red]")
    for d in report.differences:
        out.print(f"\n[bold]{d.kind.value}[/bold]  {d.escrow_id or '(no escrow)'}  {d.object_id}")
        out.print(f"  {d.detail}", highlight=False)
        out.print(f"  What to do: {d.advice}", highlight=False)
