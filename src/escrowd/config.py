"""Settings, read once from ``ESCROWD_*`` environment variables.

Every setting is documented in docs/configuration.md with its default. Production refuses
what exists for development: the development signing key (anyone could mint access tokens),
the sandbox provider (it moves no money), the sandbox's public webhook secret (anyone could
sign webhooks) and SQLite (one writer, one machine).

A setting escrowd cannot use raises ``ConfigError``, whose message names the variable, the
value given and the values allowed: it is what an operator sees, so nothing else goes in it.
"""

from __future__ import annotations

import re
import types
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin

import annotated_types
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105  (refused outside dev)
DEFAULT_DATA_DIR = Path("data")


class ProviderMode(StrEnum):
    #: escrowd's own Stripe-compatible emulator, served in process (no keys, no network).
    sandbox = "sandbox"
    #: The real Stripe API (needs ESCROWD_STRIPE_SECRET_KEY).
    stripe = "stripe"


SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_dev_only_not_a_secret"  # noqa: S105  (sandbox only)
#: The one API key the sandbox answers, and the one escrowd's adapter sends it. Public on
#: purpose, like Stripe's published test values: the sandbox never runs in production.
SANDBOX_SECRET_KEY = "sk_test_sandbox"  # noqa: S105
#: Where escrowd serves its Stripe sandbox (and where the adapter finds it in sandbox mode).
SANDBOX_PREFIX = "/sandbox/stripe"
#: Where escrowd serves its PayPal sandbox, and the one client id / secret it answers (public on
#: purpose, like the Stripe test key above).
PAYPAL_SANDBOX_PREFIX = "/sandbox/paypal"
PAYPAL_SANDBOX_CLIENT_ID = "sandbox-paypal-client"
PAYPAL_SANDBOX_CLIENT_SECRET = "sandbox-paypal-secret"  # noqa: S105
#: The webhook id the PayPal sandbox signs its deliveries with; escrowd accepts it in sandbox
#: mode only (like SANDBOX_WEBHOOK_SECRET), besides ESCROWD_PAYPAL_WEBHOOK_ID.
PAYPAL_SANDBOX_WEBHOOK_ID = "WH-SANDBOX-0000000000000000"
#: Where, under PAYPAL_SANDBOX_PREFIX, the sandbox serves the certificate it signs them with.
PAYPAL_SANDBOX_CERT_PATH = "/v1/notifications/certs/CERT-sandbox-webhooks"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


#: Short forms accepted for enum settings (any case), e.g. ESCROWD_ENV=dev.
ALIASES: dict[str, dict[str, str]] = {
    "env": {"dev": "development", "prod": "production"},
}


class ConfigError(ValueError):
    """Settings escrowd cannot start with; the message is meant for the operator as it is."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESCROWD_", extra="ignore", frozen=True)

    env: Environment = Environment.development
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    secret_key: str = DEV_SECRET_KEY
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"
    #: FastAPI's built-in OpenTelemetry (traces, metrics and logs to the providers configured in
    #: the process, docs/configuration.md). Off: with no provider configured its per-request
    #: check alone cost about 2 % of a serving process's CPU.
    opentelemetry: bool = False
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
    #: Seconds a payee's released money stays pending before it is available (0: at once).
    payout_delay_seconds: int = Field(default=0, ge=0, le=90 * 86400)
    #: A clawback the payee's balance cannot cover (already paid out): ``recover`` books the
    #: rest as the payee's debt, repaid from their next earnings; ``absorb`` books it as the
    #: platform's loss. See docs/refunds.md. Also for a chargeback's recovery from payees
    #: (docs/disputes.md), where ``absorb`` leaves the uncovered part with the payee.
    clawback_shortfall: Literal["recover", "absorb"] = "recover"
    #: Seconds before an unpaid escrow's ``expires_at`` that ``escrow.payment_window_expiring``
    #: is written (once), for windows longer than this; 0 turns the reminder off.
    payment_window_reminder_seconds: int = Field(default=120, ge=0, le=86400)
    public_url: str = "http://127.0.0.1:8000"
    provider: ProviderMode = ProviderMode.sandbox
    stripe_secret_key: str = ""
    #: The ``pk_…`` key Stripe.js uses in payers' browsers (the web app's Payment Element);
    #: public by design. Unused in sandbox mode, whose hosted card form needs none.
    stripe_publishable_key: str = ""
    stripe_webhook_secrets: str = ""
    # --- PayPal inbound webhooks (docs/webhooks.md) ---
    #: The id PayPal gave the webhook listener pointing at /v1/webhooks/paypal; it is part of
    #: what PayPal signs. Empty: PayPal deliveries are refused (sandbox mode accepts its own).
    paypal_webhook_id: str = ""
    #: Largest distance, in seconds, between PAYPAL-TRANSMISSION-TIME and escrowd's clock.
    paypal_webhook_tolerance: Annotated[int, Field(ge=30, le=3600)] = 300
    stripe_api_base: str = ""
    #: Sandbox mode only: the base URL of a sandbox served by ``escrowd sandbox serve`` in a
    #: process of its own (``http://127.0.0.1:8100``). Empty: the sandbox runs in escrowd's
    #: process, as by default. Set, escrowd calls it over HTTP, does not serve it, and leaves
    #: its clock and webhook deliveries to that process; its hosted pages are linked there.
    sandbox_url: str = ""
    stripe_timeout_seconds: float = Field(default=30.0, gt=0, le=120)
    #: Outgoing mail server for notification emails: smtp://user:password@host:587, or
    #: smtps://… for TLS from the first byte. Empty: no SMTP (see ``email_folder``).
    smtp_url: str = ""
    #: STARTTLS on smtp://: ``auto`` when the server offers it, ``require``, or ``off``.
    smtp_starttls: Literal["auto", "require", "off"] = "auto"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    #: The From of notification emails.
    email_from: str = "escrowd <no-reply@localhost>"
    #: Write emails as .eml files here instead of sending them (development default:
    #: ``<data dir>/mail`` when no SMTP server is configured).
    email_dir: Path | None = None
    #: Deliver outbound webhooks to loopback, private and link-local addresses too (tests, a
    #: receiver on the same network); off, such addresses are refused when connecting.
    webhooks_allow_private: bool = False
    #: The marketplace flows to serve (docs/marketplaces.md): seed numbers or names, comma
    #: separated (``000,auctions``), ``all``, or empty for none.
    marketplaces: str = ""
    #: Seed 001 ``bookings``: the platform's fee on a booking, in basis points (500 = 5 %),
    #: taken when the client releases the money; the platform bears the card processor's fee.
    bookings_fee_bps: int = Field(default=500, ge=0, le=10_000)

    # --- PayPal (docs/configuration.md, "PayPal") ------------------------------------------
    #: The REST app's credentials. Both set: escrowd builds the PayPal provider next to Stripe's;
    #: both empty: no PayPal. Ignored in sandbox mode, where PayPal is escrowd's own in-process
    #: PayPal sandbox with its public credentials.
    paypal_client_id: str = ""
    paypal_client_secret: SecretStr = SecretStr("")
    #: ``live`` (https://api-m.paypal.com), ``sandbox`` (PayPal's own sandbox,
    #: https://api-m.sandbox.paypal.com) or another PayPal-compatible server's URL.
    paypal_base_url: str = "live"

    @field_validator("paypal_base_url")
    @classmethod
    def _paypal_base_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        named = {"live": "https://api-m.paypal.com", "sandbox": "https://api-m.sandbox.paypal.com"}
        word = value.strip()
        if word.lower() in named:
            return named[word.lower()]
        try:
            parts = urlsplit(word)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            usable = usable and not parts.username and not parts.query and not parts.fragment
        except ValueError:
            usable = False
        if not usable:
            raise ValueError(
                "use live, sandbox, or a server's base URL such as https://api-m.paypal.com "
                "(no credentials in it: they go in ESCROWD_PAYPAL_CLIENT_ID and _SECRET)"
            )
        return word.rstrip("/")

    @field_validator("sandbox_url")
    @classmethod
    def _sandbox_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        word = value.strip()
        if not word:
            return word
        try:
            parts = urlsplit(word)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            usable = usable and (parts.port is None or parts.port > 0)  # .port raises on a bad one
            usable = usable and not parts.username and not parts.query and not parts.fragment
        except ValueError:
            usable = False
        if not usable:
            raise ValueError(
                "use the base URL `escrowd sandbox serve` printed, such as "
                "http://127.0.0.1:8100 (no credentials, query or fragment), or leave it empty "
                "to run the sandbox in escrowd's own process"
            )
        return word.rstrip("/")

    @model_validator(mode="after")
    def _paypal_credentials(self) -> Self:
        # Checked at start: half a credential would otherwise fail the first PayPal payment.
        # The values are never quoted, only which one is missing.
        has_id, has_secret = bool(self.paypal_client_id), bool(self.paypal_client_secret)
        if has_id != has_secret and self.provider is not ProviderMode.sandbox:
            given, missing = (
                ("ESCROWD_PAYPAL_CLIENT_ID", "ESCROWD_PAYPAL_CLIENT_SECRET")
                if has_id
                else ("ESCROWD_PAYPAL_CLIENT_SECRET", "ESCROWD_PAYPAL_CLIENT_ID")
            )
            raise ValueError(
                f"{given} is set but {missing} is empty: set both (from the PayPal developer "
                "dashboard's REST app) to use PayPal, or neither to run without it."
            )
        return self

    @property
    def paypal_enabled(self) -> bool:
        """Whether escrowd builds a PayPal provider: always in sandbox mode, else with
        credentials."""
        if self.provider is ProviderMode.sandbox:
            return True
        return bool(self.paypal_client_id and self.paypal_client_secret)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            # pydantic's own text names the model, links its docs and repeats the type: an
            # operator needs the variable, what they gave and what would do.
            raise ConfigError(describe(exc)) from None

    @field_validator("env", "provider", mode="before")
    @classmethod
    def _short_forms(cls, value: object, info: Any) -> object:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        return ALIASES.get(info.field_name, {}).get(word, word)

    @field_validator("fee_policy")
    @classmethod
    def _fee_policy(cls, value: str) -> str:
        # Checked with the other settings so a bad policy stops every command at start, not
        # the first sale. The fees domain is the one reader of the policy's rules.
        from escrowd.errors import InvalidRequestError
        from escrowd.fees.domain import marketplace_policy

        try:
            marketplace_policy(value)
        except InvalidRequestError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("marketplaces")
    @classmethod
    def _marketplaces(cls, value: str) -> str:
        from escrowd.marketplace import UnknownFlowError, choose

        try:
            choose(value)
        except UnknownFlowError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        # Checked at start, not by the first email job: a typo should stop the service.
        from urllib.parse import urlsplit

        if not value:
            return value
        try:
            parts = urlsplit(value)
            usable = (
                parts.scheme in ("smtp", "smtps")
                and bool(parts.hostname)
                and (parts.port is None or parts.port > 0)  # .port raises on a bad one
            )
        except ValueError:
            usable = False
        if not usable:
            raise ValueError("use smtp://user:password@host:port (or smtps:// for implicit TLS)")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems: list[str] = []
        if self.provider is ProviderMode.stripe and not self.stripe_secret_key:
            problems.append(
                "ESCROWD_PROVIDER=stripe needs ESCROWD_STRIPE_SECRET_KEY (sk_live_… or sk_test_…); "
                "leave ESCROWD_PROVIDER unset to use the built-in sandbox."
            )
        if self.stripe_publishable_key and not self.stripe_publishable_key.startswith("pk_"):
            problems.append(
                "ESCROWD_STRIPE_PUBLISHABLE_KEY must be the publishable key (pk_live_… or "
                "pk_test_…) from the Stripe dashboard, never a secret key."
            )
        if self.provider is ProviderMode.stripe and SANDBOX_WEBHOOK_SECRET in self._listed_secrets:
            problems.append(
                f"ESCROWD_STRIPE_WEBHOOK_SECRETS lists {SANDBOX_WEBHOOK_SECRET}, the sandbox's "
                "public secret, with ESCROWD_PROVIDER=stripe: anyone could sign webhooks with "
                "it. Remove it; use the endpoint's whsec_… secret from the Stripe dashboard."
            )
        if self.sandbox_url and self.provider is not ProviderMode.sandbox:
            problems.append(
                f"ESCROWD_SANDBOX_URL is set ({self.sandbox_url}) but ESCROWD_PROVIDER is "
                f"{self.provider.value}: a sandbox in another process stands in for Stripe in "
                "sandbox mode only. Unset ESCROWD_SANDBOX_URL, or ESCROWD_PROVIDER."
            )
        if self.env is Environment.production:
            problems += self._production_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        problems = []
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            problems.append(
                "ESCROWD_SECRET_KEY must be set to a random value of at least 32 characters "
                "when ESCROWD_ENV=production (try: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')."
            )
        if self.provider is ProviderMode.sandbox:
            problems.append(
                "ESCROWD_PROVIDER is sandbox (the default), an emulator that moves no money: "
                "set ESCROWD_PROVIDER=stripe and ESCROWD_STRIPE_SECRET_KEY when "
                "ESCROWD_ENV=production."
            )
        if SANDBOX_WEBHOOK_SECRET in self._listed_secrets and self.provider is ProviderMode.sandbox:
            problems.append(
                f"ESCROWD_STRIPE_WEBHOOK_SECRETS lists {SANDBOX_WEBHOOK_SECRET}, the sandbox's "
                "public secret: anyone could sign webhooks with it. Remove it when "
                "ESCROWD_ENV=production; use the endpoint's whsec_… secret from the Stripe "
                "dashboard."
            )
        if self.effective_database_url.startswith("sqlite"):
            given = (
                "is empty (the SQLite file in ESCROWD_DATA_DIR)"
                if not self.database_url
                else ("is a SQLite database")
            )
            problems.append(
                f"ESCROWD_DATABASE_URL {given}: production needs PostgreSQL. Set "
                "ESCROWD_DATABASE_URL=postgresql+asyncpg://user:password@host:5432/escrowd."
            )
        return problems

    @property
    def _listed_secrets(self) -> list[str]:
        return [s.strip() for s in self.stripe_webhook_secrets.split(",") if s.strip()]

    @property
    def webhook_secrets(self) -> list[str]:
        """Stripe endpoint secrets accepted on inbound webhooks (several during rotation).

        The sandbox's secret is public: it is accepted with the sandbox provider only, and
        never in production, whatever the list says.
        """
        listed = [s for s in self._listed_secrets if s != SANDBOX_WEBHOOK_SECRET]
        if self.provider is ProviderMode.sandbox and self.is_dev:
            return [SANDBOX_WEBHOOK_SECRET, *listed]
        return listed

    @property
    def sandbox_public_url(self) -> str:
        """Where browsers reach the sandbox's hosted pages (card form, onboarding): the
        sandbox's own process when ``sandbox_url`` is set, else escrowd itself."""
        return (self.sandbox_url or self.public_url).rstrip("/")

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'escrowd.sqlite3').as_posix()}"

    @property
    def email_folder(self) -> Path | None:
        """Where emails are written instead of sent: ``email_dir``, or in development with no
        SMTP server ``<data dir>/mail``; None when they go out over SMTP (or nowhere)."""
        if self.email_dir is not None:
            return self.email_dir
        if not self.smtp_url and self.is_dev:
            return self.data_dir / "mail"
        return None

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_url) or self.email_folder is not None

    @property
    def is_dev(self) -> bool:
        return self.env is not Environment.production


def describe(exc: ValidationError) -> str:
    """One line per unusable setting: the variable, the value given, the values allowed."""
    lines = []
    for error in exc.errors(include_url=False):
        if not error["loc"]:  # a rule across settings (``_check``): its message is the line
            lines.append(str(error.get("ctx", {}).get("error", error["msg"])))
            continue
        name = str(error["loc"][0])
        given = f"ESCROWD_{name.upper()} is {_shown(error['input'])}"
        if error["type"] == "value_error":  # a field's own rule (the fee policy) says why
            lines.append(f"{given}: {error['ctx']['error']}")
            continue
        lines.append(f"{given}; allowed: {allowed(name)}.")
    return "\n".join(lines)


def _shown(value: object) -> str:
    text = value if isinstance(value, str | int | float) else str(value)
    if isinstance(text, str):
        # A URL's password (SMTP, the database) must not reach the log with the error.
        text = _URL_PASSWORD.sub(r"\1***@", text)
    return repr(text)


_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)


def allowed(name: str) -> str:
    """What a setting accepts, in words, from its type and bounds."""
    info = Settings.model_fields[name]
    kind = info.annotation
    if get_origin(kind) in (Union, types.UnionType):  # ``int | None``: unset is the default
        kind = next(a for a in get_args(kind) if a is not type(None))
    if isinstance(kind, type) and issubclass(kind, Enum):
        short = {full: word for word, full in ALIASES.get(name, {}).items()}
        return ", ".join(
            f"{m.value} (or {short[m.value]})" if m.value in short else str(m.value) for m in kind
        )
    if get_origin(kind) is Literal:
        return ", ".join(str(a) for a in get_args(kind))
    if kind is bool:
        return "true or false"
    if kind is int:
        noun = "a whole number"
    elif kind is float:
        noun = "a number"
    else:
        return "text"
    return noun + _bounds(info.metadata)


def _bounds(metadata: list[Any]) -> str:
    bound: dict[str, object] = {}
    for m in metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(m, annotated_types.BaseMetadata) and hasattr(m, attr):
                bound[attr] = getattr(m, attr)
    if "ge" in bound and "le" in bound:
        return f" from {bound['ge']} to {bound['le']}"
    words = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}
    return " " + " and ".join(f"{words[k]} {v}" for k, v in bound.items()) if bound else ""
