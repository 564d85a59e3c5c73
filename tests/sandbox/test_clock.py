"""The sandbox clock: authorizations expire, and the admin endpoint and CLI move it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from typer.testing import CliRunner

from escrowd.app import create_app
from escrowd.bootstrap import Container
from escrowd.db.session import Database
from escrowd.sandbox import clock_routes
from escrowd.sandbox.cli import app as sandbox_cli
from escrowd.sandbox.cli import parse_duration
from escrowd.sandbox.stripe import clock
from tests.integration.conftest import make_user
from tests.sandbox.conftest import Api, advance, error_of, put_clock_back

WEEK = 7 * 86400


async def test_an_authorization_expires_at_capture_before_and_emits_charge_expired(
    api: Api, container: Container
) -> None:
    pi = (
        await api.intent(
            4000, payment_method="pm_card_visa", confirm="true", capture_method="manual"
        )
    ).json()
    await advance(container, WEEK - 60)
    assert (await api.ok("GET", f"/v1/payment_intents/{pi['id']}"))["status"] == (
        "requires_capture"
    )
    assert await advance(container, 61) >= 1
    expired = await api.ok("GET", f"/v1/payment_intents/{pi['id']}", {"expand[]": "latest_charge"})
    assert (expired["status"], expired["cancellation_reason"]) == ("canceled", "automatic")
    assert expired["latest_charge"]["refunded"] is True
    late = await api.post(f"/v1/payment_intents/{pi['id']}/capture")
    assert error_of(late)["code"] == "payment_intent_unexpected_state"
    events = await api.ok("GET", "/v1/events", {"type": "charge.expired", "limit": "20"})
    assert any(e["data"]["object"]["id"] == pi["latest_charge"] for e in events["data"])


@pytest.fixture
async def admin_client(container: Container, clock_guard: None) -> httpx.AsyncClient:
    app = create_app(container)
    if not any(getattr(r, "path", "") == "/v1/sandbox/clock" for r in app.router.routes):
        app.include_router(clock_routes.router, prefix="/v1")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_only_an_admin_moves_the_clock_through_the_api(
    admin_client: httpx.AsyncClient, container: Container
) -> None:
    async with admin_client as c:
        anonymous = await c.post("/v1/sandbox/clock/advance", json={"seconds": 60})
        assert anonymous.status_code == 401
        worker = await make_user(container, role="worker")
        forbidden = await c.post(
            "/v1/sandbox/clock/advance", json={"seconds": 60}, headers=worker.headers
        )
        assert forbidden.status_code == 403
        admin = await make_user(container, role="admin")
        before = (await c.get("/v1/sandbox/clock", headers=admin.headers)).json()
        moved = await c.post(
            "/v1/sandbox/clock/advance", json={"seconds": 3600}, headers=admin.headers
        )
        assert moved.status_code == 200, moved.text
        body = moved.json()
        assert body["object"] == "sandbox_clock"
        assert body["offset_seconds"] == before["offset_seconds"] + 3600
        refused = await c.post(
            "/v1/sandbox/clock/advance", json={"seconds": 0}, headers=admin.headers
        )
        assert refused.status_code == 400


def test_the_cli_shows_and_advances_the_clock(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCROWD_DATABASE_URL", db_url)
    before = asyncio.run(_offset(db_url))
    runner = CliRunner()
    shown = runner.invoke(sandbox_cli, ["clock", "show"])
    assert shown.exit_code == 0, shown.output
    moved = runner.invoke(sandbox_cli, ["clock", "advance", "--by", "2h"])
    assert moved.exit_code == 0, moved.output
    assert "ahead of real time" in moved.output
    assert "came due" in moved.output
    bad = runner.invoke(sandbox_cli, ["clock", "advance", "--by", "soon"])
    assert bad.exit_code != 0
    assert asyncio.run(_offset(db_url)) == before + 7200
    asyncio.run(_put_back(db_url, before))


async def _offset(url: str) -> int:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            return await clock.offset(conn)
    finally:
        await db.dispose()


async def _put_back(url: str, offset: int) -> None:
    db = Database(url)
    try:
        await put_clock_back(db, offset)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1w", 604800)]
)
def test_durations_read_like_people_write_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
