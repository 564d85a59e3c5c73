"""Helpers for API tests: accounts, tokens, API keys, error envelopes, row counts.

Use the plain functions (``from tests.integration.conftest import signup, bearer, ...``) or
the fixtures (``admin``, ``admin_token``, ``api_key``). Every account gets a unique email, so
tests can share the session's databases.

- ``await register(client, role="worker")`` → an access token (signed up through the API).
- ``await signup(client, role="client")`` → an ``Account`` (id, email, password, token, headers).
- ``await make_user(container, role="admin")`` → an ``Account`` made through the service
  (any role, admins included) with a token issued directly.
- ``await make_api_key(container)`` → ``(key_id, secret)``.
- ``bearer(token)`` → ``{"Authorization": "Bearer …"}``.
- ``assert_error(response, status, type, code, param=...)`` checks the envelope.
- ``await count_rows(container, "users")`` for "nothing was written" checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from ulid import ULID

from escrowd.bootstrap import Container
from escrowd.users import passwords, service, tokens
from escrowd.users.api_keys import service as api_keys
from escrowd.users.domain import Role

DEFAULT_PASSWORD = "correct horse battery staple"
_UNSET: Any = object()


def unique_email(label: str = "user") -> str:
    return f"{label}-{str(ULID()).lower()}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    id: str
    email: str
    password: str
    role: str
    token: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def login(client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> str:
    r = await client.post("/v1/auth/tokens", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


async def signup(
    client: httpx.AsyncClient,
    *,
    role: Role = "client",
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str | None = None,
    headers: dict[str, str] | None = None,
) -> Account:
    """Sign up through the API (pass an admin's ``headers`` to create an admin), then log in."""
    email = email or unique_email(role)
    r = await client.post(
        "/v1/users",
        json={"email": email, "password": password, "name": name or f"Test {role}", "role": role},
        headers=headers or {},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    token = await login(client, email, password)
    return Account(id=body["id"], email=email, password=password, role=role, token=token)


async def register(client: httpx.AsyncClient, *, role: Role = "client", **kwargs: Any) -> str:
    """Sign up and log in through the API; returns the access token."""
    return (await signup(client, role=role, **kwargs)).token


async def make_user(
    container: Container,
    *,
    role: Role = "client",
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str | None = None,
) -> Account:
    """Create a user through the service (any role) and issue a token for it."""
    email = email or unique_email(role)
    async with container.db.transaction() as session:
        user = await service.create(
            session,
            clock=container.clock,
            passwords=passwords.for_settings(container.settings),
            email=email,
            password=password,
            name=name or f"Test {role}",
            role=role,
            granted_by_admin=True,
        )
    issued = tokens.issue(
        settings=container.settings, clock=container.clock, user_id=user.id, role=role
    )
    return Account(id=user.id, email=email, password=password, role=role, token=issued.token)


async def make_api_key(container: Container, *, name: str = "test key") -> tuple[str, str]:
    """A platform API key made through the service: ``(key_id, secret)``."""
    async with container.db.transaction() as session:
        key, secret = await api_keys.create(
            session, clock=container.clock, name=name, created_by=None
        )
    return key.id, secret


@pytest.fixture
async def admin(container: Container) -> Account:
    return await make_user(container, role="admin")


@pytest.fixture
def admin_token(admin: Account) -> str:
    return admin.token


@pytest.fixture
async def api_key(container: Container) -> str:
    """The secret of a fresh platform API key."""
    _, secret = await make_api_key(container)
    return secret


def assert_error(
    response: httpx.Response,
    status: int,
    type_: str,
    code: str | None = None,
    *,
    param: str | None = _UNSET,
) -> dict[str, Any]:
    """The response is ``status`` with the error envelope of this type/code/param."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert set(err) == {"type", "code", "message", "param"}, err
    assert err["type"] == type_, err
    if code is not None:
        assert err["code"] == code, err
    if param is not _UNSET:
        assert err["param"] == param, err
    assert isinstance(err["message"], str)
    assert err["message"]
    return err


async def count_rows(container: Container, table: str) -> int:
    async with container.db.engine.connect() as conn:
        result = await conn.execute(text(f"SELECT count(*) FROM {table}"))
        return int(result.scalar_one())


async def count_all(container: Container, *tables: str) -> dict[str, int]:
    return {t: await count_rows(container, t) for t in tables}


#: Every table this module writes, for "nothing was written" checks.
USER_TABLES = ("users", "organizations", "organization_members", "api_keys", "idempotency_keys")
