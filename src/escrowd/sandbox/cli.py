"""``escrowd sandbox serve``: the sandbox in a process of its own; ``escrowd sandbox clock
show|advance``: the sandbox clock from the shell (mounted by the main CLI as
``app.add_typer(sandbox_cli, name="sandbox")``). All work on the database directly."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from escrowd.cli_support import DatabaseUrlOpt, config_error, load_settings, redact
from escrowd.config import PAYPAL_SANDBOX_PREFIX, SANDBOX_PREFIX
from escrowd.sandbox.stripe.clock import MAX_ADVANCE, ClockState
from escrowd.sandbox.stripe.host import standalone

app = typer.Typer(help="The built-in Stripe and PayPal sandbox.", no_args_is_help=True)
sandbox_cli = app
clock_app = typer.Typer(help="Read or move the sandbox clock.", no_args_is_help=True)
app.add_typer(clock_app, name="clock")
console = Console(stderr=True)
out = Console()

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> int:
    """``90`` or ``90s``, ``15m``, ``2h``, ``7d``, ``1w`` → seconds."""
    m = _DURATION.match(text.lower())
    if m is None:
        raise typer.BadParameter(f"'{text}' is not a duration such as 30s, 15m, 2h, 7d or 1w.")
    seconds = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not 1 <= seconds <= MAX_ADVANCE:
        raise typer.BadParameter(f"the duration must be between 1 second and {MAX_ADVANCE} s.")
    return seconds


def _print(state: ClockState, handled: int | None = None) -> None:
    when = datetime.fromtimestamp(state.now, UTC).isoformat()
    out.print(f"sandbox time  {when}  ({state.now})")
    out.print(f"offset        {state.offset_seconds} s ahead of real time")
    if handled is not None:
        out.print(f"handled       {handled} object(s) that came due")


@clock_app.callback()
def _clock() -> None:
    """Read or move the sandbox clock (what Stripe's test clocks do, for the whole sandbox)."""


@clock_app.command("show")
def show() -> None:
    """Print the sandbox's current time and how far it runs ahead of real time."""
    from escrowd.sandbox.stripe import clock

    async def run() -> ClockState:
        container = standalone(load_settings())
        try:
            return await clock.state(container)
        finally:
            await container.close()

    _print(asyncio.run(run()))


@clock_app.command("advance")
def advance(
    by: Annotated[str, typer.Option("--by", help="How far: 30s, 15m, 2h, 7d, 1w.")],
) -> None:
    """Move the sandbox clock forward and run what comes due (expiries, payouts, renewals)."""
    from escrowd.sandbox.stripe import clock
    from escrowd.sandbox.stripe.due import run_due

    seconds = parse_duration(by)

    async def run() -> tuple[ClockState, int]:
        container = standalone(load_settings())
        try:
            state = await clock.shift(container, seconds)
            return state, await run_due(container)
        finally:
            await container.close()

    state, handled = asyncio.run(run())
    _print(state, handled)


def _http_url(value: str, option: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and (parts.port is None or parts.port > 0)
        usable = usable and not parts.query and not parts.fragment
    except ValueError:
        usable = False
    if not usable:
        raise typer.BadParameter(
            f"'{value}' is not an http(s) base URL such as http://127.0.0.1:8000.",
            param_hint=option,
        )
    return value.strip().rstrip("/")


@app.command("serve")
def serve(
    deliver_to: Annotated[
        str | None,
        typer.Option(
            "--deliver-to",
            help="escrowd's base URL: the sandbox POSTs its webhooks to "
            "URL/v1/webhooks/stripe and URL/v1/webhooks/paypal (e.g. http://127.0.0.1:8000). "
            "Without it the webhooks stay queued, undelivered (a benchmark of the sandbox "
            "alone).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8100,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="Where escrowd and browsers reach this sandbox (its hosted pages' links are "
            "built on it). [default: http://HOST:PORT]",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Serve the Stripe and PayPal sandboxes in a process of their own, as Stripe is remote.

    The same sandboxes escrowd runs in its own process by default: Stripe's API and hosted
    pages (card form, Connect onboarding) under /sandbox/stripe, PayPal's API and approval page
    under /sandbox/paypal. On escrowd's database (the sandbox's tables are escrowd's: run
    `escrowd migrate` first). This process runs what comes due on the sandbox clock and POSTs
    the sandboxes' webhooks to --deliver-to, signed and retried as in process.

    Then start escrowd with the same database and ESCROWD_SANDBOX_URL set to this sandbox's
    URL; it calls the sandbox over HTTP and neither serves it nor delivers its webhooks:

      escrowd sandbox serve --deliver-to http://127.0.0.1:8000 &

      ESCROWD_SANDBOX_URL=http://127.0.0.1:8100 escrowd serve
    """
    import uvicorn

    from escrowd.db.migrate import behind
    from escrowd.sandbox.own_process import create_server_app

    target = _http_url(deliver_to, "--deliver-to") if deliver_to else None
    own = _http_url(public_url, "--public-url") if public_url else f"http://{host}:{port}"
    settings = load_settings(database_url)
    if not settings.is_dev:
        raise config_error(
            ValueError("The sandbox is for development and tests, not ESCROWD_ENV=production.")
        )
    # Its own URL is where its links point (onboarding, PayPal approval) and what its PayPal
    # webhooks name as their certificate's home; ESCROWD_SANDBOX_URL is escrowd's to read.
    settings = settings.model_copy(update={"public_url": own, "sandbox_url": ""})

    async def check() -> str | None:
        # Its own engine: the server's runs on uvicorn's event loop, not this one.
        probe = standalone(settings)
        try:
            return await behind(probe.db)
        finally:
            await probe.close()

    problem = asyncio.run(check())
    if problem is not None:
        console.print(f"[red]Cannot serve the sandbox:[/red] {problem}", soft_wrap=True)
        raise typer.Exit(2)
    app_ = create_server_app(standalone(settings), deliver_to=target)
    console.print(f"[bold green]escrowd sandbox is serving at {own}[/bold green]", soft_wrap=True)
    console.print(
        f"  Stripe {own}{SANDBOX_PREFIX}   PayPal {own}{PAYPAL_SANDBOX_PREFIX}", soft_wrap=True
    )
    console.print(f"  database {redact(settings.effective_database_url)}", soft_wrap=True)
    if target is not None:
        console.print(f"  webhooks go to {target}/v1/webhooks/stripe and /paypal", soft_wrap=True)
    else:
        console.print("  webhooks stay queued: no --deliver-to", soft_wrap=True)
    console.print(
        f"  start escrowd on the same database with ESCROWD_SANDBOX_URL={own}", soft_wrap=True
    )
    # No access log: a line per request would cost more than some requests do.
    uvicorn.run(app_, host=host, port=port, log_level="warning", access_log=False)
