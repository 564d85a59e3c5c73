"""``escrowd demo`` and the demo data of ``escrowd serve``, on a fresh database of each backend.

The demo drives escrowd's HTTP API in process against the sandbox (a client, two verified
workers, an admin; a $100 escrow funded with 4242, released to both workers, $15 refunded);
these tests check that the money trail it prints adds up to the cent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from escrowd.bootstrap import Container, build
from escrowd.config import Environment, ProviderMode, Settings
from escrowd.demo import DEMO_USERS, seed_demo
from escrowd.demo_cli import Traced, demo, traced_demo
from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS, clearing

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _settings(url: str) -> Settings:
    return Settings(env=Environment.test, database_url=url, secret_key=SECRET)


@pytest.fixture
async def fresh(fresh_db_url: str) -> AsyncIterator[Container]:
    container = build(_settings(fresh_db_url))
    try:
        yield container
    finally:
        await container.close()


async def _count(container: Container, table: str) -> int:
    async with container.db.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


def _changes(traced: Traced) -> dict[str, int]:
    return {b.code: b.change for b in traced.trail.balances}


async def test_the_demo_escrow_ends_released_and_its_money_trail_adds_up_to_the_cent(
    fresh: Container,
) -> None:
    lines: list[str] = []
    traced = await traced_demo(fresh, say=lines.append)
    escrow = traced.demo.escrow
    worker1, worker2 = traced.demo.users["worker1"][0], traced.demo.users["worker2"][0]

    assert escrow["status"] == "released"
    assert (escrow["amount"], escrow["amount_charged"]) == (10_000, 10_000)
    assert (escrow["amount_released"], escrow["amount_refunded"], escrow["amount_held"]) == (
        8_500,
        1_500,
        0,
    )
    assert escrow["payment"]["processing_fee"] == 320  # 2.9 % + 30¢ on $100
    allocations = escrow["allocations"]
    assert [a["payee"] for a in allocations] == [worker1, worker2]
    # Seed 000's fees: 15 %, then 3 % of what the fee leaves, paid by the workers.
    assert [a["platform_fee"] for a in allocations] == [900, 600]
    assert [a["processing_cost"] for a in allocations] == [153, 102]
    assert [a["net"] for a in allocations] == [4_947, 3_298]
    assert [a["net_released"] for a in allocations] == [4_947, 2_061]
    assert [a["amount_refunded"] for a in allocations] == [0, 1_500]
    assert [a["status"] for a in allocations] == ["released", "released"]

    trail = traced.trail
    assert trail.verify_ok, trail.verify_lines
    assert sum(b.change for b in trail.balances) == 0
    assert _changes(traced) == {
        clearing("stripe"): -10_000 + 320 + 1_500,
        f"escrow:{escrow['id']}": 0,
        f"payee:{worker1}:available": 4_947,
        f"payee:{worker2}:available": 2_061,
        PLATFORM_FEES: 900 + 375,
        PROCESSING_COSTS: 153 + 64 - 320,
    }
    # A fresh database: the balances now are this escrow's alone.
    assert all(b.balance == b.change for b in trail.balances)
    categories = [t.category for t in trail.transfers]
    assert categories[0] == "payment"
    assert categories[-1] == "refund"
    assert sorted(categories) == sorted(
        ["payment", "processing_fee", "refund"]
        + ["release", "platform_fee", "processing_recovery"] * 2
    )
    assert all(t.kind == "posted" and t.currency == "usd" for t in trail.transfers)
    assert any("onboarded on the sandbox's hosted page" in line for line in lines)


async def test_a_second_run_makes_a_new_escrow_and_reuses_users_and_verified_accounts(
    fresh: Container,
) -> None:
    first = await traced_demo(fresh)
    lines: list[str] = []
    second = await traced_demo(fresh, say=lines.append)

    assert second.demo.escrow["id"] != first.demo.escrow["id"]
    assert second.demo.users == first.demo.users
    assert first.demo.created_users == [email for email, *_ in DEMO_USERS]
    assert second.demo.created_users == []
    assert sum(1 for line in lines if "already verified" in line) == 2
    assert await _count(fresh, "users") == len(DEMO_USERS)
    assert await _count(fresh, "connected_accounts") == 2
    assert await _count(fresh, "payment_methods") == 1
    assert second.demo.escrow["status"] == "released"
    assert _changes(second) == {
        code.replace(first.demo.escrow["id"], second.demo.escrow["id"]): change
        for code, change in _changes(first).items()
    }
    fees = {b.code: b.balance for b in second.trail.balances}
    assert fees[PLATFORM_FEES] == 2 * 1_275
    assert second.trail.verify_ok, second.trail.verify_lines


def test_the_demo_command_prints_the_money_trail_and_can_run_again(fresh_db_url: str) -> None:
    app = typer.Typer()
    app.command()(demo)
    runner = CliRunner()

    first = runner.invoke(app, ["--database-url", fresh_db_url])
    assert first.exit_code == 0, first.output
    for heading in (
        "Ledger transfers, in order",
        "Ledger accounts it touched",
        "Allocations (USD)",
        "ledger verify: OK",
    ):
        assert heading in first.stdout
    assert "100.00 USD" in first.stdout
    assert "provider:stripe:clearing" in first.stdout
    assert "-81.80 USD" in first.stdout  # the clearing account after $100 in, $15 and $3.20 out
    assert "released" in first.stdout

    again = runner.invoke(app, ["--database-url", fresh_db_url, "--no-migrate"])
    assert again.exit_code == 0, again.output
    assert "-163.60 USD" in again.stdout  # two escrows' worth


def test_the_demo_command_refuses_production(fresh_db_url: str) -> None:
    app = typer.Typer()
    app.command()(demo)
    result = CliRunner().invoke(
        app,
        ["--database-url", fresh_db_url],
        env={"ESCROWD_ENV": "production", "ESCROWD_SECRET_KEY": SECRET},
    )
    assert result.exit_code == 2
    assert "production" in result.output


async def test_serve_seeds_an_empty_database_with_logins_and_a_demo_escrow_once(
    fresh_db_url: str,
) -> None:
    settings = _settings(fresh_db_url)
    seeded = await seed_demo(settings)
    assert seeded is not None
    assert seeded.error is None
    assert seeded.logins == [(email, password, role) for email, password, _, role in DEMO_USERS]
    assert seeded.escrow_id is not None
    assert seeded.escrow_id.startswith("esc_")

    assert await seed_demo(settings) is None  # not empty any more: nothing is added
    container = build(settings)
    try:
        assert await _count(container, "escrows") == 1
        assert await _count(container, "users") == len(DEMO_USERS)
    finally:
        await container.close()


async def test_serve_adds_no_demo_data_in_production(postgres_url: str) -> None:
    # Production runs on PostgreSQL and Stripe only: the settings refuse SQLite and the sandbox.
    settings = Settings(
        env=Environment.production,
        database_url=postgres_url,
        secret_key=SECRET,
        provider=ProviderMode.stripe,
        stripe_secret_key="sk_test_never_called",
    )
    assert await seed_demo(settings) is None
    container = build(settings)
    try:
        assert await _count(container, "users") == 0
    finally:
        await container.close()
