"""Platform API keys: made by admins, shown once, stored hashed, revocable at once."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock, unix
from escrowd.users.api_keys.models import ApiKey
from tests.integration.conftest import (
    Account,
    assert_error,
    bearer,
    count_rows,
    make_api_key,
    signup,
)

KEY_RE = re.compile(r"^ek_[0-9A-HJKMNP-TV-Z]{26}_[A-Za-z0-9_-]{43}$")


async def _create(
    client: httpx.AsyncClient, admin: Account, name: str = "backend"
) -> dict[str, Any]:
    r = await client.post("/v1/api_keys", json={"name": name}, headers=admin.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_an_admin_creates_a_key_whose_secret_is_shown_only_once(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await _create(client, admin, "billing backend")
    assert created["object"] == "api_key"
    assert created["id"].startswith("key_")
    assert created["name"] == "billing backend"
    assert created["created_by"] == admin.id
    assert created["revoked"] is False
    assert created["last_used"] is None
    secret = created["secret"]
    assert KEY_RE.match(secret)
    assert secret.split("_")[1] == created["id"].removeprefix("key_")
    assert created["redacted"] == f"ek_…{secret[-4:]}"

    listed = await client.get("/v1/api_keys", params={"limit": 100}, headers=admin.headers)
    assert listed.status_code == 200
    mine = [k for k in listed.json()["data"] if k["id"] == created["id"]]
    assert len(mine) == 1
    assert "secret" not in mine[0]
    assert secret not in listed.text
    one = await client.get(f"/v1/api_keys/{created['id']}", headers=admin.headers)
    assert "secret" not in one.json()
    assert secret not in one.text


async def test_the_secret_is_stored_only_as_its_sha256(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    created = await _create(client, admin)
    async with container.db.transaction() as s:
        key = await s.get(ApiKey, created["id"])
        assert key is not None
        assert key.secret_hash == hashlib.sha256(created["secret"].encode()).hexdigest()
        row = (
            await s.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": created["id"]})
        ).one()
    assert all(created["secret"] not in str(value) for value in row)


async def test_an_api_key_authenticates_as_the_platform(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await _create(client, admin)
    worker = await signup(client, role="worker")
    key = bearer(created["secret"])
    assert (await client.get("/v1/users", headers=key)).status_code == 200
    r = await client.get(f"/v1/users/{worker.id}", headers=key)
    assert r.status_code == 200
    assert r.json()["email"] == worker.email


async def test_a_revoked_key_is_refused_on_the_very_next_request(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await _create(client, admin)
    key = bearer(created["secret"])
    assert (await client.get("/v1/users", headers=key)).status_code == 200
    r = await client.post(f"/v1/api_keys/{created['id']}/revoke", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["revoked"] is True
    assert isinstance(r.json()["revoked_at"], int)
    refused = await client.get("/v1/users", headers=key)
    err = assert_error(refused, 401, "authentication_error", "api_key_invalid")
    assert "revoked" in err["message"]


async def test_revoking_twice_keeps_the_first_revocation_time(
    client: httpx.AsyncClient, admin: Account, clock: FrozenClock
) -> None:
    created = await _create(client, admin)
    first = await client.post(f"/v1/api_keys/{created['id']}/revoke", headers=admin.headers)
    clock.advance(timedelta(minutes=5))
    second = await client.post(f"/v1/api_keys/{created['id']}/revoke", headers=admin.headers)
    assert second.json()["revoked_at"] == first.json()["revoked_at"]


async def test_revoking_an_unknown_key_is_404(client: httpx.AsyncClient, admin: Account) -> None:
    r = await client.post(
        "/v1/api_keys/key_01J00000000000000000000000/revoke", headers=admin.headers
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")


async def test_last_used_is_recorded_at_most_once_a_minute(
    client: httpx.AsyncClient, admin: Account, clock: FrozenClock
) -> None:
    created = await _create(client, admin)
    key = bearer(created["secret"])
    start = unix(clock.now())
    await client.get("/v1/users", headers=key)
    clock.advance(timedelta(seconds=30))
    await client.get("/v1/users", headers=key)
    r = await client.get(f"/v1/api_keys/{created['id']}", headers=admin.headers)
    assert r.json()["last_used"] == start
    clock.advance(timedelta(seconds=31))
    await client.get("/v1/users", headers=key)
    r = await client.get(f"/v1/api_keys/{created['id']}", headers=admin.headers)
    assert r.json()["last_used"] == start + 61


async def test_only_admin_users_manage_keys(
    client: httpx.AsyncClient, container: Container, api_key: str
) -> None:
    before = await count_rows(container, "api_keys")
    client_account = await signup(client)
    r = await client.post("/v1/api_keys", json={"name": "x"}, headers=client_account.headers)
    assert_error(r, 403, "permission_error", "admin_required")
    # A key cannot mint more keys: a leaked key must not be able to outlive its revocation.
    r = await client.post("/v1/api_keys", json={"name": "x"}, headers=bearer(api_key))
    assert_error(r, 403, "permission_error", "user_token_required")
    r = await client.get("/v1/api_keys", headers=client_account.headers)
    assert_error(r, 403, "permission_error", "admin_required")
    assert await count_rows(container, "api_keys") == before


async def test_mistyped_and_unknown_keys_are_refused_alike(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, secret = await make_api_key(container)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    other_id = "ek_01J00000000000000000000000_" + secret[-43:]
    for bad in (flipped, "ek_garbage", other_id, secret + "x"):
        r = await client.get("/v1/users", headers=bearer(bad))
        assert_error(r, 401, "authentication_error", "api_key_invalid")
    assert (await client.get("/v1/users", headers=bearer(secret))).status_code == 200
