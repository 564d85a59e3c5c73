"""``escrowd sandbox clock show|advance``: the sandbox clock from the shell (mounted by the main
CLI as ``app.add_typer(sandbox_cli, name="sandbox")``). Works on the database directly."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from escrowd.cli_support import load_settings
from escrowd.sandbox.stripe.clock import MAX_ADVANCE, ClockState
from escrowd.sandbox.stripe.host import standalone

app = typer.Typer(help="The built-in Stripe sandbox.", no_args_is_help=True)
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
