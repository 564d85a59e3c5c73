"""What every ``escrowd`` command shares: reading settings, showing a database URL safely."""

from __future__ import annotations

import typer
from rich.console import Console
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
        err_console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def redact(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
