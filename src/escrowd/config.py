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


class ProviderMode(StrEnum):
    #: escrowd's own Stripe-compatible emulator, served in process (no keys, no network).
    sandbox = "sandbox"
    #: The real Stripe API (needs ESCROWD_STRIPE_SECRET_KEY).
    stripe = "stripe"


SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_dev_only_not_a_secret"  # noqa: S105  (sandbox only)


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
    #: argon2id cost overrides; unset means argon2-cffi's recommended (RFC 9106) profile.
    argon2_time_cost: int | None = Field(default=None, ge=1)
    argon2_memory_cost: int | None = Field(default=None, ge=8)
    argon2_parallelism: int | None = Field(default=None, ge=1)
    #: The marketplace's default fee policy as JSON, e.g. {"rate_bps": 1500}; see docs/escrows.md.
    fee_policy: str = ""
    public_url: str = "http://127.0.0.1:8000"
    provider: ProviderMode = ProviderMode.sandbox
    stripe_secret_key: str = ""
    stripe_webhook_secrets: str = ""
    stripe_api_base: str = ""
    stripe_timeout_seconds: float = Field(default=30.0, gt=0, le=120)

    @model_validator(mode="after")
    def _check(self) -> Self:
        weak_key = self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32
        if self.env is Environment.production and weak_key:
            raise ValueError(
                "ESCROWD_SECRET_KEY must be set to a random value of at least 32 characters "
                "when ESCROWD_ENV=production (try: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        if self.provider is ProviderMode.stripe and not self.stripe_secret_key:
            raise ValueError(
                "ESCROWD_PROVIDER=stripe needs ESCROWD_STRIPE_SECRET_KEY (sk_live_… or sk_test_…); "
                "leave ESCROWD_PROVIDER unset to use the built-in sandbox."
            )
        return self

    @property
    def webhook_secrets(self) -> list[str]:
        """Stripe endpoint secrets accepted on inbound webhooks (several during rotation)."""
        if self.provider is ProviderMode.sandbox:
            extra = [s.strip() for s in self.stripe_webhook_secrets.split(",") if s.strip()]
            return [SANDBOX_WEBHOOK_SECRET, *extra]
        return [s.strip() for s in self.stripe_webhook_secrets.split(",") if s.strip()]

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'escrowd.sqlite3').as_posix()}"

    @property
    def is_dev(self) -> bool:
        return self.env is not Environment.production
