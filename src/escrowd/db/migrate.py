"""Apply Alembic migrations programmatically (``escrowd migrate``, ``serve``, tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from escrowd.db.session import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Alembic's env runs its own event loop; keep it off ours."""
    await asyncio.to_thread(upgrade, url, revision)


def head() -> str:
    """The newest migration this escrowd ships."""
    rev = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert rev is not None
    return rev


async def current(db: Database) -> str | None:
    """The migration the database is at; None when escrowd never migrated it."""
    try:
        async with db.transaction() as s:
            return (await s.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:  # no alembic_version table: an empty or foreign database
        return None


async def behind(db: Database) -> str | None:
    """Why the database cannot be used as it is (not migrated, or migrated to an older
    revision), with what to run; None when it is at the head."""
    at, newest = await current(db), head()
    if at == newest:
        return None
    where = "has no escrowd tables" if at is None else f"is at migration {at}, not {newest}"
    return f"The database {where}. Run `escrowd migrate` first (same database options)."
