"""Every kind of bad request: the right status, the error envelope, and nothing written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import jwt
import pytest

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock, unix
from tests.integration.conftest import (
    DEFAULT_PASSWORD,
    USER_TABLES,
    Account,
    assert_error,
    bearer,
    count_all,
    signup,
    unique_email,
)

Snapshot = Callable[[], Awaitable[None]]


@pytest.fixture
async def nothing_written(container: Container) -> Snapshot:
    """Call the fixture's value at the end of a test: it checks no table gained or lost rows."""
    before = await count_all(container, *USER_TABLES)

    async def check() -> None:
        assert await count_all(container, *USER_TABLES) == before

    return check


def _signup_body(**overrides: object) -> dict[str, object]:
    return {"email": unique_email(), "password": DEFAULT_PASSWORD, "name": "Bad"} | overrides


async def test_malformed_json_is_a_400_that_writes_nothing(
    client: httpx.AsyncClient, nothing_written: Snapshot
) -> None:
    r = await client.post(
        "/v1/users",
        content=b'{"email": "a@example.com", "password": ',
        headers={"Content-Type": "application/json"},
    )
    err = assert_error(r, 400, "invalid_request_error", "body_invalid_json", param=None)
    assert "not valid JSON" in err["message"]
    await nothing_written()


async def test_a_json_array_instead_of_an_object_is_a_400_that_writes_nothing(
    client: httpx.AsyncClient, nothing_written: Snapshot
) -> None:
    r = await client.post("/v1/users", json=[_signup_body()])
    assert_error(r, 400, "invalid_request_error", "body_invalid")
    await nothing_written()


async def test_a_float_where_an_integer_is_required_is_a_400_that_writes_nothing(
    client: httpx.AsyncClient, admin: Account, nothing_written: Snapshot
) -> None:
    r = await client.get("/v1/users", params={"limit": "2.5"}, headers=admin.headers)
    err = assert_error(r, 400, "invalid_request_error", "parameter_invalid", param="limit")
    assert "2.5" in err["message"]
    await nothing_written()


async def test_an_unknown_field_is_a_400_that_writes_nothing(
    client: httpx.AsyncClient, nothing_written: Snapshot
) -> None:
    r = await client.post("/v1/users", json=_signup_body(is_admin=True))
    err = assert_error(r, 400, "invalid_request_error", "parameter_unknown", param="is_admin")
    assert "is_admin" in err["message"]
    await nothing_written()


async def test_a_missing_field_is_a_400_that_writes_nothing(
    client: httpx.AsyncClient, nothing_written: Snapshot
) -> None:
    body = _signup_body()
    del body["password"]
    r = await client.post("/v1/users", json=body)
    assert_error(r, 400, "invalid_request_error", "parameter_missing", param="password")
    await nothing_written()


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("name", 123, "parameter_invalid"),
        ("email", ["a@example.com"], "parameter_invalid"),
        ("role", True, "parameter_invalid"),
        ("metadata", "x", "parameter_invalid"),
    ],
)
async def test_a_wrong_type_is_a_400_that_writes_nothing(
    client: httpx.AsyncClient,
    nothing_written: Snapshot,
    field: str,
    value: object,
    code: str | None,
) -> None:
    r = await client.post("/v1/users", json=_signup_body(**{field: value}))
    assert_error(r, 400, "invalid_request_error", code, param=field)
    await nothing_written()


async def test_no_auth_is_a_401_that_writes_nothing(
    client: httpx.AsyncClient, nothing_written: Snapshot
) -> None:
    r = await client.post("/v1/organizations", json={"name": "Nobody's"})
    assert_error(r, 401, "authentication_error", "authentication_required", param=None)
    assert r.headers["WWW-Authenticate"] == "Bearer"
    await nothing_written()


async def test_an_expired_token_is_a_401_that_writes_nothing(
    client: httpx.AsyncClient, clock: FrozenClock, container: Container
) -> None:
    account = await signup(client)
    before = await count_all(container, *USER_TABLES)
    clock.advance(timedelta(seconds=container.settings.access_token_ttl_seconds + 1))
    r = await client.post("/v1/organizations", json={"name": "Late"}, headers=account.headers)
    err = assert_error(r, 401, "authentication_error", "token_expired")
    assert "Log in again" in err["message"]
    assert await count_all(container, *USER_TABLES) == before


async def test_a_forged_token_is_a_401_that_writes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await signup(client)
    before = await count_all(container, *USER_TABLES)
    now = unix(container.clock.now())
    forged = jwt.encode(
        {
            "sub": account.id,
            "role": "admin",
            "iat": now,
            "exp": now + 600,
            "iss": container.settings.jwt_issuer,
            "aud": container.settings.jwt_audience,
            "jti": "forged",
            "typ": "access",
        },
        "not-the-servers-secret-but-long-enough-0123456789",
        algorithm="HS256",
    )
    r = await client.post("/v1/organizations", json={"name": "Forged"}, headers=bearer(forged))
    assert_error(r, 401, "authentication_error", "token_invalid")
    r = await client.post("/v1/users", json=_signup_body(role="admin"), headers=bearer(forged))
    assert_error(r, 401, "authentication_error", "token_invalid")
    assert await count_all(container, *USER_TABLES) == before


async def test_someone_elses_object_is_a_404_that_writes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    owner, intruder = await signup(client), await signup(client)
    r = await client.post("/v1/organizations", json={"name": "Private"}, headers=owner.headers)
    org_id = r.json()["id"]
    before = await count_all(container, *USER_TABLES)

    r = await client.post(
        f"/v1/organizations/{org_id}/members",
        json={"user": intruder.id, "role": "admin"},
        headers=intruder.headers,
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")
    r = await client.post(
        f"/v1/users/{owner.id}", json={"name": "Hijacked"}, headers=intruder.headers
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")

    assert await count_all(container, *USER_TABLES) == before
    me = await client.get("/v1/users/me", headers=owner.headers)
    assert me.json()["name"] != "Hijacked"
