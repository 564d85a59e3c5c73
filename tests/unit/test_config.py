from __future__ import annotations

import pytest

from escrowd.config import DEV_SECRET_KEY, Environment, Settings


def test_production_refuses_the_development_secret_key() -> None:
    with pytest.raises(ValueError, match="ESCROWD_SECRET_KEY"):
        Settings(env=Environment.production, secret_key=DEV_SECRET_KEY)


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(env=Environment.production, secret_key="short")


def test_production_accepts_a_long_random_secret_key() -> None:
    s = Settings(env=Environment.production, secret_key="x" * 48)
    assert not s.is_dev


def test_default_database_is_a_sqlite_file_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ESCROWD_DATABASE_URL", raising=False)
    monkeypatch.setenv("ESCROWD_DATA_DIR", "/srv/escrowd")
    assert Settings().effective_database_url == "sqlite+aiosqlite:////srv/escrowd/escrowd.sqlite3"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCROWD_PORT", "9123")
    monkeypatch.setenv("ESCROWD_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    s = Settings()
    assert s.port == 9123
    assert s.effective_database_url == "postgresql+asyncpg://u@h/db"
