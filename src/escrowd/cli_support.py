"""What every ``escrowd`` command shares: reading settings, showing a database URL safely."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url

from escrowd.config import Settings

#: Progress and errors go to stderr, so a command's stdout stays its result.
err_console = Console(stderr=True)


def load_settings(database_url: str | None = None) -> Settings:
    """Settings from the environment (``--database-url`` wins); exit 2 with a clear message
    when they cannot be used."""
    try:
        return Settings() if database_url is None else Settings(database_url=database_url)
    except ValueError as exc:
        raise config_error(exc) from exc


def config_error(exc: Exception) -> typer.Exit:
    """Print a setting's problem (one line each, as the settings wrote them); the exit to raise."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    # soft_wrap: one problem stays one line, whatever the terminal's (or a log's) width.
    if len(lines) == 1:
        err_console.print(f"[red]Configuration error:[/red] {escape(lines[0])}", soft_wrap=True)
    else:
        err_console.print("[red]Configuration errors:[/red]")
        for line in lines:
            err_console.print(f"  - {escape(line)}", soft_wrap=True)
    return typer.Exit(2)


def redact(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
