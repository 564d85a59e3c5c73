"""The escrow's money in the ledger (DESIGN §2): accounts and the transfers of each step.

Accounts, per currency:

- ``provider:<name>:clearing`` — the outside world: card money comes from it, refunds and the
  provider's fees go back to it (no limit);
- ``escrow:<id>`` — the escrow's own account, never below zero;
- ``payee:<party>:available`` — what a payee has been paid, never below zero;
- ``payee:<party>:pending`` — released to a payee but not available yet
  (``ESCROWD_PAYOUT_DELAY_SECONDS`` > 0), never below zero;
- ``payouts:in_transit:<party>`` — a payee's payouts on their way, never below zero (read by
  balances; written by payouts);
- ``platform:fees`` — the platform's fees;
- ``platform:processing_costs`` — the provider's fees (debited) and what payees and payers pay
  towards them (credited); it may go below zero: that is the platform's cost;
- ``payee:<party>:debt`` — debit-normal: what a payee owes after a clawback their balance
  could not cover (``ESCROWD_CLAWBACK_SHORTFALL=recover``); their next earnings repay it, and
  it can never be repaid beyond zero;
- ``platform:losses`` — debit-normal: clawed-back money the platform paid itself
  (``ESCROWD_CLAWBACK_SHORTFALL=absorb``).

Transfer ids are derived from escrowd's records, so every step is exactly-once whoever makes
it (the API, a job, a webhook) and however often: ``esc_…:authorization`` (a hold),
``esc_…:captured`` (posting it), ``esc_…:authorization:void``, ``esc_…:funded`` (charged at
once), ``esc_…:processing_fee``, ``<operation key>:net|fee|processing`` for a release,
``<operation key>:available`` for a delayed release's net becoming available,
``<operation key>`` for a refund, ``<operation key>:reversed:<total reversed>`` for a reversal
(``…:debt`` for its part the payee's balance could not cover), ``<clawback key>:fee|processing|
absorbed:<alloc_…>`` for what a clawback takes back from the platform, ``<release key>:repaid``
for a debt repaid from a release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.fees.domain import AllocationBreakdown
from escrowd.ledger import Account, AccountFlags, Ledger, TransferKind, TransferRequest
from escrowd.ledger.models import LedgerAccount, LedgerTransfer

PLATFORM_FEES = "platform:fees"
PROCESSING_COSTS = "platform:processing_costs"
PLATFORM_LOSSES = "platform:losses"
NON_NEGATIVE = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
#: A debit-normal account that can never be credited past zero (a debt never over-repaid).
NON_POSITIVE = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS


def clearing(provider: str) -> str:
    return f"provider:{provider}:clearing"


def escrow_account(escrow_id: str) -> str:
    return f"escrow:{escrow_id}"


def payee_available(party_id: str) -> str:
    return f"payee:{party_id}:available"


def payee_pending(party_id: str) -> str:
    return f"payee:{party_id}:pending"


def payouts_in_transit(party_id: str) -> str:
    return f"payouts:in_transit:{party_id}"


def payee_debt(party_id: str) -> str:
    return f"payee:{party_id}:debt"


def flags_for(code: str) -> AccountFlags:
    if code.startswith("payee:") and code.endswith(":debt"):
        return NON_POSITIVE
    if code.startswith(("escrow:", "payee:", "payouts:")):
        return NON_NEGATIVE
    return AccountFlags.NONE


@dataclass(frozen=True, slots=True)
class Move:
    """One transfer, by account codes. ``pending_id`` settles a hold (post or void)."""

    id: str
    category: str
    debit: str = ""
    credit: str = ""
    amount: int | None = None
    kind: TransferKind = TransferKind.posted
    pending_id: str | None = None


async def apply(
    session: AsyncSession,
    *,
    clock: Clock,
    currency: str,
    reference: str,
    moves: Sequence[Move],
    known: Mapping[str, Account] | None = None,
) -> None:
    """Post ``moves`` as one linked chain (all or none); zero amounts are skipped.

    ``known``: accounts this transaction already read, by code (:func:`accounts`); only the
    others are read here. The posting uses their ids and flags, which never change."""
    wanted = [
        m
        for m in moves
        if m.kind in (TransferKind.post_pending, TransferKind.void_pending) or (m.amount or 0) > 0
    ]
    if not wanted:
        return
    ledger = Ledger(session, clock=clock)
    ids: dict[str, str] = {}
    codes = sorted({c for m in wanted for c in (m.debit, m.credit) if c})
    # One read for the accounts that exist (nearly always all but a new escrow's); open the
    # others, in code order as before.
    found = {c: known[c] for c in codes if known is not None and c in known}
    missing = [c for c in codes if c not in found]
    if missing:
        found.update(await ledger.find_accounts(codes=missing, currency=currency))
    for code in codes:
        account = found.get(code)
        if account is None or account.flags != flags_for(code):
            account = await ledger.open_account(code=code, currency=currency, flags=flags_for(code))
        ids[code] = account.id
    requests = [
        TransferRequest(
            id=m.id,
            kind=m.kind,
            debit_account_id=ids[m.debit] if m.debit else None,
            credit_account_id=ids[m.credit] if m.credit else None,
            amount=m.amount,
            currency=currency if m.debit else None,
            pending_id=m.pending_id,
            reference=reference,
            category=m.category,
        )
        for m in wanted
    ]
    await ledger.create_linked(requests)


async def net_is_pending(session: AsyncSession, op_key: str) -> bool:
    """Whether release ``op_key``'s net still waits in its payee's pending account: booked
    there (a payout delay) and not made available yet. One read of at most two transfers."""
    net, available = f"{op_key}:net", f"{op_key}:available"
    rows = await session.execute(
        select(LedgerTransfer.id, LedgerAccount.code)
        .join(LedgerAccount, LedgerAccount.id == LedgerTransfer.credit_account_id)
        .where(LedgerTransfer.id.in_((net, available)))
    )
    codes = {str(tid): str(code) for tid, code in rows}
    return codes.get(net, "").endswith(":pending") and available not in codes


# --- the steps ---------------------------------------------------------------------------------


def authorization(escrow_id: str, provider: str, amount: int) -> Move:
    return Move(
        f"{escrow_id}:authorization",
        "authorization",
        clearing(provider),
        escrow_account(escrow_id),
        amount,
        TransferKind.pending,
    )


def capture(escrow_id: str) -> Move:
    return Move(
        f"{escrow_id}:captured",
        "capture",
        kind=TransferKind.post_pending,
        pending_id=f"{escrow_id}:authorization",
    )


def void(escrow_id: str) -> Move:
    return Move(
        f"{escrow_id}:authorization:void",
        "void",
        kind=TransferKind.void_pending,
        pending_id=f"{escrow_id}:authorization",
    )


def funded(escrow_id: str, provider: str, amount: int) -> Move:
    return Move(
        f"{escrow_id}:funded", "payment", clearing(provider), escrow_account(escrow_id), amount
    )


def processing_fee(escrow_id: str, provider: str, amount: int) -> Move:
    return Move(
        f"{escrow_id}:processing_fee",
        "processing_fee",
        PROCESSING_COSTS,
        clearing(provider),
        amount,
    )


def release(
    op_key: str, escrow_id: str, payee: str, part: AllocationBreakdown, *, pending: bool = False
) -> list[Move]:
    """``pending``: the net waits in ``payee:<party>:pending`` (a payout delay), and
    :func:`make_available` moves it on later."""
    source = escrow_account(escrow_id)
    target = payee_pending(payee) if pending else payee_available(payee)
    return [
        Move(f"{op_key}:net", "release", source, target, part.net),
        Move(f"{op_key}:fee", "platform_fee", source, PLATFORM_FEES, part.platform_fee),
        Move(
            f"{op_key}:processing",
            "processing_recovery",
            source,
            PROCESSING_COSTS,
            part.payee_processing + part.surcharge,
        ),
    ]


def release_key_of(transfer_id: str) -> str | None:
    """The release operation's key behind its net transfer (``<key>:net``) or a reversal of
    it (``<key>:reversed:<total>``); None for any other transfer."""
    if transfer_id.endswith(":net"):
        return transfer_id.removesuffix(":net")
    key, sep, _ = transfer_id.partition(":reversed:")
    return key if sep else None


def refund(op_key: str, escrow_id: str, provider: str, amount: int) -> Move:
    return Move(op_key, "refund", escrow_account(escrow_id), clearing(provider), amount)


def make_available(op_key: str, payee: str, amount: int) -> Move:
    """A delayed release's net (what is left of it) from pending to available."""
    return Move(
        f"{op_key}:available", "available", payee_pending(payee), payee_available(payee), amount
    )


def reversal(
    op_key: str,
    escrow_id: str,
    payee: str,
    total_reversed: int,
    amount: int,
    *,
    from_pending: bool = False,
) -> Move:
    """``from_pending``: the release's net is still pending (its delay has not passed)."""
    return Move(
        f"{op_key}:reversed:{total_reversed}",
        "reversal",
        payee_pending(payee) if from_pending else payee_available(payee),
        escrow_account(escrow_id),
        amount,
    )


# --- clawbacks and debts -------------------------------------------------------------------------


async def spendable(session: AsyncSession, currency: str, codes: Sequence[str]) -> dict[str, int]:
    """What each credit-normal account can still give (posted credits less every debit,
    pending ones included); for a ``…:debt`` account, what is still owed. One read; an
    account that does not exist is absent."""
    if not codes:
        return {}
    a = LedgerAccount
    # Ledger rows are written through Core, never the ORM: flushing the caller's pending
    # changes first would only split their UPDATEs into more statements.
    with session.no_autoflush:
        rows = await session.execute(
            select(
                a.code, a.debits_posted, a.debits_pending, a.credits_posted, a.credits_pending
            ).where(a.currency == currency, a.code.in_(sorted(set(codes))))
        )
    return {
        str(code): _left(str(code), int(d_posted), int(d_pending), int(c_posted), int(c_pending))
        for code, d_posted, d_pending, c_posted, c_pending in rows
    }


def _left(code: str, d_posted: int, d_pending: int, c_posted: int, c_pending: int) -> int:
    if code.endswith(":debt"):
        return d_posted - c_posted - c_pending
    return c_posted - d_posted - d_pending


def spendable_of(account: Account) -> int:
    """:func:`spendable`'s figure for an account read whole (:func:`accounts`)."""
    b = account.balances
    return _left(
        account.code, b.debits_posted, b.debits_pending, b.credits_posted, b.credits_pending
    )


async def accounts(
    session: AsyncSession, currency: str, codes: Sequence[str]
) -> dict[str, Account]:
    """The accounts among ``codes`` that exist, by code, balances as of this read: one read,
    which a later :func:`apply` in the same transaction is given (``known``) instead of
    reading them again."""
    return await Ledger(session).find_accounts(codes=codes, currency=currency)


def taken_back(
    release_key: str,
    escrow_id: str,
    payee: str,
    total_reversed: int,
    covered: int,
    owed: int,
    *,
    from_pending: bool = False,
) -> list[Move]:
    """A reversal made by a clawback: ``covered`` from the payee's balance, ``owed`` (what the
    balance could not cover, already paid out) booked as their debt. Both carry the reversal's
    id, so reconciliation counts them as the provider's one reversal."""
    head = f"{release_key}:reversed:{total_reversed}"
    source = payee_pending(payee) if from_pending else payee_available(payee)
    return [
        Move(head, "reversal", source, escrow_account(escrow_id), covered),
        Move(f"{head}:debt", "reversal", payee_debt(payee), escrow_account(escrow_id), owed),
    ]


def platform_returns(
    op_key: str, escrow_id: str, allocation_id: str, fee: int, processing: int, absorbed: int
) -> list[Move]:
    """What a clawback takes back from the platform for one allocation: its fee on the part,
    the processing recovery it kept, and the net it pays itself when the payee cannot."""
    target = escrow_account(escrow_id)
    return [
        Move(f"{op_key}:fee:{allocation_id}", "fee_returned", PLATFORM_FEES, target, fee),
        Move(
            f"{op_key}:processing:{allocation_id}",
            "processing_returned",
            PROCESSING_COSTS,
            target,
            processing,
        ),
        Move(
            f"{op_key}:absorbed:{allocation_id}", "clawback_loss", PLATFORM_LOSSES, target, absorbed
        ),
    ]


def repay(release_key: str, payee: str, amount: int) -> Move:
    """A release's net repaying its payee's debt first (what their provider balance did)."""
    return Move(
        f"{release_key}:repaid", "debt_repaid", payee_available(payee), payee_debt(payee), amount
    )
