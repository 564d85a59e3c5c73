"""Bearer tokens on the API: what is accepted, what is refused and what the refusal says."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import jwt

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock, unix
from escrowd.users import tokens
from tests.integration.conftest import Account, assert_error, bearer, login, signup


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(container: Container, sub: str, **overrides: Any) -> dict[str, Any]:
    now = unix(container.clock.now())
    s = container.settings
    claims = {
        "sub": sub,
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "jti": "test",
        "typ": "access",
    }
    return claims | overrides


async def test_no_credentials_get_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/me")
    err = assert_error(r, 401, "authentication_error", "authentication_required", param=None)
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in err["message"]


async def test_another_authorization_scheme_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(r, 401, "authentication_error", "authorization_header_invalid")
    r = await client.get("/v1/users/me", headers={"Authorization": "Bearer "})
    assert_error(r, 401, "authentication_error", "authorization_header_invalid")


async def test_a_token_works_until_the_clock_reaches_its_expiry(
    client: httpx.AsyncClient, clock: FrozenClock, container: Container
) -> None:
    account = await signup(client)
    ttl = container.settings.access_token_ttl_seconds
    clock.advance(timedelta(seconds=ttl - 1))
    assert (await client.get("/v1/users/me", headers=account.headers)).status_code == 200
    clock.advance(timedelta(seconds=1))
    r = await client.get("/v1/users/me", headers=account.headers)
    err = assert_error(r, 401, "authentication_error", "token_expired")
    assert "expired" in err["message"]
    assert "Log in again" in err["message"]
    assert r.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    fresh = await login(client, account.email, account.password)
    assert (await client.get("/v1/users/me", headers=bearer(fresh))).status_code == 200


async def test_an_alg_none_token_is_refused(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(container, admin.id))}."
    r = await client.get("/v1/users", headers=bearer(token))
    err = assert_error(r, 401, "authentication_error", "token_invalid")
    assert "Log in again" in err["message"]


async def test_a_token_signed_with_another_secret_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await signup(client)
    forged = jwt.encode(
        _claims(container, account.id, role="admin"),
        "a-secret-the-attacker-chose-for-himself-0123456789",
        algorithm="HS256",
    )
    r = await client.get("/v1/users", headers=bearer(forged))
    err = assert_error(r, 401, "authentication_error", "token_invalid")
    assert "not signed by this server" in err["message"]


async def test_a_token_for_another_audience_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await signup(client)
    token = jwt.encode(
        _claims(container, account.id, aud="another-api"),
        container.settings.secret_key,
        algorithm="HS256",
    )
    r = await client.get("/v1/users/me", headers=bearer(token))
    err = assert_error(r, 401, "authentication_error", "token_invalid")
    assert "audience" in err["message"]


async def test_a_token_from_another_issuer_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await signup(client)
    token = jwt.encode(
        _claims(container, account.id, iss="not-escrowd"),
        container.settings.secret_key,
        algorithm="HS256",
    )
    r = await client.get("/v1/users/me", headers=bearer(token))
    assert_error(r, 401, "authentication_error", "token_invalid")


async def test_a_token_for_a_user_that_does_not_exist_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    issued = tokens.issue(
        settings=container.settings,
        clock=container.clock,
        user_id="usr_01J00000000000000000000000",
        role="admin",
    )
    r = await client.get("/v1/users/me", headers=bearer(issued.token))
    err = assert_error(r, 401, "authentication_error", "user_inactive")
    assert "Log in again" in err["message"]


async def test_a_token_for_a_disabled_user_is_refused(
    client: httpx.AsyncClient, admin: Account
) -> None:
    account = await signup(client)
    r = await client.post(f"/v1/users/{account.id}", json={"disabled": True}, headers=admin.headers)
    assert r.status_code == 200
    r = await client.get("/v1/users/me", headers=account.headers)
    assert_error(r, 401, "authentication_error", "user_inactive")


async def test_the_role_comes_from_the_database_not_the_token(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await signup(client, role="worker")
    # Correctly signed, but claiming a role the user does not have.
    issued = tokens.issue(
        settings=container.settings, clock=container.clock, user_id=account.id, role="admin"
    )
    r = await client.get("/v1/users", headers=bearer(issued.token))
    assert_error(r, 403, "permission_error", "admin_required")


async def test_an_api_key_is_refused_where_a_person_is_needed(
    client: httpx.AsyncClient, api_key: str
) -> None:
    r = await client.get("/v1/users/me", headers=bearer(api_key))
    assert_error(r, 403, "permission_error", "user_token_required")


async def test_the_openapi_document_describes_every_auth_route(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "bearer" in spec["components"]["securitySchemes"]
    ours = {
        path: ops
        for path, ops in spec["paths"].items()
        if path.startswith(("/v1/users", "/v1/auth", "/v1/api_keys", "/v1/organizations"))
    }
    assert {
        "/v1/users",
        "/v1/users/me",
        "/v1/users/{user_id}",
        "/v1/auth/tokens",
        "/v1/api_keys",
        "/v1/api_keys/{key_id}/revoke",
        "/v1/organizations",
        "/v1/organizations/{org_id}",
        "/v1/organizations/{org_id}/members",
        "/v1/organizations/{org_id}/members/{member_id}",
    } <= set(ours)
    for path, ops in ours.items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path} has no summary"
            assert "$ref" in json.dumps(op["responses"]["200"]), f"{method} {path}: no model"
    login_op = spec["paths"]["/v1/auth/tokens"]["post"]
    assert "401" in login_op["responses"]
