"""Settings, read once from ``ESCROWD_*`` environment variables.

Every setting is documented in docs/configuration.md with its default. Outside development
mode the secret key must be set explicitly: a default signing key in production would let
anyone mint access tokens.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105  (refused outside dev)
DEFAULT_DATA_DIR = Path("data")


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESCROWD_", extra="ignore", frozen=True)

    env: Environment = Environment.development
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    secret_key: str = DEV_SECRET_KEY
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_format: str = Field(default="auto", pattern="^(auto|console|json)$")
    log_level: str = "INFO"
    jwt_issuer: str = "escrowd"
    jwt_audience: str = "escrowd-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86400)
    idempotency_ttl_seconds: int = Field(default=86400, ge=60)
    db_pool_size: int = Field(default=10, ge=1)
    db_echo: bool = False

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.env is Environment.production:
            if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "ESCROWD_SECRET_KEY must be set to a random value of at least 32 characters "
                    "when ESCROWD_ENV=production (try: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'escrowd.sqlite3').as_posix()}"

    @property
    def is_dev(self) -> bool:
        return self.env is not Environment.production
