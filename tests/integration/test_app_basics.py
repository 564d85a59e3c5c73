"""The API's shared conventions: envelope for framework errors, request ids, probes."""

from __future__ import annotations

from pathlib import Path

import httpx

from escrowd.app import create_app
from escrowd.bootstrap import build
from escrowd.config import Environment, Settings


def _assert_envelope(body: dict[str, object], *, type_: str, code: str) -> None:
    assert set(body) == {"error"}
    err = body["error"]
    assert isinstance(err, dict)
    assert set(err) == {"type", "code", "message", "param"}
    assert err["type"] == type_
    assert err["code"] == code
    assert isinstance(err["message"], str)
    assert err["message"]


async def test_unknown_url_gets_the_error_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    _assert_envelope(r.json(), type_="invalid_request_error", code="url_invalid")


async def test_wrong_method_gets_the_error_envelope(client: httpx.AsyncClient) -> None:
    r = await client.delete("/healthz")
    assert r.status_code == 405
    _assert_envelope(r.json(), type_="invalid_request_error", code="method_not_allowed")


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    a = await client.get("/healthz")
    b = await client.get("/v1/nothing-here")
    assert a.headers["request-id"].startswith("req_")
    assert b.headers["request-id"].startswith("req_")
    assert a.headers["request-id"] != b.headers["request-id"]


async def test_a_callers_safe_request_id_is_kept_and_an_unsafe_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/healthz", headers={"Request-Id": "trace-42.abc"})
    assert kept.headers["request-id"] == "trace-42.abc"
    replaced = await client.get("/healthz", headers={"Request-Id": "bad id\twith spaces"})
    assert replaced.headers["request-id"].startswith("req_")


async def test_readyz_reports_a_reachable_database(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "sub" / "db.sqlite3"
    settings = Settings(
        env=Environment.test,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        data_dir=missing.parent,
    )
    container = build(settings)
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] == "unreachable"
    finally:
        await container.close()


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json()["info"]["title"] == "escrowd"
