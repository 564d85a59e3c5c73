"""``escrowd demo --seed NNN``: a marketplace flow's story, told on a fresh database, and its
money trail to the cent."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from escrowd.demo_cli import demo
from escrowd.marketplace import FLOWS


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(demo)
    return app


def _row(table: str, account_start: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"│ {account_start}"))
    return [cell.strip() for cell in line.split("│")[2:-1]]


def test_seed_004_sells_the_artwork_and_pays_the_seller_the_bid_less_stripes_fee(
    fresh_db_url: str,
) -> None:
    result = CliRunner().invoke(_app(), ["--database-url", fresh_db_url, "--seed", "auctions"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Seed 004 (auctions)" in out
    assert "A. the winning bid's escrow: paid, released to the seller" in out
    # $150.00 in from the card, Stripe's $4.65 back out: the clearing account moved −145.35,
    # all of it now the seller's (no platform fee: a direct sale).
    assert _row(out, "provider:stripe:clearing") == ["-145.35", "-145.35"]
    assert _row(out, "payee:usr_")[0] == "145.35"
    assert _row(out, "platform:processing_costs")[0] == "0.00"
    assert "(sold)" in out
    assert "ledger verify: OK" in out


def test_an_unknown_seed_is_refused_naming_the_flows_there_are(fresh_db_url: str) -> None:
    result = CliRunner().invoke(_app(), ["--database-url", fresh_db_url, "--seed", "042"])
    assert result.exit_code == 2
    assert "no marketplace flow '042'" in result.output
    for flow in FLOWS:
        assert flow.name in result.output


def test_all_is_not_one_seed(fresh_db_url: str) -> None:
    result = CliRunner().invoke(_app(), ["--database-url", fresh_db_url, "--seed", "all"])
    assert result.exit_code == 2
    assert "--seed names one flow" in result.output


def test_seed_002_pays_the_expert_180_of_200_and_voids_the_cancelled_gig(fresh_db_url: str) -> None:
    result = CliRunner().invoke(_app(), ["--database-url", fresh_db_url, "--seed", "002"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "A. the completed gig: authorized, captured, released" in out
    assert "B. the cancelled gig: authorized, voided" in out
    # $200.00 in, Stripe's $6.10 out (borne by the platform); the voided gig moved nothing.
    assert _row(out, "provider:stripe:clearing") == ["-193.90", "0.00", "-193.90"]
    assert _row(out, "payee:usr_")[0] == "180.00"
    assert _row(out, "platform:fees")[0] == "20.00"
    assert _row(out, "platform:processing_costs")[0] == "-6.10"
    assert "(voided)" in out
    assert "ledger verify: OK" in out


def test_seed_000_pays_each_tester_82_45_of_100_and_completes_the_job(fresh_db_url: str) -> None:
    result = CliRunner().invoke(_app(), ["--database-url", fresh_db_url, "--seed", "jobs"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "A. the job's escrow: published, two slots paid" in out
    # $200.00 in, Stripe's $6.10 out; each tester $82.45 (the seed's figure), the platform
    # $30.00 in fees and $1.00 of Stripe's fee the testers' 3 % did not cover.
    assert _row(out, "provider:stripe:clearing") == ["-193.90", "-193.90"]
    assert _row(out, "platform:fees")[0] == "30.00"
    assert _row(out, "platform:processing_costs")[0] == "-1.00"
    assert "82.45 USD and 82.45 USD" in out
    assert "(completed)" in out
    assert "ledger verify: OK" in out


def test_seed_001_books_a_worker_paid_with_paypal_and_pays_them_out_to_their_email(
    fresh_db_url: str,
) -> None:
    result = CliRunner().invoke(_app(), ["--database-url", fresh_db_url, "--seed", "001"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Seed 001 (bookings)" in out
    assert "A. the booking's escrow: PayPal, released" in out
    assert "B. worker1's payout to their PayPal email" in out
    assert "the PayPal order captured," in out
    assert "out to the worker's PayPal" in out
    # $150.00 in through PayPal less PayPal's fee ($5.73: 3.49 % + $0.49 in the sandbox),
    # $100.00 back out to worker1's email.
    assert _row(out, "provider:paypal:clearing") == ["-144.27", "100.00", "-44.27"]
    assert _row(out, "platform:fees")[0] == "7.50"
    assert "money from / back to PayPal" in out
    assert "142.50 USD" in out
    assert "42.50 USD" in out
    assert "100.00 USD (paid)" in out
    assert "wendy.worker@paypal.example" in out
    assert "ledger verify: OK" in out


def test_seed_003_pays_a_user_doer_900_and_an_organization_405(fresh_db_url: str) -> None:
    result = CliRunner().invoke(_app(), ["--database-url", fresh_db_url, "--seed", "tasks"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Seed 003 (tasks)" in out
    assert "A. worker1's task: paid, completed, released" in out
    assert "B. the organization's task: paid, completed, released" in out
    assert '"Walt\'s Workshop" created; worker2 is its admin' in result.output
    # $1,000.00 and $450.00 in, Stripe's $29.30 and $13.35 out (borne by the platform);
    # 10 % of each to the platform; the organization's share to the organization's account.
    assert _row(out, "provider:stripe:clearing") == ["-970.70", "-436.65", "-1,407.35"]
    assert _row(out, "payee:usr_")[0] == "900.00"
    assert _row(out, "payee:org_") == ["", "405.00", "405.00"]
    assert _row(out, "platform:fees") == ["100.00", "45.00", "145.00"]
    assert _row(out, "platform:processing_costs") == ["-29.30", "-13.35", "-42.65"]
    assert "Walt's Workshop's available" in out
    assert "ledger verify: OK" in out
