"""The ``escrowd`` command: serve, migrate, ledger verify, reconcile, users.

Every command takes its settings from ``ESCROWD_*`` environment variables
(docs/configuration.md); ``--database-url`` overrides ``ESCROWD_DATABASE_URL`` where offered.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from rich.console import Console

from escrowd import __version__
from escrowd.cli_support import DatabaseUrlOpt, config_error, load_settings, progress_bar, redact
from escrowd.demo_cli import demo as demo_command
from escrowd.errors import EscrowdError
from escrowd.jobs.cli import worker as worker_command
from escrowd.reconcile.cli import HELP as RECONCILE_HELP
from escrowd.reconcile.cli import reconcile_command
from escrowd.sandbox.cli import app as sandbox_app
from escrowd.users.cli import app as users_app

app = typer.Typer(
    name="escrowd",
    help="escrowd: escrow and payouts for two-sided marketplaces.\n\n"
    "Start with `escrowd serve`: it creates the database (SQLite in ./data by default), "
    "applies migrations and serves the API on http://127.0.0.1:8000.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ledger_app = typer.Typer(help="Inspect and check the double-entry ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(users_app, name="users")
app.add_typer(sandbox_app, name="sandbox")
app.command("worker")(worker_command)
app.command("demo")(demo_command)
app.command("reconcile", help=RECONCILE_HELP)(reconcile_command)

console = Console(stderr=True)
out = Console()


def _version(value: bool) -> None:
    if value:
        out.print(f"escrowd {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    from escrowd.logging import configure

    s = load_settings()
    configure(fmt=s.log_format, level=s.log_level)


@app.command()
def migrate(database_url: DatabaseUrlOpt = None) -> None:
    """Apply every pending database migration (safe to run again: it does nothing then)."""
    from escrowd.db.migrate import upgrade

    url = load_settings(database_url).effective_database_url
    console.print(f"Migrating {redact(url)} …")
    upgrade(url)
    console.print("[green]Database is at the latest schema.[/green]")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind. [default: $ESCROWD_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port. [default: $ESCROWD_PORT or 8000]")] = None,
    database_url: DatabaseUrlOpt = None,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Skip migrations at start.")
    ] = False,
    no_demo: Annotated[
        bool,
        typer.Option(
            "--no-demo",
            help="Do not create the demo logins and demo data in an empty database.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Serving processes sharing the port (more than 1 needs PostgreSQL: all they "
            "share is in the database).",
        ),
    ] = 1,
    no_background: Annotated[
        bool,
        typer.Option(
            "--no-background",
            help="Leave inbound webhooks, jobs and sweeps to `escrowd worker` processes "
            "instead of doing them between requests.",
        ),
    ] = False,
) -> None:
    """Migrate the database, then serve the API (Ctrl-C stops it).

    Each serving process also processes stored webhooks, runs due jobs and sweeps between
    requests, unless --no-background leaves them to `escrowd worker` (the way to run under
    load: see docs/scaling.md).
    """
    import uvicorn

    from escrowd.app import create_app, serving_environment
    from escrowd.bootstrap import build
    from escrowd.db.migrate import upgrade

    settings = load_settings(database_url)
    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if overrides:
        settings = settings.model_copy(update=overrides)
    url = settings.effective_database_url
    if workers > 1 and not url.startswith("postgresql"):
        raise config_error(
            ValueError(
                f"--workers {workers} needs PostgreSQL: SQLite has a single writer. Set "
                "ESCROWD_DATABASE_URL (or --database-url) to a postgresql+asyncpg:// URL, or "
                "serve with one process."
            )
        )
    if not no_migrate:
        console.print(f"Migrating {redact(url)} …")
        upgrade(url)
    try:
        container = build(settings)
        app_ = create_app(container, background=not no_background)
    except (EscrowdError, ValueError) as exc:  # a setting escrowd cannot use
        raise config_error(exc) from exc
    if not no_demo and settings.is_dev:
        from escrowd.demo import seed_demo

        seeded = asyncio.run(seed_demo(settings))
        if seeded is not None:
            console.print("Demo logins (development only; created because the database was empty):")
            for email, password, role in seeded.logins:
                console.print(f"  {role:<7} {email}  password: {password}")
            if seeded.escrow_id is not None:
                console.print(
                    f"  demo escrow {seeded.escrow_id}: funded, released to both workers, part "
                    "refunded; worker1 paid out, a second escrow disputed and split "
                    "(`escrowd demo` tells it again and prints the money trail)"
                )
            else:
                console.print(f"  [yellow]No demo escrow:[/yellow] {seeded.error}")
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]escrowd {__version__} is serving at {base}[/bold green]")
    console.print(f"  start here: {base}/   API docs: {base}/docs   Ctrl-C to stop")
    if no_background:
        console.print("  background work is left to `escrowd worker` (--no-background)")
    if workers == 1:
        uvicorn.run(app_, host=settings.host, port=settings.port, log_level="warning")
        return
    # Each process builds its own app from the same settings (the environment, plus what the
    # options said, handed down through it).
    asyncio.run(container.close())
    os.environ.update(serving_environment(settings, background=not no_background))
    console.print(f"  {workers} serving processes")
    uvicorn.run(
        "escrowd.app:app_from_environment",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level="warning",
    )


@ledger_app.command("verify")
def ledger_verify(database_url: DatabaseUrlOpt = None) -> None:
    """Check every ledger invariant; prints a summary and exits 1 on any break.

    Checks: debits equal credits per currency; no account beyond its limit; stored balances
    equal the balances recomputed from entries; two-phase transfers posted or voided at most
    once and within their holds; every entry chain consistent.
    """
    from escrowd.bootstrap import registries
    from escrowd.db.migrate import behind
    from escrowd.db.session import Database
    from escrowd.ledger.verify import summary_lines, verify

    url = load_settings(database_url).effective_database_url

    async def run() -> bool:
        db = Database(url)
        try:
            problem = await behind(db)
            if problem is not None:
                console.print(f"[red]Cannot verify {redact(url)}:[/red] {problem}", soft_wrap=True)
                raise typer.Exit(2)
            with progress_bar(console, "verifying") as step:
                console.print(f"Verifying the ledger in {redact(url)} …")
                report = await verify(db, progress=step, extra=registries().checks)
        finally:
            await db.dispose()
        for line in summary_lines(report):
            out.print(line, highlight=False)
        return report.ok

    ok = asyncio.run(run())
    if not ok:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
