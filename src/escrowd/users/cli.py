"""``escrowd users …``: manage accounts from the server's shell (the way to make the first admin).

Mounted by the main CLI as ``app.add_typer(users_cli, name="users")``.
"""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from escrowd.bootstrap import build
from escrowd.cli_support import DatabaseUrlOpt, load_settings
from escrowd.errors import EscrowdError
from escrowd.users import passwords, service
from escrowd.users.domain import check_password, normalize_email

app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
users_cli = app
console = Console(stderr=True)
out = Console()


class CliRole(StrEnum):
    client = "client"
    worker = "worker"
    admin = "admin"


@app.callback()
def _users() -> None:
    """Manage user accounts (create the first admin with `escrowd users create`)."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@app.command("create")
def create(
    email: Annotated[str, typer.Option("--email", help="Login email (stored lower-case).")],
    role: Annotated[CliRole, typer.Option("--role", help="client, worker or admin.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Display name. [default: the email's local part]")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of stdin (scripts)."
        ),
    ] = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Create a user with any role, admins included. Prompts for the password twice."""
    try:
        normalized = normalize_email(email)
        password = _read_password(password_stdin)
        check_password(password)
    except EscrowdError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    settings = load_settings(database_url)

    async def run() -> str:
        container = build(settings)
        try:
            async with container.db.transaction() as session:
                user = await service.create(
                    session,
                    clock=container.clock,
                    passwords=passwords.for_settings(settings),
                    email=normalized,
                    password=password,
                    name=name or normalized.partition("@")[0],
                    role=role.value,
                    granted_by_admin=True,
                )
                return user.id
        finally:
            await container.close()

    try:
        user_id = asyncio.run(run())
    except EscrowdError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    except DBAPIError as exc:
        console.print(
            f"[red]Database error:[/red] {exc.orig}. Is the database migrated (`escrowd migrate`)?"
        )
        raise typer.Exit(1) from exc
    console.print(f"[green]Created {role.value} {normalized}[/green]")
    out.print(user_id, highlight=False)
