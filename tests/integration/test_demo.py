"""``escrowd demo`` and the demo data of ``escrowd serve``, on a fresh database of each backend.

The demo drives escrowd's HTTP API in process against the sandbox (a client, two verified
workers, an admin; a $100 escrow funded with the 0077 card, released to both workers, $15
refunded; worker 1's $49.47 paid out; a $30 escrow disputed and split $20 / $10; a $25 escrow
paid with PayPal, released, worker 2's $20.61 paid out to their PayPal email); these tests
check that the money trail it prints adds up to the cent, chapter by chapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from escrowd.bootstrap import Container, build
from escrowd.config import Environment, ProviderMode, Settings
from escrowd.demo import DEMO_USERS, seed_demo
from escrowd.demo_cli import Traced, demo, traced_demo
from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS, clearing
from escrowd.payouts.models import Payout

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
    """What the first chapter, the $100 escrow, moved on each account."""
    return traced.trail.changes(str(traced.demo.escrow["id"]))


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
    assert sum(_changes(traced).values()) == 0
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
    categories = [t.category for t in trail.of(escrow["id"])]
    assert categories[0] == "payment"
    assert categories[-1] == "refund"
    assert sorted(categories) == sorted(
        ["payment", "processing_fee", "refund"]
        + ["release", "platform_fee", "processing_recovery"] * 2
    )
    assert all(t.kind == "posted" and t.currency == "usd" for t in trail.of(escrow["id"]))
    assert any("onboarded on the sandbox's hosted page" in line for line in lines)


async def test_the_demo_pays_worker1_out_and_the_payout_ends_paid_in_the_ledger(
    fresh: Container,
) -> None:
    lines: list[str] = []
    traced = await traced_demo(fresh, say=lines.append)
    worker1 = traced.demo.users["worker1"][0]
    payout = traced.demo.payout
    assert payout is not None

    assert (payout["status"], payout["amount"], payout["currency"]) == ("paid", 4_947, "usd")
    assert payout["party"] == worker1
    # The provider agrees: its payout, on worker1's connected account, arrived.
    async with fresh.db.transaction() as session:
        row = await session.get(Payout, payout["id"])
    assert row is not None
    at_provider = await fresh.provider.retrieve_payout(
        payout["provider_payout"], account_id=row.provider_account_id
    )
    assert (at_provider.status, at_provider.amount) == ("paid", 4_947)

    trail = traced.trail
    po = payout["id"]
    assert [(t.id, t.kind, t.category, t.amount) for t in trail.of(po)] == [
        (f"{po}:requested", "pending", "payout", 4_947),
        (f"{po}:paid", "post_pending", "payout", 4_947),
        (f"{po}:sent", "posted", "payout_sent", 4_947),
    ]
    assert trail.changes(po) == {
        f"payee:{worker1}:available": -4_947,
        f"payouts:in_transit:{worker1}": 0,
        clearing("stripe"): 4_947,
    }
    now = {b.code: b.balance for b in trail.balances}
    assert now[f"payee:{worker1}:available"] == 0  # earned 49.47, all of it paid out
    assert now[f"payouts:in_transit:{worker1}"] == 0
    assert trail.verify_ok, trail.verify_lines
    assert any("paid, worker1's bank has it" in line for line in lines)


async def test_the_demo_disputes_a_second_escrow_and_the_admin_splits_it(
    fresh: Container,
) -> None:
    lines: list[str] = []
    traced = await traced_demo(fresh, say=lines.append)
    worker2 = traced.demo.users["worker2"][0]
    escrow, dispute = traced.demo.disputed, traced.demo.dispute
    assert escrow is not None
    assert dispute is not None

    assert dispute["escrow"] == escrow["id"]
    assert (dispute["kind"], dispute["status"], dispute["outcome"]) == (
        "internal",
        "resolved",
        "split",
    )
    assert (dispute["amount"], dispute["amount_released"], dispute["amount_refunded"]) == (
        3_000,
        2_000,
        1_000,
    )
    assert dispute["opened_by"] == traced.demo.users["client"][0]
    assert dispute["resolved_by"] == traced.demo.users["admin"][0]
    assert [e["author"] for e in dispute["evidence"]] == [
        traced.demo.users["client"][0],
        worker2,
    ]
    assert escrow["status"] == "released"
    assert (escrow["amount_released"], escrow["amount_refunded"], escrow["amount_held"]) == (
        2_000,
        1_000,
        0,
    )
    assert escrow["payment"]["processing_fee"] == 117  # 2.9 % + 30¢ on $30
    # Seed 000's fees on the $20.00 released: 15 %, then 3 % of the $17.00 left.
    (allocation,) = escrow["allocations"]
    assert (allocation["platform_fee"], allocation["processing_cost"]) == (450, 77)
    assert allocation["net_released"] == 1_649

    trail = traced.trail
    eid = escrow["id"]
    assert trail.changes(eid) == {
        clearing("stripe"): -3_000 + 117 + 1_000,
        f"escrow:{eid}": 0,
        f"payee:{worker2}:available": 1_649,
        PLATFORM_FEES: 300,
        PROCESSING_COSTS: 51 - 117,
    }
    assert sorted(t.category for t in trail.of(eid)) == sorted(
        ["payment", "processing_fee", "release", "platform_fee", "processing_recovery", "refund"]
    )
    assert [t.amount for t in trail.of(eid) if t.category in ("release", "refund")] == [
        1_649,
        1_000,
    ]
    assert trail.verify_ok, trail.verify_lines
    assert [c.key for c in trail.chapters] == [
        "escrow",
        "payout",
        "dispute",
        "paypal",
        "paypal payout",
    ]
    assert any("the admin split it" in line for line in lines)


async def test_the_demo_pays_a_paypal_escrow_out_to_worker2s_paypal_email(
    fresh: Container,
) -> None:
    lines: list[str] = []
    traced = await traced_demo(fresh, say=lines.append)
    worker2 = traced.demo.users["worker2"][0]
    escrow, payout = traced.demo.paypal_escrow, traced.demo.paypal_payout
    assert escrow is not None
    assert payout is not None

    assert (escrow["payment_provider"], escrow["status"], escrow["amount_released"]) == (
        "paypal",
        "released",
        2_500,
    )
    (allocation,) = escrow["allocations"]
    assert (allocation["platform_fee"], allocation["processing_cost"]) == (375, 64)
    assert allocation["net_released"] == 2_061
    # PayPal agrees: the order was captured in full, the payout item went to the email.
    paypal = fresh.provider_named("paypal")
    order = await paypal.retrieve_payment(escrow["payment"]["id"])
    assert (order.status.value, order.amount_received) == ("succeeded", 2_500)
    assert order.latest_charge == escrow["payment"]["charge"]
    assert (payout["provider"], payout["receiver_email"], payout["status"]) == (
        "paypal",
        "worker2@demo.escrowd.dev",
        "paid",
    )
    item = await paypal.retrieve_payout(payout["provider_payout"])
    assert (item.status, item.amount) == ("paid", 2_061)

    trail = traced.trail
    eid, po = escrow["id"], payout["id"]
    assert trail.changes(eid) == {
        # $25.00 in, less PayPal's fee on the capture (3.49 % + $0.49 in the sandbox: $1.36),
        # which the platform bears.
        clearing("paypal"): -2_500 + 136,
        f"escrow:{eid}": 0,
        f"payee:{worker2}:available": 2_061,
        PLATFORM_FEES: 375,
        PROCESSING_COSTS: 64 - 136,
    }
    assert trail.changes(po) == {
        f"payee:{worker2}:available": -2_061,
        f"payouts:in_transit:{worker2}": 0,
        clearing("paypal"): 2_061,
    }
    assert trail.verify_ok, trail.verify_lines
    assert any("approved it on the PayPal sandbox's page" in line for line in lines)
    assert any("worker2@demo.escrowd.dev" in line for line in lines)


async def test_with_a_payout_delay_the_demo_says_the_earnings_are_pending_and_skips_the_payout(
    fresh_db_url: str,
) -> None:
    settings = _settings(fresh_db_url).model_copy(update={"payout_delay_seconds": 3_600})
    container = build(settings)
    try:
        lines: list[str] = []
        traced = await traced_demo(container, say=lines.append)
    finally:
        await container.close()
    worker1 = traced.demo.users["worker1"][0]

    assert traced.demo.payout is None
    assert any("ESCROWD_PAYOUT_DELAY_SECONDS" in line for line in lines)
    # Neither payout: worker1's and worker2's earnings are pending alike.
    assert [c.key for c in traced.trail.chapters] == ["escrow", "dispute", "paypal"]
    assert traced.demo.paypal_payout is None
    changes = _changes(traced)
    assert changes[f"payee:{worker1}:pending"] == 4_947
    assert f"payee:{worker1}:available" not in changes
    assert traced.demo.dispute is not None
    assert traced.demo.dispute["status"] == "resolved"
    assert traced.trail.verify_ok, traced.trail.verify_lines


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
    # Each chapter of the second run moved exactly what the first run's did.
    assert [c.key for c in second.trail.chapters] == [
        "escrow",
        "payout",
        "dispute",
        "paypal",
        "paypal payout",
    ]
    for was, now in zip(first.trail.chapters, second.trail.chapters, strict=True):
        assert now.key == was.key
        assert now.reference != was.reference
        assert second.trail.changes(now.reference) == {
            code.replace(was.reference, now.reference): change
            for code, change in first.trail.changes(was.reference).items()
        }
    assert second.demo.payout is not None
    assert second.demo.payout["status"] == "paid"
    assert second.demo.dispute is not None
    assert second.demo.dispute["status"] == "resolved"
    assert await _count(fresh, "payouts") == 4
    assert await _count(fresh, "disputes") == 2
    fees = {b.code: b.balance for b in second.trail.balances}
    assert fees[PLATFORM_FEES] == 2 * (1_275 + 300 + 375)
    assert second.trail.verify_ok, second.trail.verify_lines


async def test_on_a_database_whose_client_has_only_the_4242_card_the_demo_saves_0077(
    fresh: Container,
) -> None:
    # An older demo saved the 4242 card, whose money reaches a connected account two days
    # after the charge: the payout would fail. The demo saves the 0077 card and pays with it.
    from escrowd.app import create_app
    from escrowd.demo import Api, ensure_users, saved_card

    await ensure_users(fresh)
    transport = httpx.ASGITransport(app=create_app(fresh, background=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.demo") as http:
        email, password = DEMO_USERS[1][0], DEMO_USERS[1][1]
        login = await http.post("/v1/auth/tokens", json={"email": email, "password": password})
        await saved_card(Api(http), login.json()["access_token"], card="pm_card_visa", last4="4242")
    assert await _count(fresh, "payment_methods") == 1

    traced = await traced_demo(fresh)

    assert await _count(fresh, "payment_methods") == 2
    assert traced.demo.payout is not None
    assert traced.demo.payout["status"] == "paid"
    assert traced.trail.verify_ok, traced.trail.verify_lines


def test_the_demo_command_prints_the_money_trail_and_can_run_again(fresh_db_url: str) -> None:
    app = typer.Typer()
    app.command()(demo)
    runner = CliRunner()

    first = runner.invoke(app, ["--database-url", fresh_db_url])
    assert first.exit_code == 0, first.output
    for heading in (
        "Ledger transfers, in order",
        "A. the escrow: funded, released to both workers, the rest refunded",
        "B. worker1's payout: requested (held), approved, paid",
        "C. the disputed escrow: funded, disputed, split by the admin",
        "D. the PayPal escrow: approved on PayPal, captured, released to worker2",
        "E. worker2's PayPal payout: requested (held), approved, paid to their email",
        "Ledger accounts the demo touched (USD)",
        "Allocations (USD)",
        "ledger verify: OK",
    ):
        assert heading in first.stdout
    assert "100.00 USD" in first.stdout
    assert "payout requested:" in first.stdout
    assert "out to the worker's bank" in first.stdout
    # (The "what" cells fold at 80 columns: their first words are on the transfer's line.)
    assert "│ the PayPal order captured," in first.stdout
    assert "│ out to the worker's PayPal" in first.stdout
    assert "worker2's PayPal: worker2@demo.escrowd.dev" in first.stdout
    # The clearing account's row: −81.80 for the escrow ($100 in, $15 and $3.20 out), +49.47
    # for the payout, −18.83 for the disputed escrow ($30 in, $10 and $1.17 out); −51.16 now.
    assert _row(first.stdout, "provider:stripe:clearing") == [
        "-81.80",
        "49.47",
        "-18.83",
        "",
        "",
        "-51.16",
    ]
    # PayPal's: $25.00 in for the PayPal escrow less PayPal's $1.36 fee, worker2's $20.61 out
    # to their PayPal.
    assert _row(first.stdout, "provider:paypal:clearing") == [
        "",
        "",
        "",
        "-23.64",
        "20.61",
        "-3.03",
    ]
    assert "resolved" in first.stdout
    assert "split" in first.stdout

    again = runner.invoke(app, ["--database-url", fresh_db_url, "--no-migrate"])
    assert again.exit_code == 0, again.output
    assert _row(again.stdout, "provider:stripe:clearing")[-1] == "-102.32"  # two runs' worth


def _row(table: str, account: str) -> list[str]:
    """The figures on the balances table's line for ``account`` (whose code the table may
    fold over the next lines when the terminal is narrow)."""
    lines = table.splitlines()
    for i, line in enumerate(lines):
        cells = line.split("│")
        if not line.startswith("│ ") or len(cells) < 3:
            continue
        name, j = cells[1].strip(), i
        while name and name != account and account.startswith(name) and j + 1 < len(lines):
            j += 1
            name += lines[j].split("│")[1].strip() if lines[j].startswith("│ ") else "?"
        if name == account:
            return [cell.strip() for cell in cells[2:-1]]
    raise AssertionError(f"no row for {account}")


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


async def test_serve_seeds_an_empty_database_with_logins_and_the_demo_once(
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
        # The demo's story, once: its escrow, the disputed one and the PayPal one, the two
        # payouts (to worker1's bank, to worker2's PayPal), the dispute.
        assert await _count(container, "escrows") == 3
        assert await _count(container, "payouts") == 2
        assert await _count(container, "disputes") == 1
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
