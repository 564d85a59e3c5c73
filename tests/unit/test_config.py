from __future__ import annotations

import pytest

from escrowd import marketplace
from escrowd.config import (
    DEV_SECRET_KEY,
    SANDBOX_WEBHOOK_SECRET,
    ConfigError,
    Environment,
    ProviderMode,
    Settings,
)

STRONG_KEY = "x" * 48
PG_URL = "postgresql+asyncpg://escrowd@db.internal:5432/escrowd"


def production(**overrides: object) -> Settings:
    """Settings production accepts, with ``overrides`` on top."""
    values: dict[str, object] = {
        "env": Environment.production,
        "secret_key": STRONG_KEY,
        "provider": ProviderMode.stripe,
        "stripe_secret_key": "sk_live_abc",
        "stripe_webhook_secrets": "whsec_live_endpoint",
        "database_url": PG_URL,
    }
    return Settings(**{**values, **overrides})


def test_production_refuses_the_development_secret_key() -> None:
    with pytest.raises(ValueError, match="ESCROWD_SECRET_KEY"):
        production(secret_key=DEV_SECRET_KEY)


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        production(secret_key="short")


def test_production_accepts_a_long_random_secret_key_stripe_and_postgresql() -> None:
    s = production()
    assert not s.is_dev
    assert s.webhook_secrets == ["whsec_live_endpoint"]


def test_production_refuses_the_sandbox_provider_which_is_the_default() -> None:
    with pytest.raises(ConfigError, match="ESCROWD_PROVIDER is sandbox") as refused:
        production(provider=ProviderMode.sandbox)
    assert "ESCROWD_PROVIDER=stripe" in str(refused.value)  # says what to do


def test_production_refuses_the_sandbox_webhook_secret() -> None:
    with pytest.raises(ConfigError, match="ESCROWD_STRIPE_WEBHOOK_SECRETS") as refused:
        production(stripe_webhook_secrets=f"whsec_live_endpoint, {SANDBOX_WEBHOOK_SECRET}")
    assert "Remove it" in str(refused.value)


@pytest.mark.parametrize(
    "url", ["", "sqlite+aiosqlite:///srv/escrowd.sqlite3", "sqlite+aiosqlite:///:memory:"]
)
def test_production_refuses_sqlite_including_the_default_empty_url(url: str) -> None:
    with pytest.raises(ConfigError, match="ESCROWD_DATABASE_URL") as refused:
        production(database_url=url)
    assert "postgresql+asyncpg://" in str(refused.value)


def test_production_names_every_problem_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ESCROWD_DATABASE_URL", "ESCROWD_PROVIDER", "ESCROWD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ESCROWD_ENV", "production")
    with pytest.raises(ConfigError) as refused:
        Settings()
    lines = str(refused.value).splitlines()
    assert [line.split()[0] for line in lines] == [
        "ESCROWD_SECRET_KEY",
        "ESCROWD_PROVIDER",
        "ESCROWD_DATABASE_URL",
    ]


def test_the_sandbox_secret_is_never_accepted_with_the_stripe_provider() -> None:
    with pytest.raises(ConfigError, match=SANDBOX_WEBHOOK_SECRET):
        Settings(
            env=Environment.development,
            provider=ProviderMode.stripe,
            stripe_secret_key="sk_test_abc",
            stripe_webhook_secrets=f"whsec_a,{SANDBOX_WEBHOOK_SECRET}",
        )
    # A copy made past validation still leaves it out.
    s = Settings(provider=ProviderMode.stripe, stripe_secret_key="sk_test_abc")
    s = s.model_copy(update={"stripe_webhook_secrets": f"whsec_a,{SANDBOX_WEBHOOK_SECRET}"})
    assert s.webhook_secrets == ["whsec_a"]


def test_the_publishable_key_must_be_one_and_never_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="ESCROWD_STRIPE_PUBLISHABLE_KEY") as refused:
        production(stripe_publishable_key="sk_live_pasted_by_mistake")
    assert "sk_live_pasted_by_mistake" not in str(refused.value)  # a secret stays out of logs
    assert production(stripe_publishable_key="pk_live_abc").stripe_publishable_key == "pk_live_abc"


def test_the_sandbox_provider_accepts_its_own_secret_in_development() -> None:
    s = Settings(stripe_webhook_secrets="whsec_a")
    assert s.webhook_secrets == [SANDBOX_WEBHOOK_SECRET, "whsec_a"]


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("dev", Environment.development),
        ("DEV", Environment.development),
        ("prod", Environment.production),
        ("Production", Environment.production),
        ("test", Environment.test),
    ],
)
def test_env_takes_short_forms_in_any_case(
    monkeypatch: pytest.MonkeyPatch, given: str, meant: Environment
) -> None:
    monkeypatch.setenv("ESCROWD_ENV", given)
    monkeypatch.setenv("ESCROWD_SECRET_KEY", STRONG_KEY)
    monkeypatch.setenv("ESCROWD_PROVIDER", "stripe")
    monkeypatch.setenv("ESCROWD_STRIPE_SECRET_KEY", "sk_test_abc")
    monkeypatch.setenv("ESCROWD_DATABASE_URL", PG_URL)
    assert Settings().env is meant


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "ESCROWD_ENV",
            "staging",
            "ESCROWD_ENV is 'staging'; allowed: development (or dev), test, production (or prod).",
        ),
        (
            "ESCROWD_PORT",
            "99999",
            "ESCROWD_PORT is '99999'; allowed: a whole number from 1 to 65535.",
        ),
        (
            "ESCROWD_PORT",
            "http",
            "ESCROWD_PORT is 'http'; allowed: a whole number from 1 to 65535.",
        ),
        ("ESCROWD_PROVIDER", "paypal", "ESCROWD_PROVIDER is 'paypal'; allowed: sandbox, stripe."),
        ("ESCROWD_DB_ECHO", "maybe", "ESCROWD_DB_ECHO is 'maybe'; allowed: true or false."),
        ("ESCROWD_LOG_FORMAT", "xml", "ESCROWD_LOG_FORMAT is 'xml'; allowed: auto, console, json."),
        (
            "ESCROWD_STRIPE_TIMEOUT_SECONDS",
            "0",
            "ESCROWD_STRIPE_TIMEOUT_SECONDS is '0'; allowed: a number above 0 and at most 120.",
        ),
        (
            "ESCROWD_ARGON2_TIME_COST",
            "0",
            "ESCROWD_ARGON2_TIME_COST is '0'; allowed: a whole number at least 1.",
        ),
    ],
)
def test_a_bad_setting_names_the_variable_the_value_and_what_is_allowed_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        Settings()
    assert str(refused.value) == message


def test_two_bad_settings_are_two_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCROWD_ENV", "dev")
    monkeypatch.setenv("ESCROWD_PORT", "0")
    monkeypatch.setenv("ESCROWD_ACCESS_TOKEN_TTL_SECONDS", "5")
    with pytest.raises(ConfigError) as refused:
        Settings()
    assert str(refused.value).splitlines() == [
        "ESCROWD_PORT is '0'; allowed: a whole number from 1 to 65535.",
        "ESCROWD_ACCESS_TOKEN_TTL_SECONDS is '5'; allowed: a whole number from 30 to 86400.",
    ]


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


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('{"rate_bps": 99999}', "rate_bps must be between 0 and 10000"),
        ("{rate", "not JSON"),
    ],
)
def test_a_bad_fee_policy_stops_the_settings_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("ESCROWD_FEE_POLICY", value)
    with pytest.raises(ConfigError) as refused:
        Settings()
    assert str(refused.value).startswith(f"ESCROWD_FEE_POLICY is {value!r}: {reason}")


def test_a_good_fee_policy_is_kept_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCROWD_FEE_POLICY", '{"rate_bps": 1500}')
    assert Settings().fee_policy == '{"rate_bps": 1500}'


def test_an_unknown_marketplace_flow_names_the_variable_and_the_flows_there_are() -> None:
    with pytest.raises(ConfigError, match="ESCROWD_MARKETPLACES") as refused:
        Settings(marketplaces="000,flea-market")
    assert "'flea-market'" in str(refused.value)
    assert "all" in str(refused.value)


@pytest.mark.parametrize("spec", ["", "all", " ALL ", ",", "all,all"])
def test_marketplace_flows_are_none_by_default_and_all_on_request(spec: str) -> None:
    settings = Settings(marketplaces=spec)
    expected = marketplace.FLOWS if "all" in spec.lower() else ()
    assert marketplace.choose(settings.marketplaces) == expected


def test_every_marketplace_flow_is_named_by_its_seed_and_its_name() -> None:
    for flow in marketplace.FLOWS:
        assert marketplace.choose(flow.seed) == (flow,)
        assert marketplace.choose(flow.name.upper()) == (flow,)
        assert marketplace.routers([flow]), f"{flow.routes} serves no routes"


def test_the_sandbox_runs_in_process_unless_a_sandbox_url_is_set() -> None:
    s = Settings(env=Environment.test, public_url="http://127.0.0.1:8000/")
    assert s.sandbox_url == ""
    assert s.sandbox_public_url == "http://127.0.0.1:8000"  # hosted pages: escrowd itself


def test_a_sandbox_url_is_kept_without_its_trailing_slash_and_links_the_hosted_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESCROWD_SANDBOX_URL", " http://127.0.0.1:8100/ ")
    s = Settings(env=Environment.test)
    assert s.sandbox_url == "http://127.0.0.1:8100"
    assert s.sandbox_public_url == "http://127.0.0.1:8100"


@pytest.mark.parametrize(
    "value",
    [
        "127.0.0.1:8100",
        "ftp://127.0.0.1:8100",
        "http://",
        "http://user:pw@127.0.0.1:8100",
        "http://127.0.0.1:8100/?x=1",
        "http://127.0.0.1:99999",
    ],
)
def test_a_sandbox_url_that_is_not_a_base_url_names_the_variable_and_what_to_use(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ESCROWD_SANDBOX_URL", value)
    with pytest.raises(ConfigError) as refused:
        Settings(env=Environment.test)
    message = str(refused.value)
    assert message.startswith("ESCROWD_SANDBOX_URL is "), message
    assert "http://127.0.0.1:8100" in message  # an example of what to use
    assert "pw@" not in message  # a password in the URL stays out of the log


def test_a_sandbox_url_with_the_stripe_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="ESCROWD_SANDBOX_URL is set") as refused:
        Settings(
            env=Environment.test,
            provider=ProviderMode.stripe,
            stripe_secret_key="sk_test_x",
            sandbox_url="http://127.0.0.1:8100",
        )
    assert "ESCROWD_PROVIDER is stripe" in str(refused.value)
