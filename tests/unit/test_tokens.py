"""Access tokens: HS256 only, issuer and audience checked, time from escrowd's clock."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from escrowd.clock import FrozenClock, unix
from escrowd.config import Environment, Settings
from escrowd.errors import AuthenticationError
from escrowd.users import tokens

SECRET = "unit-test-secret-key-that-is-long-enough-even-for-hs512-0123456789"
START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)  # far from the host's clock on purpose


@pytest.fixture
def settings() -> Settings:
    return Settings(env=Environment.test, secret_key=SECRET, access_token_ttl_seconds=900)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = unix(START)
    claims: dict[str, Any] = {
        "sub": "usr_01J00000000000000000000000",
        "role": "client",
        "iat": now,
        "exp": now + 900,
        "iss": "escrowd",
        "aud": "escrowd-api",
        "jti": "abc",
        "typ": "access",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(token: str, settings: Settings, clock: FrozenClock) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        tokens.decode(token, settings=settings, clock=clock)
    err = info.value
    assert err.http_status == 401
    assert err.type == "authentication_error"
    assert "Log in again" in err.message
    assert err.headers["WWW-Authenticate"].startswith("Bearer")
    return err


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_an_issued_token_decodes_to_its_claims(settings: Settings, clock: FrozenClock) -> None:
    issued = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="worker")
    claims = tokens.decode(issued.token, settings=settings, clock=clock)
    assert claims.sub == "usr_X"
    assert claims.role == "worker"
    assert claims.jti == issued.jti
    assert claims.issued_at == unix(START)
    assert claims.expires_at == unix(START) + 900
    assert issued.expires_in == 900


def test_the_token_carries_every_required_claim_and_is_hs256(
    settings: Settings, clock: FrozenClock
) -> None:
    issued = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="client")
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"
    raw = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(raw) == {"sub", "role", "iat", "exp", "iss", "aud", "jti", "typ"}
    assert raw["typ"] == "access"
    assert raw["iss"] == "escrowd"
    assert raw["aud"] == "escrowd-api"


def test_two_tokens_have_different_ids(settings: Settings, clock: FrozenClock) -> None:
    a = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="client")
    b = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="client")
    assert a.jti != b.jti


def test_a_token_expires_when_the_clock_reaches_exp(settings: Settings, clock: FrozenClock) -> None:
    issued = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="client")
    clock.advance(timedelta(seconds=899))
    tokens.decode(issued.token, settings=settings, clock=clock)
    clock.advance(timedelta(seconds=1))
    assert _refused(issued.token, settings, clock).code == "token_expired"


def test_time_comes_from_the_injected_clock_not_the_host(settings: Settings) -> None:
    # Issued and checked in 2030: the host's clock would call it "issued in the future".
    clock = FrozenClock(START)
    issued = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="client")
    assert tokens.decode(issued.token, settings=settings, clock=clock).sub == "usr_X"


def test_a_token_issued_in_the_future_is_refused(settings: Settings, clock: FrozenClock) -> None:
    future = unix(START) + 3600
    token = jwt.encode(_claims(iat=future, exp=future + 900), SECRET, algorithm="HS256")
    assert "future" in _refused(token, settings, clock).message


def test_alg_none_is_refused(settings: Settings, clock: FrozenClock) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."
    _refused(token, settings, clock)


def test_another_hmac_algorithm_is_refused(settings: Settings, clock: FrozenClock) -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512")
    assert "HS256" in _refused(token, settings, clock).message


def test_a_token_signed_with_another_secret_is_refused(
    settings: Settings, clock: FrozenClock
) -> None:
    token = jwt.encode(_claims(role="admin"), "an-attackers-own-secret-key-0123456789", "HS256")
    assert "not signed by this server" in _refused(token, settings, clock).message


def test_a_token_verified_before_is_refused_once_the_secret_changes(
    settings: Settings, clock: FrozenClock
) -> None:
    # A verified token is remembered; the secret it was verified with is part of what is.
    issued = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="client")
    assert tokens.decode(issued.token, settings=settings, clock=clock).sub == "usr_X"
    rotated = Settings(env=Environment.test, secret_key="a-rotated-secret-key-0123456789-abcdef")
    assert "not signed by this server" in _refused(issued.token, rotated, clock).message


def test_a_tampered_payload_is_refused(settings: Settings, clock: FrozenClock) -> None:
    issued = tokens.issue(settings=settings, clock=clock, user_id="usr_X", role="client")
    header, _, signature = issued.token.split(".")
    forged = f"{header}.{_b64(_claims(role='admin'))}.{signature}"
    _refused(forged, settings, clock)


def test_a_wrong_audience_is_refused(settings: Settings, clock: FrozenClock) -> None:
    token = jwt.encode(_claims(aud="another-service"), SECRET, algorithm="HS256")
    assert "audience" in _refused(token, settings, clock).message


def test_a_wrong_issuer_is_refused(settings: Settings, clock: FrozenClock) -> None:
    token = jwt.encode(_claims(iss="someone-else"), SECRET, algorithm="HS256")
    assert "issuer" in _refused(token, settings, clock).message


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "jti", "typ", "aud", "iss", "role"])
def test_a_token_missing_a_required_claim_is_refused(
    claim: str, settings: Settings, clock: FrozenClock
) -> None:
    token = jwt.encode(_claims(**{claim: None}), SECRET, algorithm="HS256")
    _refused(token, settings, clock)


def test_a_token_of_another_type_is_refused(settings: Settings, clock: FrozenClock) -> None:
    token = jwt.encode(_claims(typ="refresh"), SECRET, algorithm="HS256")
    assert "not an access token" in _refused(token, settings, clock).message


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "ek_notatoken", "x" * 5000])
def test_garbage_is_refused_as_malformed(
    garbage: str, settings: Settings, clock: FrozenClock
) -> None:
    _refused(garbage, settings, clock)


def test_the_lifetime_comes_from_settings(clock: FrozenClock) -> None:
    short = Settings(env=Environment.test, secret_key=SECRET, access_token_ttl_seconds=60)
    issued = tokens.issue(settings=short, clock=clock, user_id="usr_X", role="client")
    assert issued.expires_in == 60
    assert issued.expires_at == START + timedelta(seconds=60)
