"""A JSON body naming a key twice is refused on every route (400 duplicate_key), and nothing
is written; json.loads alone would silently keep the last value."""

from __future__ import annotations

import re

import httpx

from escrowd.bootstrap import Container
from tests.integration.conftest import (
    DEFAULT_PASSWORD,
    USER_TABLES,
    assert_error,
    count_all,
    make_user,
    unique_email,
)

JSON = {"Content-Type": "application/json"}


async def test_a_repeated_top_level_key_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    before = await count_all(container, *USER_TABLES)
    body = (
        f'{{"email": "{unique_email()}", "password": "{DEFAULT_PASSWORD}", '
        '"role": "client", "name": "Ann", "role": "worker"}'
    )
    r = await client.post("/v1/users", content=body.encode(), headers=JSON)
    err = assert_error(r, 400, "invalid_request_error", "duplicate_key", param="role")
    assert "'role' more than once" in err["message"]
    assert await count_all(container, *USER_TABLES) == before


async def test_a_repeated_nested_key_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    user = await make_user(container)
    body = b'{"name": "New", "metadata": {"tier": "gold", "tier": "silver"}}'
    r = await client.post(f"/v1/users/{user.id}", content=body, headers={**user.headers, **JSON})
    assert_error(r, 400, "invalid_request_error", "duplicate_key", param="tier")
    me = (await client.get("/v1/users/me", headers=user.headers)).json()
    assert me["name"] != "New"
    assert me["metadata"] == {}


async def test_the_same_key_in_two_objects_is_not_a_duplicate(
    client: httpx.AsyncClient, container: Container
) -> None:
    user = await make_user(container)
    body = b'{"name": "Ann", "metadata": {"name": "nickname"}}'
    r = await client.post(f"/v1/users/{user.id}", content=body, headers={**user.headers, **JSON})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["metadata"]) == ("Ann", {"name": "nickname"})


async def test_every_route_with_a_json_body_refuses_repeated_keys(
    client: httpx.AsyncClient,
) -> None:
    """Whatever router a route comes from, its body is parsed strictly (before auth, so no
    credentials are needed to see it)."""
    spec = (await client.get("/openapi.json")).json()
    checked = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = re.sub(r"\{[^}]+\}", "x1", path)
            r = await client.request(method, url, content=b'{"a": 1, "a": 2}', headers=JSON)
            assert_error(r, 400, "invalid_request_error", "duplicate_key", param="a")
            checked.append(f"{method.upper()} {path}")
    assert "POST /v1/escrows" in checked
    assert "POST /v1/escrows/{escrow_id}/refund" in checked
    assert len(checked) >= 15, checked
