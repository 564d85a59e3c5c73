"""Signing up, logging in, seeing and updating users; the `escrowd users create` command."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from escrowd.bootstrap import Container
from escrowd.users.cli import app as users_cli
from escrowd.users.models import User
from escrowd.users.passwords import Argon2Parameters, Passwords
from tests.integration.conftest import (
    DEFAULT_PASSWORD,
    Account,
    assert_error,
    bearer,
    count_rows,
    login,
    make_user,
    signup,
    unique_email,
)


async def test_a_new_user_signs_up_logs_in_and_sees_themselves(client: httpx.AsyncClient) -> None:
    email = unique_email("ann")
    r = await client.post(
        "/v1/users",
        json={
            "email": email,
            "password": DEFAULT_PASSWORD,
            "name": "Ann",
            "role": "worker",
            "metadata": {"ref": "42"},
        },
    )
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["id"].startswith("usr_")
    assert created["object"] == "user"
    assert created["role"] == "worker"
    assert created["disabled"] is False
    assert created["metadata"] == {"ref": "42"}
    assert isinstance(created["created"], int)
    assert "password" not in r.text
    assert "argon2" not in r.text

    r = await client.post("/v1/auth/tokens", json={"email": email, "password": DEFAULT_PASSWORD})
    assert r.status_code == 200, r.text
    login_body = r.json()
    assert login_body["object"] == "access_token"
    assert login_body["token_type"] == "bearer"
    assert login_body["expires_in"] == 900
    assert login_body["user"] == created

    me = await client.get("/v1/users/me", headers=bearer(login_body["access_token"]))
    assert me.status_code == 200
    assert me.json() == created
    again = await client.get(
        f"/v1/users/{created['id']}", headers=bearer(login_body["access_token"])
    )
    assert again.json() == created


async def test_sign_up_defaults_to_the_client_role(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/users",
        json={"email": unique_email(), "password": DEFAULT_PASSWORD, "name": "Default"},
    )
    assert r.status_code == 200
    assert r.json()["role"] == "client"


async def test_emails_are_stored_lower_case_and_login_ignores_case(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email("MiXeD").upper()
    account = await signup(client, email=f"  {email}  ")
    me = await client.get("/v1/users/me", headers=account.headers)
    assert me.json()["email"] == email.lower()
    assert await login(client, email.swapcase())


async def test_signing_up_twice_with_one_email_is_a_conflict(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await signup(client)
    before = await count_rows(container, "users")
    r = await client.post(
        "/v1/users",
        json={"email": account.email.upper(), "password": DEFAULT_PASSWORD, "name": "Again"},
    )
    err = assert_error(r, 409, "invalid_request_error", "email_in_use", param="email")
    assert "already exists" in err["message"]
    assert await count_rows(container, "users") == before


async def test_a_short_password_is_refused_with_a_clear_message(
    client: httpx.AsyncClient, container: Container
) -> None:
    before = await count_rows(container, "users")
    r = await client.post(
        "/v1/users", json={"email": unique_email(), "password": "tooshort", "name": "Weak"}
    )
    err = assert_error(r, 400, "invalid_request_error", "password_too_short", param="password")
    assert "at least 10 characters" in err["message"]
    assert await count_rows(container, "users") == before


async def test_a_password_over_256_characters_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/users", json={"email": unique_email(), "password": "p" * 257, "name": "Long"}
    )
    assert_error(r, 400, "invalid_request_error", "password_too_long", param="password")


async def test_passwords_keep_their_spaces(client: httpx.AsyncClient) -> None:
    account = await signup(client, password="  spaces around  ")
    r = await client.post(
        "/v1/auth/tokens", json={"email": account.email, "password": "spaces around"}
    )
    assert_error(r, 401, "authentication_error", "invalid_credentials")


async def test_an_invalid_email_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/users", json={"email": "not-an-email", "password": DEFAULT_PASSWORD, "name": "X"}
    )
    assert_error(r, 400, "invalid_request_error", "email_invalid", param="email")


async def test_signing_up_as_an_admin_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    before = await count_rows(container, "users")
    r = await client.post(
        "/v1/users",
        json={
            "email": unique_email(),
            "password": DEFAULT_PASSWORD,
            "name": "Eve",
            "role": "admin",
        },
    )
    err = assert_error(r, 403, "permission_error", "role_not_allowed", param="role")
    assert "client or worker" in err["message"]
    assert await count_rows(container, "users") == before


async def test_a_client_cannot_create_an_admin_either(client: httpx.AsyncClient) -> None:
    client_account = await signup(client)
    r = await client.post(
        "/v1/users",
        json={
            "email": unique_email(),
            "password": DEFAULT_PASSWORD,
            "name": "Eve",
            "role": "admin",
        },
        headers=client_account.headers,
    )
    assert_error(r, 403, "permission_error", "role_not_allowed", param="role")


async def test_an_unknown_role_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/users",
        json={"email": unique_email(), "password": DEFAULT_PASSWORD, "name": "X", "role": "root"},
    )
    assert_error(r, 400, "invalid_request_error", "parameter_invalid", param="role")


async def test_an_admin_can_create_another_admin(client: httpx.AsyncClient, admin: Account) -> None:
    other = await signup(client, role="admin", headers=admin.headers)
    me = await client.get("/v1/users/me", headers=other.headers)
    assert me.json()["role"] == "admin"


async def test_an_api_key_can_create_an_admin(client: httpx.AsyncClient, api_key: str) -> None:
    other = await signup(client, role="admin", headers=bearer(api_key))
    assert other.role == "admin"


async def test_login_refuses_a_wrong_password_and_an_unknown_email_alike(
    client: httpx.AsyncClient,
) -> None:
    account = await signup(client)
    wrong = await client.post(
        "/v1/auth/tokens", json={"email": account.email, "password": "wrong password!"}
    )
    unknown = await client.post(
        "/v1/auth/tokens", json={"email": unique_email("nobody"), "password": "wrong password!"}
    )
    a = assert_error(wrong, 401, "authentication_error", "invalid_credentials")
    b = assert_error(unknown, 401, "authentication_error", "invalid_credentials")
    assert a == b


async def test_login_upgrades_a_hash_made_with_old_parameters(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await make_user(container)
    old = Passwords(Argon2Parameters(time_cost=1, memory_cost=16, parallelism=1))
    async with container.db.transaction() as s:
        user = await s.get(User, account.id)
        assert user is not None
        user.password_hash = old.hash_sync(account.password)
        old_hash = user.password_hash
    await login(client, account.email, account.password)
    async with container.db.transaction() as s:
        user = await s.get(User, account.id)
        assert user is not None
        assert user.password_hash != old_hash
        assert "m=8,t=1,p=1" in user.password_hash
    await login(client, account.email, account.password)


async def test_a_user_gets_404_for_another_user(client: httpx.AsyncClient) -> None:
    me = await signup(client)
    other = await signup(client)
    r = await client.get(f"/v1/users/{other.id}", headers=me.headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")
    missing = await client.get("/v1/users/usr_01J00000000000000000000000", headers=me.headers)
    assert_error(missing, 404, "invalid_request_error", "resource_missing", param="id")


async def test_an_admin_can_see_any_user(client: httpx.AsyncClient, admin: Account) -> None:
    other = await signup(client)
    r = await client.get(f"/v1/users/{other.id}", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["email"] == other.email


async def test_only_admins_and_api_keys_list_users(
    client: httpx.AsyncClient, admin: Account, api_key: str
) -> None:
    worker = await signup(client, role="worker")
    refused = await client.get("/v1/users", headers=worker.headers)
    assert_error(refused, 403, "permission_error", "admin_required")
    for headers in (admin.headers, bearer(api_key)):
        r = await client.get("/v1/users", headers=headers)
        assert r.status_code == 200
        assert r.json()["object"] == "list"
        assert r.json()["url"] == "/v1/users"


async def test_the_users_list_filters_by_email_and_role(
    client: httpx.AsyncClient, admin: Account
) -> None:
    worker = await signup(client, role="worker")
    r = await client.get("/v1/users", params={"email": worker.email.upper()}, headers=admin.headers)
    assert [u["id"] for u in r.json()["data"]] == [worker.id]
    r = await client.get(
        "/v1/users", params={"email": worker.email, "role": "client"}, headers=admin.headers
    )
    assert r.json()["data"] == []
    r = await client.get(
        "/v1/users", params={"role": "worker", "limit": 100}, headers=admin.headers
    )
    assert {u["role"] for u in r.json()["data"]} == {"worker"}


async def test_a_user_renames_themselves_but_cannot_change_their_role(
    client: httpx.AsyncClient, container: Container
) -> None:
    account = await signup(client)
    r = await client.post(
        f"/v1/users/{account.id}",
        json={"name": "New Name", "metadata": {"a": "1"}},
        headers=account.headers,
    )
    assert r.status_code == 200
    assert r.json()["name"] == "New Name"
    assert r.json()["metadata"] == {"a": "1"}
    r = await client.post(
        f"/v1/users/{account.id}", json={"metadata": {"a": ""}}, headers=account.headers
    )
    assert r.json()["metadata"] == {}

    r = await client.post(
        f"/v1/users/{account.id}", json={"role": "admin"}, headers=account.headers
    )
    assert_error(r, 403, "permission_error", "role_not_allowed", param="role")
    async with container.db.transaction() as s:
        user = await s.get(User, account.id)
        assert user is not None
        assert user.role == "client"


async def test_an_admin_disables_a_user_whose_token_stops_working_at_once(
    client: httpx.AsyncClient, admin: Account
) -> None:
    victim = await signup(client, role="worker")
    r = await client.post(f"/v1/users/{victim.id}", json={"disabled": True}, headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["disabled"] is True
    r = await client.get("/v1/users/me", headers=victim.headers)
    assert_error(r, 401, "authentication_error", "user_inactive")
    r = await client.post(
        "/v1/auth/tokens", json={"email": victim.email, "password": victim.password}
    )
    assert_error(r, 401, "authentication_error", "account_disabled")


async def test_an_admin_cannot_lock_themselves_out(
    client: httpx.AsyncClient, admin: Account
) -> None:
    r = await client.post(f"/v1/users/{admin.id}", json={"disabled": True}, headers=admin.headers)
    assert_error(r, 409, "invalid_request_error", "self_lockout", param="disabled")
    r = await client.post(f"/v1/users/{admin.id}", json={"role": "client"}, headers=admin.headers)
    assert_error(r, 409, "invalid_request_error", "self_lockout", param="role")


async def test_the_cli_creates_an_admin_who_can_log_in(
    client: httpx.AsyncClient, db_url: str
) -> None:
    email = unique_email("ops")
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke,
        users_cli,
        ["create", "--email", email, "--role", "admin", "--database-url", db_url],
        input=f"{DEFAULT_PASSWORD}\n{DEFAULT_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    user_id = result.stdout.strip().splitlines()[-1]
    assert user_id.startswith("usr_")
    token = await login(client, email)
    me = await client.get("/v1/users/me", headers=bearer(token))
    assert me.json()["id"] == user_id
    assert me.json()["role"] == "admin"


async def test_the_cli_reads_a_password_from_stdin_and_refuses_a_short_one(
    client: httpx.AsyncClient, db_url: str, container: Container
) -> None:
    runner = CliRunner()
    email = unique_email("script")
    args = ["create", "--email", email, "--role", "worker", "--password-stdin"]
    short = await asyncio.to_thread(
        runner.invoke, users_cli, [*args, "--database-url", db_url], input="short\n"
    )
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output
    ok = await asyncio.to_thread(
        runner.invoke, users_cli, [*args, "--database-url", db_url], input=f"{DEFAULT_PASSWORD}\n"
    )
    assert ok.exit_code == 0, ok.output
    await login(client, email)
    again = await asyncio.to_thread(
        runner.invoke, users_cli, [*args, "--database-url", db_url], input=f"{DEFAULT_PASSWORD}\n"
    )
    assert again.exit_code == 1
    assert "already exists" in again.output
    async with container.db.transaction() as s:
        rows = (await s.scalars(select(User).where(User.email == email))).all()
    assert len(rows) == 1
