"""``escrowd demo``: one escrow's whole story on the sandbox, and the money trail it leaves.

The main CLI mounts it with ``app.command("demo")(demo)``. The story itself is
``escrowd.demo.run_demo``; this module reads the trail it left in the ledger
(``money_trail``), checks the whole ledger (``ledger verify``) and prints it all (``render``).
``traced_demo(container)`` does the three without printing.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from escrowd.bootstrap import Container
from escrowd.cli_support import DatabaseUrlOpt, load_settings
from escrowd.demo import DEMO_USERS, DemoError, DemoResult, Say, run_demo
from escrowd.ledger.models import LedgerAccount, LedgerEntry, LedgerTransfer
from escrowd.ledger.verify import summary_lines, verify
from escrowd.money import Money

console = Console(stderr=True)
out = Console()


def demo(
    database_url: DatabaseUrlOpt = None,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Skip applying migrations first.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print escrowd's own request log.")
    ] = False,
) -> None:
    """Walk one escrow through its life on the built-in Stripe sandbox, then print where
    every cent went.

    The steps, each an ordinary call to escrowd's HTTP API (served in process, no port opened):

    1. Demo users: a client, two workers and an admin — the logins `escrowd serve` prints
    (client@demo.escrowd.dev / demo-client-password, worker1@… and worker2@… /
    demo-worker-password, admin@… / demo-admin-password). Made once, reused afterwards.

    2. Each worker gets a payout account (a Stripe Connect account), onboarded on the sandbox's
    hosted page as "verified": money only goes to verified payees.

    3. The client saves the 4242 test card (pm_card_visa) and creates a 100.00 USD escrow:
    60.00 for worker1, 40.00 for worker2, a 15 % platform fee, and 3 % processing paid by the
    workers on what the fee leaves.

    4. The client funds it (the card is charged: `held`), releases all of worker1's share and
    25.00 of worker2's (`partially_released`), and refunds the last 15.00 (`released`: nothing
    is left in the escrow).

    Printed at the end: the ledger transfers the escrow made (debit → credit, by account code),
    the balance of every ledger account it touched (credits − debits; the provider's clearing
    account goes negative: that is money that came from outside), the escrow's final state
    and each allocation's gross, platform fee, processing cost and net, and `ledger verify`.

    Run it again for another escrow. Development and test databases only (it refuses
    ESCROWD_ENV=production) and the sandbox only (it refuses ESCROWD_PROVIDER=stripe).
    Afterwards: `escrowd serve`, log in as the client, and look at GET /v1/escrows.

    Examples: `escrowd demo` (the SQLite file in ./data, as `escrowd serve` uses it);
    `escrowd demo --database-url postgresql+asyncpg://postgres@127.0.0.1/escrowd`.
    """
    from escrowd.bootstrap import build
    from escrowd.db.migrate import upgrade
    from escrowd.logging import configure

    settings = load_settings(database_url)
    if not settings.is_dev:
        console.print("[red]escrowd demo refuses to run with ESCROWD_ENV=production.[/red]")
        raise typer.Exit(2)
    url = settings.effective_database_url
    if not no_migrate:
        upgrade(url)

    async def run() -> Traced:
        container = build(settings)
        try:
            return await traced_demo(
                container, say=lambda line: console.print(line, highlight=False)
            )
        finally:
            await container.close()

    before = structlog.get_config()
    if not verbose:
        configure(fmt=settings.log_format, level="WARNING")
    try:
        result = asyncio.run(run())
    except DemoError as exc:
        console.print(f"[red]The demo stopped:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        structlog.configure(**before)
    render(result, out)
    if not result.trail.verify_ok:
        raise typer.Exit(1)


def _paragraphs(doc: str) -> str:
    """The docstring with each paragraph on one line: Typer's help keeps single line breaks."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


demo.__doc__ = _paragraphs(demo.__doc__ or "")


# --- the money trail -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailTransfer:
    id: str
    kind: str
    category: str
    debit: str
    credit: str
    amount: int
    currency: str


@dataclass(frozen=True)
class TrailBalance:
    code: str
    currency: str
    #: What this escrow's transfers moved on the account (credits − debits, posted).
    change: int
    #: The account's posted balance now, all escrows included (credits − debits).
    balance: int


@dataclass
class Trail:
    transfers: list[TrailTransfer]
    balances: list[TrailBalance]
    verify_ok: bool = True
    verify_lines: list[str] = field(default_factory=list)


@dataclass
class Traced:
    demo: DemoResult
    trail: Trail


def _quiet(_: str) -> None:
    return None


async def traced_demo(container: Container, *, say: Say = _quiet) -> Traced:
    """Run the demo, read its money trail, verify the whole ledger."""
    result = await run_demo(container, say=say)
    say("5. Money trail and ledger verify")
    trail = await money_trail(container, str(result.escrow["id"]))
    report = await verify(container.db)
    trail.verify_ok, trail.verify_lines = report.ok, summary_lines(report)
    return Traced(result, trail)


async def money_trail(container: Container, escrow_id: str) -> Trail:
    """The escrow's ledger transfers in the order they were made, and the accounts they touched."""
    debit, credit = aliased(LedgerAccount), aliased(LedgerAccount)
    first_entry = (
        select(func.min(LedgerEntry.id))
        .where(LedgerEntry.transfer_id == LedgerTransfer.id)
        .scalar_subquery()
    )
    transfers_q = (
        select(LedgerTransfer, debit.code, credit.code)
        .join(debit, debit.id == LedgerTransfer.debit_account_id)
        .join(credit, credit.id == LedgerTransfer.credit_account_id)
        .where(LedgerTransfer.reference == escrow_id)
        .order_by(first_entry, LedgerTransfer.id)
    )
    balances_q = (
        select(
            LedgerAccount.code,
            LedgerAccount.currency,
            func.sum(LedgerEntry.posted_after - LedgerEntry.posted_before),
            LedgerAccount.credits_posted - LedgerAccount.debits_posted,
        )
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
        .where(LedgerTransfer.reference == escrow_id)
        .group_by(
            LedgerAccount.id,
            LedgerAccount.code,
            LedgerAccount.currency,
            LedgerAccount.credits_posted,
            LedgerAccount.debits_posted,
        )
        .order_by(func.min(LedgerEntry.id))
    )
    async with container.db.transaction() as session:
        rows = (await session.execute(transfers_q)).all()
        sums = (await session.execute(balances_q)).all()
    return Trail(
        transfers=[
            TrailTransfer(t.id, t.kind, t.category or "", d, c, t.amount, t.currency)
            for t, d, c in rows
        ],
        balances=[
            TrailBalance(code, currency, int(change), int(balance))
            for code, currency, change, balance in sums
        ],
    )


# --- printing ----------------------------------------------------------------------------------

_ULID_ID = re.compile(r"\b([a-z]+)_[0-9A-HJKMNP-TV-Z]{20}([0-9A-HJKMNP-TV-Z]{6})\b")


def short(text: str) -> str:
    """Ids shortened for the tables: ``esc_01M81QBYA04RY9ZWQVX1TYVA46`` → ``esc_…TYVA46``."""
    return _ULID_ID.sub(r"\1_…\2", text)


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


def _major(amount: int, currency: str) -> str:
    """``12.34``: Money.format without the currency, for tables titled with it."""
    return Money(amount, currency).format().rpartition(" ")[0]


def _holder(code: str, escrow_id: str, names: dict[str, str]) -> str:
    kind, _, rest = code.partition(":")
    if kind == "escrow":
        return "this escrow" if rest == escrow_id else "another escrow"
    if kind == "payee":
        party = rest.partition(":")[0]
        return f"paid to {names.get(party, party)}"
    if kind == "provider":
        return "money from / back to cards"
    return {"platform:fees": "platform's fees", "platform:processing_costs": "card fees"}.get(
        code, ""
    )


def render(traced: Traced, console: Console) -> None:
    """The money trail, the balances, the escrow and its allocations, as tables."""
    result, trail = traced.demo, traced.trail
    e: dict[str, Any] = result.escrow
    cur = e["currency"]
    names = {user_id: label for label, (user_id, _) in result.users.items()}
    console.print(f"\nEscrow {e['id']} (below: {short(e['id'])})", highlight=False)
    for label, (user_id, email) in result.users.items():
        console.print(f"  {label:<7} {user_id}  {email}", highlight=False)

    transfers = Table(title="Ledger transfers, in order", title_justify="left")
    transfers.add_column("#", justify="right")
    transfers.add_column("transfer id", overflow="fold")
    transfers.add_column("debit → credit", overflow="fold")
    transfers.add_column("amount", justify="right", no_wrap=True)
    for i, t in enumerate(trail.transfers, 1):
        kind = "" if t.kind == "posted" else f" ({t.kind})"
        transfers.add_row(
            str(i),
            short(t.id) + kind,
            f"{short(t.debit)} → {short(t.credit)}",
            _money(t.amount, t.currency),
        )
    console.print(transfers)

    balances = Table(
        title="Ledger accounts it touched: credits − debits",
        title_justify="left",
        show_footer=True,
    )
    balances.add_column("account", "sum", overflow="fold")
    balances.add_column("holder", overflow="fold")
    total = sum(b.change for b in trail.balances)
    balances.add_column("this escrow", _money(total, cur), justify="right", no_wrap=True)
    balances.add_column("balance now", justify="right", no_wrap=True)
    for b in trail.balances:
        balances.add_row(
            short(b.code),
            _holder(b.code, e["id"], names),
            _money(b.change, b.currency),
            _money(b.balance, b.currency),
        )
    console.print(balances)

    escrow = Table(title=f"Escrow {short(e['id'])}", title_justify="left", show_header=False)
    escrow.add_column("field")
    escrow.add_column("value", justify="right")
    rows = [
        ("status", e["status"]),
        ("amount", _money(e["amount"], cur)),
        ("charged to the card", _money(e["amount_charged"], cur)),
        ("released to payees (gross)", _money(e["amount_released"], cur)),
        ("refunded to the payer", _money(e["amount_refunded"], cur)),
        ("still held", _money(e["amount_held"], cur)),
        ("card processing fee", _money(e["payment"]["processing_fee"] or 0, cur)),
    ]
    for name, value in rows:
        escrow.add_row(name, value)
    console.print(escrow)

    allocations = Table(title=f"Allocations ({cur.upper()})", title_justify="left")
    allocations.add_column("payee", no_wrap=True)
    allocations.add_column("status", no_wrap=True)
    for header in ("gross", "fee", "processing", "net", "net paid", "refunded"):
        allocations.add_column(header, justify="right", no_wrap=True)
    for a in e["allocations"]:
        allocations.add_row(
            names.get(a["payee"], a["payee"]),
            a["status"],
            *(
                _major(a[k], cur)
                for k in (
                    "amount",
                    "platform_fee",
                    "processing_cost",
                    "net",
                    "net_released",
                    "amount_refunded",
                )
            ),
        )
    console.print(allocations)

    for line in trail.verify_lines:
        console.print(line, highlight=False)
    client = next(u for u in DEMO_USERS if u[3] == "client")
    console.print(
        f"Next: `escrowd serve`, log in as {client[0]} / {client[1]} "
        f"(POST /v1/auth/tokens), then GET /v1/escrows/{e['id']}.",
        highlight=False,
    )
