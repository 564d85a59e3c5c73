"""What every ``escrowd`` command shares: reading settings, showing a database URL safely."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from escrowd.config import Settings

#: Progress and errors go to stderr, so a command's stdout stays its result.
err_console = Console(stderr=True)

#: ``--database-url``, the same on every command that opens the database.
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database to use, e.g. postgresql+asyncpg://user@host/db or "
        "sqlite+aiosqlite:///data/escrowd.sqlite3. Default: $ESCROWD_DATABASE_URL, else the "
        "SQLite file in $ESCROWD_DATA_DIR.",
        show_default=False,
    ),
]


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


#: ``step(done, total, description)``: what long commands report their progress with.
Step = Callable[[int, int, str], None]


@contextmanager
def progress_bar(
    console: Console, what: str, *, unit: str = "", quiet: bool = False
) -> Iterator[Step]:
    """A progress bar on ``console`` while the block runs (not when quiet or not a terminal),
    and the ``step`` callback that moves it; it disappears when the block ends."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}" + (f" {unit}" if unit else "")),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    ) as progress:
        task = progress.add_task(what, total=None)

        def step(done: int, total: int, description: str) -> None:
            progress.update(task, completed=done, total=total, description=description)

        yield step
