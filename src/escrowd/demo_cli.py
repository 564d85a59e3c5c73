"""``escrowd demo``: escrows, payouts (to a bank and to PayPal) and a dispute on the sandbox,
and the money trail.

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
from escrowd.escrows.ledgering import clearing
from escrowd.ledger.models import LedgerAccount, LedgerEntry, LedgerTransfer
from escrowd.ledger.verify import summary_lines, verify
from escrowd.marketplace import ALL, FLOWS, Flow, UnknownFlowError, choose
from escrowd.marketplace.demo import Story, run_seed
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
    seed: Annotated[
        str | None,
        typer.Option(
            "--seed",
            help="Tell one marketplace flow's story instead: its seed number or name "
            "(004 or auctions; docs/marketplaces.md). The flow is switched on for the demo.",
        ),
    ] = None,
) -> None:
    """Walk escrows, payouts and a dispute through their lives on the built-in Stripe and
    PayPal sandboxes, then print where every cent went.

    The steps, each an ordinary call to escrowd's HTTP API (served in process, no port opened):

    1. Demo users: a client, two workers and an admin — the logins `escrowd serve` prints
    (client@demo.escrowd.dev / demo-client-password, worker1@… and worker2@… /
    demo-worker-password, admin@… / demo-admin-password). Made once, reused afterwards.

    2. Each worker gets a payout account (a Stripe Connect account), onboarded on the sandbox's
    hosted page as "verified": money only goes to verified payees.

    3. The client saves Stripe's test card 4000 0000 0000 0077 (pm_card_bypassPending: a Visa
    whose money is available at once, so a worker can be paid out without two days' wait).

    4. The escrow: 100.00 USD, 60.00 for worker1, 40.00 for worker2, a 15 % platform fee, and
    3 % processing paid by the workers on what the fee leaves. The client funds it (the card is
    charged: `held`), releases all of worker1's share and 25.00 of worker2's
    (`partially_released`), and refunds the last 15.00 (`released`: nothing is left in it).

    5. The payout: worker1 asks for their 49.47 (`requested`: the money is held), the admin
    approves it (`in_transit` at the provider), the sandbox clock moves two days to its arrival
    date (the sandbox's clock only: `escrowd sandbox clock show`), the sandbox's payout.paid
    webhook is checked against the provider: `paid`. With ESCROWD_PAYOUT_DELAY_SECONDS set the
    earnings are still pending and this step says so and is skipped.

    6. The dispute: a second escrow, 30.00 USD for worker2, funded; the client disputes it
    ("incomplete"), worker2 adds evidence, the admin reviews it and splits it: 20.00 released
    to worker2, 10.00 refunded to the client.

    7. PayPal: a third escrow, 25.00 USD for worker2, paid with PayPal. The client approves
    the order on the PayPal sandbox's approval page and funds it (`held`: PayPal captured it),
    releases it (`released`: PayPal has no transfers, so worker2's net waits on the platform's
    PayPal balance), worker2 saves their PayPal email and asks for a PayPal payout of their
    net, the admin approves it: a PayPal Payouts item, `paid`.

    Printed at the end: the ledger transfers, chapter by chapter (A. the escrow, B. the payout,
    C. the disputed escrow, D. the PayPal escrow, E. the PayPal payout; debit → credit, by
    account code, with what each one means), the balance of every ledger account they touched
    (credits − debits) per chapter and now (the providers' clearing accounts go negative: that
    is money that came from outside), the escrow's final state and each allocation's gross,
    platform fee, processing cost and net, the payout, the dispute, the PayPal escrow and
    payout, and `ledger verify`.

    Run it again for another story (new escrows, a new payout). Development and test databases
    only (it refuses ESCROWD_ENV=production) and the sandbox only (it refuses
    ESCROWD_PROVIDER=stripe). Afterwards: `escrowd serve`, log in as the client, and look at
    GET /v1/escrows.

    With --seed NNN (or the flow's name) it tells one marketplace flow's story instead, through
    that flow's routes (docs/marketplaces.md), and prints its money trail and figures the same
    way (every seed, 000 to 004, has one): `escrowd demo --seed 004` sells an artwork above its
    secret threshold; `--seed 001` books a worker paid with PayPal.

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
    flow = None
    if seed is not None:
        flow = _flow(seed)
        settings = settings.model_copy(update={"marketplaces": flow.seed})
    url = settings.effective_database_url
    if not no_migrate:
        upgrade(url)

    async def run_flow(flow: Flow) -> SeedTraced:
        container = build(settings)
        try:
            return await traced_seed(
                container, flow, say=lambda line: console.print(line, highlight=False)
            )
        finally:
            await container.close()

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
    if flow is not None:
        try:
            told = asyncio.run(run_flow(flow))
        except DemoError as exc:
            console.print(f"[red]The demo stopped:[/red] {exc}")
            raise typer.Exit(1) from exc
        finally:
            structlog.configure(**before)
        render_seed(told, out)
        if not told.trail.verify_ok:
            raise typer.Exit(1)
        return
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


def _flow(seed: str) -> Flow:
    try:
        if seed.strip().lower() == ALL:
            raise ValueError(seed)
        (flow,) = choose(seed)
    except (UnknownFlowError, ValueError) as exc:
        told = exc if isinstance(exc, UnknownFlowError) else f"--seed names one flow, not {seed!r}"
        console.print(f"[red]{told}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    if flow.demo is None:
        told = ", ".join(f"{f.seed} ({f.name})" for f in FLOWS if f.demo is not None)
        console.print(
            f"[red]Seed {flow.seed} ({flow.name}) has no demo story yet; these do: {told}.[/red]"
        )
        raise typer.Exit(2)
    return flow


def _paragraphs(doc: str) -> str:
    """The docstring with each paragraph on one line: Typer's help keeps single line breaks."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


demo.__doc__ = _paragraphs(demo.__doc__ or "")


# --- the money trail -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Chapter:
    """One part of the story and the ledger transfers it made (those with its reference)."""

    #: ``escrow``, ``payout`` or ``dispute``: the balances table's column.
    key: str
    #: The transfers' ``reference``: an escrow's id (``esc_…``) or a payout's (``po_…``).
    reference: str
    title: str


@dataclass(frozen=True)
class TrailTransfer:
    id: str
    kind: str
    category: str
    debit: str
    credit: str
    amount: int
    currency: str
    reference: str = ""


@dataclass(frozen=True)
class TrailBalance:
    code: str
    currency: str
    #: What the demo's transfers moved on the account (credits − debits, posted).
    change: int
    #: The account's posted balance now, everything included (credits − debits).
    balance: int
    #: ``change`` per chapter, by its reference (chapters that did not touch it are absent).
    by_reference: dict[str, int] = field(default_factory=dict)


@dataclass
class Trail:
    transfers: list[TrailTransfer]
    balances: list[TrailBalance]
    verify_ok: bool = True
    verify_lines: list[str] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)

    def changes(self, reference: str) -> dict[str, int]:
        """What one chapter moved: account code → credits − debits (posted)."""
        return {
            b.code: b.by_reference[reference] for b in self.balances if reference in b.by_reference
        }

    def of(self, reference: str) -> list[TrailTransfer]:
        return [t for t in self.transfers if t.reference == reference]


@dataclass
class Traced:
    demo: DemoResult
    trail: Trail


def _quiet(_: str) -> None:
    return None


def chapters(result: DemoResult) -> list[Chapter]:
    """The demo's chapters in the order they happened: the escrow, then each of the payout,
    the disputed escrow, the PayPal escrow and its payout that the demo got to."""
    told = [
        (
            "escrow",
            result.escrow,
            "the escrow: funded, released to both workers, the rest refunded",
        ),
        ("payout", result.payout, "worker1's payout: requested (held), approved, paid"),
        ("dispute", result.disputed, "the disputed escrow: funded, disputed, split by the admin"),
        (
            "paypal",
            result.paypal_escrow,
            "the PayPal escrow: approved on PayPal, captured, released to worker2",
        ),
        (
            "paypal payout",
            result.paypal_payout,
            "worker2's PayPal payout: requested (held), approved, paid to their email",
        ),
    ]
    return [Chapter(kind, str(obj["id"]), title) for kind, obj, title in told if obj is not None]


async def traced_demo(container: Container, *, say: Say = _quiet) -> Traced:
    """Run the demo, read its money trail, verify the whole ledger."""
    result = await run_demo(container, say=say)
    say("9. Money trail and ledger verify")
    trail = await money_trail(container, chapters(result))
    report = await verify(container.db)
    trail.verify_ok, trail.verify_lines = report.ok, summary_lines(report)
    return Traced(result, trail)


@dataclass
class SeedTraced:
    flow: Flow
    story: Story
    trail: Trail


async def traced_seed(container: Container, flow: Flow, *, say: Say = _quiet) -> SeedTraced:
    """Tell a marketplace flow's story, read its money trail, verify the whole ledger."""
    story = await run_seed(container, flow, say=say)
    say("Money trail and ledger verify")
    trail = await money_trail(
        container,
        [Chapter(p.reference.partition("_")[0], p.reference, p.title) for p in story.parts],
    )
    report = await verify(container.db)
    trail.verify_ok, trail.verify_lines = report.ok, summary_lines(report)
    return SeedTraced(flow, story, trail)


async def money_trail(container: Container, parts: list[Chapter]) -> Trail:
    """The chapters' ledger transfers in the order they were made, and the accounts they
    touched: what each chapter moved on each, and its balance now."""
    refs = [c.reference for c in parts]
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
        .where(LedgerTransfer.reference.in_(refs))
        .order_by(first_entry, LedgerTransfer.id)
    )
    balances_q = (
        select(
            LedgerAccount.code,
            LedgerAccount.currency,
            LedgerTransfer.reference,
            func.sum(LedgerEntry.posted_after - LedgerEntry.posted_before),
            LedgerAccount.credits_posted - LedgerAccount.debits_posted,
        )
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
        .where(LedgerTransfer.reference.in_(refs))
        .group_by(
            LedgerAccount.id,
            LedgerAccount.code,
            LedgerAccount.currency,
            LedgerTransfer.reference,
            LedgerAccount.credits_posted,
            LedgerAccount.debits_posted,
        )
        .order_by(func.min(LedgerEntry.id))
    )
    async with container.db.transaction() as session:
        rows = (await session.execute(transfers_q)).all()
        sums = (await session.execute(balances_q)).all()
    balances: dict[tuple[str, str], TrailBalance] = {}
    for code, currency, reference, change, balance in sums:
        row = balances.setdefault((code, currency), TrailBalance(code, currency, 0, int(balance)))
        row.by_reference[str(reference)] = int(change)
    return Trail(
        transfers=[
            TrailTransfer(
                t.id, t.kind, t.category or "", d, c, t.amount, t.currency, t.reference or ""
            )
            for t, d, c in rows
        ],
        balances=[
            TrailBalance(
                b.code, b.currency, sum(b.by_reference.values()), b.balance, b.by_reference
            )
            for b in balances.values()
        ],
        chapters=list(parts),
    )


# --- printing ----------------------------------------------------------------------------------

LETTERS = "ABCDEFGHIJ"

_ULID_ID = re.compile(r"\b([a-z]+)_[0-9A-HJKMNP-TV-Z]{20}([0-9A-HJKMNP-TV-Z]{6})\b")


def short(text: str) -> str:
    """Ids shortened for the tables: ``esc_01M81QBYA04RY9ZWQVX1TYVA46`` → ``esc_…TYVA46``."""
    return _ULID_ID.sub(r"\1_…\2", text)


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


def _major(amount: int, currency: str) -> str:
    """``12.34``: Money.format without the currency, for tables titled with it."""
    return Money(amount, currency).format().rpartition(" ")[0]


#: What a transfer means, by its category (and kind, for a payout's hold).
_WHAT = {
    "payment": "the card charged, into the escrow",
    "processing_fee": "Stripe's card fee (2.9 % + 30¢)",
    "release": "released: the worker's net",
    "platform_fee": "the platform's fee",
    "processing_recovery": "the worker's share of the card fee",
    "refund": "refunded to the client's card",
    "available": "pending → available (payout delay)",
    "payout:pending": "payout requested: the money held",
    "payout:post_pending": "paid: the hold taken",
    "payout_sent": "out to the worker's bank",
}


PAYPAL_CLEARING = clearing("paypal")

#: The same, for a transfer with PayPal's clearing account on one side: a PayPal escrow's
#: captured order, its refund, a payout to a PayPal email.
_WHAT_PAYPAL = {
    "payment": "the PayPal order captured, into the escrow",
    "refund": "refunded to the client's PayPal",
    "processing_recovery": "the worker's share of processing",
    "payout_sent": "out to the worker's PayPal email",
}


def _paypal(t: TrailTransfer) -> bool:
    return PAYPAL_CLEARING in (t.debit, t.credit)


def what(t: TrailTransfer) -> str:
    if _paypal(t) and t.category in _WHAT_PAYPAL:
        return _WHAT_PAYPAL[t.category]
    return _WHAT.get(f"{t.category}:{t.kind}") or _WHAT.get(t.category) or t.category


def _holder(code: str, labels: dict[str, str], names: dict[str, str]) -> str:
    kind, _, rest = code.partition(":")
    party, _, tail = rest.partition(":")
    if kind == "escrow":
        return labels.get(rest, "another escrow")
    if kind == "payee":
        return f"{names.get(party, party)}'s {tail or 'money'}"
    if kind == "payouts":  # payouts:in_transit:<party>
        return f"{names.get(tail, tail)}'s payouts on their way"
    if code == PAYPAL_CLEARING:
        return "money from / back to PayPal"
    if kind == "provider":
        if party == "paypal":
            return "money from / back to PayPal"
        return "money from / back to cards and banks"
    return {"platform:fees": "platform's fees", "platform:processing_costs": "card fees"}.get(
        code, ""
    )


def render_trail(
    trail: Trail,
    console: Console,
    *,
    cur: str,
    labels: dict[str, str],
    names: dict[str, str],
) -> None:
    """The chapters' ledger transfers (A, B, C, …) and the balances of the accounts they
    touched, per chapter and now."""
    console.print("\nLedger transfers, in order: every cent the demo moved", highlight=False)
    n = 0
    for letter, chapter in zip(LETTERS, trail.chapters, strict=False):
        table = Table(
            title=f"{letter}. {chapter.title} ({short(chapter.reference)})", title_justify="left"
        )
        table.add_column("#", justify="right")
        table.add_column("what [dim](transfer id)[/dim]", overflow="fold")
        table.add_column("debit → credit", overflow="fold")
        table.add_column("amount", justify="right", no_wrap=True)
        for t in trail.of(chapter.reference):
            n += 1
            kind = "" if t.kind == "posted" else f" ({t.kind})"
            transfer_id = t.id.removeprefix(chapter.reference)
            shown_id = ("…" if transfer_id != t.id else "") + short(transfer_id) + kind
            table.add_row(
                str(n),
                f"{what(t)}\n[dim]{shown_id}[/dim]",
                f"{short(t.debit)}\n→ {short(t.credit)}",
                _money(t.amount, t.currency),
            )
        console.print(table)

    balances = Table(
        title=f"Ledger accounts the demo touched ({cur.upper()}): credits − debits",
        title_justify="left",
        caption="A, B, C: what each chapter moved; balance now: the whole database's",
        caption_justify="left",
        show_footer=True,
    )
    balances.add_column("account", "sum", overflow="fold")
    for letter, chapter in zip(LETTERS, trail.chapters, strict=False):
        total = sum(b.by_reference.get(chapter.reference, 0) for b in trail.balances)
        balances.add_column(
            f"{letter}\n{chapter.key}", _major(total, cur), justify="right", no_wrap=True
        )
    balances.add_column("balance\nnow", justify="right", no_wrap=True)
    for b in trail.balances:
        holder = _holder(b.code, labels, names)
        balances.add_row(
            short(b.code) + (f"\n[dim]{holder}[/dim]" if holder else ""),
            *(
                _major(b.by_reference[c.reference], b.currency)
                if c.reference in b.by_reference
                else ""
                for c in trail.chapters
            ),
            _major(b.balance, b.currency),
        )
    console.print(balances)


def render(traced: Traced, console: Console) -> None:
    """The money trail chapter by chapter, the balances, the escrow, the payout and the
    dispute, as tables."""
    result, trail = traced.demo, traced.trail
    e: dict[str, Any] = result.escrow
    cur = e["currency"]
    names = {user_id: label for label, (user_id, _) in result.users.items()}
    labels = {e["id"]: "the escrow (A)"}
    if result.disputed is not None:
        labels[result.disputed["id"]] = "the disputed escrow (C)"
    if result.paypal_escrow is not None:
        labels[result.paypal_escrow["id"]] = "the PayPal escrow (D)"
    console.print("\nWhat the demo made (ids shortened below to their last 6 characters):")
    console.print(f"  escrow          {e['id']}", highlight=False)
    if result.payout is not None:
        console.print(f"  payout          {result.payout['id']}", highlight=False)
    if result.disputed is not None and result.dispute is not None:
        console.print(f"  disputed escrow {result.disputed['id']}", highlight=False)
        console.print(f"  dispute         {result.dispute['id']}", highlight=False)
    if result.paypal_escrow is not None:
        console.print(f"  PayPal escrow   {result.paypal_escrow['id']}", highlight=False)
    if result.paypal_payout is not None:
        console.print(f"  PayPal payout   {result.paypal_payout['id']}", highlight=False)
    for label, (user_id, email) in result.users.items():
        console.print(f"  {label:<15} {user_id}  {email}", highlight=False)

    render_trail(trail, console, cur=cur, labels=labels, names=names)

    escrow = Table(title=f"A. Escrow {short(e['id'])}", title_justify="left", show_header=False)
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

    allocations = Table(title=f"A. Allocations ({cur.upper()})", title_justify="left")
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
    _render_payout(result, console, names)
    _render_dispute(result, console)
    _render_paypal(result, console, names)

    for line in trail.verify_lines:
        console.print(line, highlight=False)
    client = next(u for u in DEMO_USERS if u[3] == "client")
    console.print(
        f"Next: `escrowd serve`, log in as {client[0]} / {client[1]} "
        f"(POST /v1/auth/tokens), then GET /v1/escrows/{e['id']}.",
        highlight=False,
    )


def render_seed(told: SeedTraced, console: Console) -> None:
    """A flow's money trail, its figures and ``ledger verify``."""
    story, trail = told.story, told.trail
    currencies = {t.currency for t in trail.transfers} or {"usd"}
    cur = sorted(currencies)[0]
    labels = {
        p.reference: f"{p.title.split(':')[0]} ({letter})"
        for letter, p in zip(LETTERS, story.parts, strict=False)
    }
    console.print(
        f"\nSeed {told.flow.seed} ({told.flow.name}): what it made "
        "(ids shortened below to their last 6 characters):"
    )
    for part in story.parts:
        console.print(f"  {part.reference}  {part.title}", highlight=False)
    render_trail(trail, console, cur=cur, labels=labels, names=story.names)
    _fields(f"Seed {told.flow.seed}: the figures", story.facts, console)
    for line in trail.verify_lines:
        console.print(line, highlight=False)


def _fields(title: str, rows: list[tuple[str, str]], console: Console) -> None:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _render_payout(result: DemoResult, console: Console, names: dict[str, str]) -> None:
    p = result.payout
    if p is None:
        console.print(
            "B. No payout: worker1's earnings were still pending (ESCROWD_PAYOUT_DELAY_SECONDS).",
            highlight=False,
        )
        return
    _fields(
        f"B. Payout {short(p['id'])}",
        [
            ("to", f"{names.get(p['party'], p['party'])}'s bank"),
            ("status", p["status"]),
            ("amount", _money(p["amount"], p["currency"])),
            ("at the provider", str(p["provider_payout"])),
        ],
        console,
    )


def _render_dispute(result: DemoResult, console: Console) -> None:
    d, esc = result.dispute, result.disputed
    if d is None or esc is None:
        return
    cur = d["currency"]
    net = sum(int(a["net_released"]) for a in esc["allocations"])
    _fields(
        f"C. Dispute {short(d['id'])} on escrow {short(esc['id'])}",
        [
            ("reason", d["reason"]),
            ("status", d["status"]),
            ("outcome", str(d["outcome"])),
            ("disputed", _money(d["amount"], cur)),
            ("released to worker2 (gross)", _money(d["amount_released"], cur)),
            ("  of which worker2's net", _money(net, cur)),
            ("refunded to the client", _money(d["amount_refunded"], cur)),
            ("the escrow now", esc["status"]),
        ],
        console,
    )


def _render_paypal(result: DemoResult, console: Console, names: dict[str, str]) -> None:
    e, p = result.paypal_escrow, result.paypal_payout
    if e is None:
        return
    cur = e["currency"]
    _fields(
        f"D. PayPal escrow {short(e['id'])}",
        [
            ("status", e["status"]),
            ("amount", _money(e["amount"], cur)),
            ("PayPal order", str(e["payment"]["id"])),
            ("PayPal capture", str(e["payment"]["charge"])),
            ("released to worker2 (gross)", _money(e["amount_released"], cur)),
            ("  of which worker2's net", _money(int(e["allocations"][0]["net_released"]), cur)),
        ],
        console,
    )
    if p is None:
        console.print(
            "E. No PayPal payout: worker2's earnings were still pending.", highlight=False
        )
        return
    _fields(
        f"E. PayPal payout {short(p['id'])}",
        [
            ("to", f"{names.get(p['party'], p['party'])}'s PayPal: {p['receiver_email']}"),
            ("status", p["status"]),
            ("amount", _money(p["amount"], p["currency"])),
            ("PayPal payout item", str(p["provider_payout"])),
        ],
        console,
    )
