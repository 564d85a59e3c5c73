"""The ``escrowd`` command's first impression: help that reads right, settings errors that say
what to fix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from escrowd.app import create_app
from escrowd.cli import app
from escrowd.config import ConfigError


@pytest.fixture(autouse=True)
def _logging_back_as_it_was() -> Iterator[None]:
    """The root command points logging at the runner's stderr, which closes after the test."""
    before = structlog.get_config()
    yield
    structlog.configure(**before)


COMMANDS = [
    [],
    ["serve"],
    ["migrate"],
    ["worker"],
    ["demo"],
    ["ledger", "verify"],
    ["sandbox", "serve"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "escrowd")
def test_help_shows_flags_as_flags(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output
    assert not re.search(r"--[a-z-]+\s+(BOOLEAN|<bool>|bool)\b", result.output)


@pytest.mark.parametrize(
    "command", [["migrate"], ["serve", "--no-demo"], ["ledger", "verify"], ["demo"]]
)
def test_a_bad_setting_stops_every_command_with_the_variable_value_and_choices(
    command: list[str],
) -> None:
    result = CliRunner().invoke(app, command, env={"ESCROWD_ENV": "staging", "COLUMNS": "60"})
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Configuration error: ESCROWD_ENV is 'staging'; allowed: development (or dev), test, "
        "production (or prod)."
    )


def test_serve_names_a_bad_port_and_nothing_else() -> None:
    result = CliRunner().invoke(app, ["serve"], env={"ESCROWD_PORT": "http", "COLUMNS": "60"})
    assert result.exit_code == 2
    assert "pydantic" not in result.output
    assert "validation error" not in result.output
    assert result.output.strip() == (
        "Configuration error: ESCROWD_PORT is 'http'; allowed: a whole number from 1 to 65535."
    )


def test_production_lists_each_refusal_on_its_own_line() -> None:
    result = CliRunner().invoke(
        app,
        ["migrate"],
        env={
            "ESCROWD_ENV": "prod",
            "COLUMNS": "60",
            "ESCROWD_PROVIDER": None,
            "ESCROWD_SECRET_KEY": None,
            "ESCROWD_DATABASE_URL": None,
        },
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0] == "Configuration errors:"
    assert [line.split()[1] for line in lines[1:]] == [
        "ESCROWD_SECRET_KEY",
        "ESCROWD_PROVIDER",
        "ESCROWD_DATABASE_URL",
    ]


def test_the_app_itself_raises_the_same_clean_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCROWD_ENV", "qa")
    with pytest.raises(ConfigError) as refused:
        create_app()
    assert str(refused.value) == (
        "ESCROWD_ENV is 'qa'; allowed: development (or dev), test, production (or prod)."
    )
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_ledger_verify_on_an_unmigrated_database_says_to_migrate(tmp_path: Path) -> None:
    # A long path: the message stays whole (no line break inside "escrowd migrate").
    folder = tmp_path / ("a-folder-with-a-long-name-" * 4)
    folder.mkdir()
    url = f"sqlite+aiosqlite:///{folder / 'empty.sqlite3'}"
    result = CliRunner().invoke(app, ["ledger", "verify", "--database-url", url])
    assert result.exit_code == 2
    assert "has no escrowd tables" in result.output
    assert "escrowd migrate" in result.output
    assert "Traceback" not in result.output


def test_sandbox_serve_help_says_how_to_point_escrowd_at_it() -> None:
    result = CliRunner().invoke(app, ["sandbox", "serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--deliver-to" in result.output
    assert "ESCROWD_SANDBOX_URL" in result.output
    assert "escrowd migrate" in result.output


def test_sandbox_serve_refuses_a_deliver_to_that_is_not_a_url(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'never.sqlite3'}"
    result = CliRunner().invoke(
        app,
        ["sandbox", "serve", "--deliver-to", "127.0.0.1:8000", "--database-url", url],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "'127.0.0.1:8000' is not an http(s) base URL" in result.output
    assert not (tmp_path / "never.sqlite3").exists()


def test_sandbox_serve_without_deliver_to_still_checks_the_database(tmp_path: Path) -> None:
    # --deliver-to is optional (webhooks then stay queued); the migration check still runs.
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    result = CliRunner().invoke(
        app, ["sandbox", "serve", "--database-url", url], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2, result.output
    assert "has no escrowd tables" in result.output
    assert "Missing option" not in result.output


def test_sandbox_serve_on_an_unmigrated_database_says_to_migrate(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    result = CliRunner().invoke(
        app,
        ["sandbox", "serve", "--deliver-to", "http://127.0.0.1:8000", "--database-url", url],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "has no escrowd tables" in result.output
    assert "escrowd migrate" in result.output
    assert "Traceback" not in result.output
