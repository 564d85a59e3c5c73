"""Reading a batch's rows (locked) and writing its outcome: the portable SQLAlchemy Core store.

A store does two things for :class:`~escrowd.ledger.service.Ledger`: ``read`` locks and reads
what a batch touches into a :class:`~escrowd.ledger.batch.Snapshot`, and ``write`` stores the
:class:`~escrowd.ledger.batch.Outcome`. This one runs anywhere SQLAlchemy does and is what
SQLite uses; PostgreSQL gets :mod:`escrowd.ledger.pgstore`, which does the same in two round
trips. Lock order, everywhere: the stored holds a batch settles, then its accounts, each sorted
by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import String, bindparam, cast, null, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.ledger.batch import Outcome, Snapshot
from escrowd.ledger.domain import (
    AccountState,
    Balances,
    Entry,
    FailedTransfer,
    PendingState,
    Refusal,
    Transfer,
    TransferKind,
    TransferRequest,
)
from escrowd.ledger.models import ACCOUNTS, ENTRIES, FAILED, TRANSFERS

BALANCE_COLUMNS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")


class RowLike(Protocol):
    """A row read by column name: SQLAlchemy's ``RowMapping`` or an asyncpg ``Record``."""

    def __getitem__(self, key: str) -> Any: ...


class Store(Protocol):
    async def read(
        self, requests: list[TransferRequest], noted: Mapping[str, FailedTransfer]
    ) -> Snapshot: ...

    async def write(self, outcome: Outcome) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchKeys:
    """The ids a batch touches: its own, the holds it settles, the accounts it names."""

    ids: list[str]
    pending_ids: list[str]
    account_ids: list[str]

    @classmethod
    def of(cls, requests: Iterable[TransferRequest]) -> BatchKeys:
        ids: set[str] = set()
        pending: set[str] = set()
        accounts: set[str] = set()
        for r in requests:
            if isinstance(r.id, str):
                ids.add(r.id)
            if isinstance(r.pending_id, str):
                pending.add(r.pending_id)
            for a in (r.debit_account_id, r.credit_account_id):
                if isinstance(a, str):
                    accounts.add(a)
        return cls(sorted(ids), sorted(pending - ids), sorted(accounts))


def transfer_from(row: RowLike) -> Transfer:
    state = row["state"]
    return Transfer(
        id=row["id"],
        kind=TransferKind(row["kind"]),
        debit_account_id=row["debit_account_id"],
        credit_account_id=row["credit_account_id"],
        amount=row["amount"],
        currency=row["currency"],
        pending_id=row["pending_id"],
        state=None if state is None else PendingState(state),
        reference=row["reference"],
        category=row["category"],
        batch_id=row["batch_id"],
        effective_at=row["effective_at"],
        created_at=row["created_at"],
        payload_hash=row["payload_hash"],
    )


def account_state_from(row: RowLike) -> AccountState:
    return AccountState(
        row["id"],
        row["currency"],
        row["flags"],
        Balances(
            row["debits_pending"],
            row["debits_posted"],
            row["credits_pending"],
            row["credits_posted"],
        ),
        row["version"],
    )


def transfer_values(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "debit_account_id": t.debit_account_id,
        "credit_account_id": t.credit_account_id,
        "amount": t.amount,
        "currency": t.currency,
        "kind": t.kind.value,
        "pending_id": t.pending_id,
        "state": None if t.state is None else t.state.value,
        "batch_id": t.batch_id,
        "reference": t.reference,
        "category": t.category,
        "effective_at": t.effective_at,
        "created_at": t.created_at,
        "payload_hash": t.payload_hash,
    }


def entry_values(e: Entry) -> dict[str, Any]:
    return {
        "transfer_id": e.transfer_id,
        "account_id": e.account_id,
        "side": e.side.value,
        "amount": e.amount,
        "posted_before": e.posted_before,
        "posted_after": e.posted_after,
        "pending_before": e.pending_before,
        "pending_after": e.pending_after,
        "version_after": e.version_after,
    }


_NO_CODE = cast(null(), String).label("code")
_update_account = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in (*BALANCE_COLUMNS, "version")})
)
_settle_pending = (
    update(TRANSFERS).where(TRANSFERS.c.id == bindparam("b_id")).values(state=bindparam("b_state"))
)
_account_columns = (
    ACCOUNTS.c.id,
    ACCOUNTS.c.currency,
    ACCOUNTS.c.flags,
    *(ACCOUNTS.c[name] for name in BALANCE_COLUMNS),
    ACCOUNTS.c.version,
)


class CoreStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def read(
        self, requests: list[TransferRequest], noted: Mapping[str, FailedTransfer]
    ) -> Snapshot:
        conn = self._conn
        keys = BatchKeys.of(requests)
        transfers: dict[str, Transfer] = {}
        failed = dict(noted)
        # Replays and failed ids in one round trip; a hit (rare) fetches the whole row.
        hits = await conn.execute(
            union_all(
                select(TRANSFERS.c.id, _NO_CODE, TRANSFERS.c.payload_hash).where(
                    TRANSFERS.c.id.in_(keys.ids)
                ),
                select(FAILED.c.id, FAILED.c.code, FAILED.c.payload_hash).where(
                    FAILED.c.id.in_(keys.ids)
                ),
            )
        )
        stored = []
        for h in hits:
            if h.code is None:
                stored.append(h.id)
            else:
                failed.setdefault(h.id, FailedTransfer(h.id, h.payload_hash, Refusal(h.code)))
        if stored:
            rows = await conn.execute(select(TRANSFERS).where(TRANSFERS.c.id.in_(stored)))
            transfers.update((t.id, t) for t in (transfer_from(r._mapping) for r in rows))
        if keys.pending_ids:
            rows = await conn.execute(
                select(TRANSFERS)
                .where(TRANSFERS.c.id.in_(keys.pending_ids))
                .order_by(TRANSFERS.c.id)
                .with_for_update(key_share=True)
            )
            transfers.update((t.id, t) for t in (transfer_from(r._mapping) for r in rows))
        account_ids = set(keys.account_ids)
        for pending_id in keys.pending_ids:
            held = transfers.get(pending_id)
            if held is not None:
                account_ids.update((held.debit_account_id, held.credit_account_id))
        accounts: dict[str, AccountState] = {}
        if account_ids:
            rows = await conn.execute(
                select(*_account_columns)
                .where(ACCOUNTS.c.id.in_(sorted(account_ids)))
                .order_by(ACCOUNTS.c.id)
                .with_for_update(key_share=True)
            )
            accounts = {r.id: account_state_from(r._mapping) for r in rows}
        return Snapshot(accounts=accounts, transfers=transfers, failed=failed)

    async def write(self, outcome: Outcome) -> None:
        if not outcome.transfers:
            return
        conn = self._conn
        await conn.execute(TRANSFERS.insert(), [transfer_values(t) for t in outcome.transfers])
        if outcome.pending_states:
            await conn.execute(
                _settle_pending,
                [{"b_id": k, "b_state": v.value} for k, v in outcome.pending_states.items()],
            )
        await conn.execute(
            _update_account,
            [
                {
                    "b_id": a.id,
                    "b_debits_pending": a.balances.debits_pending,
                    "b_debits_posted": a.balances.debits_posted,
                    "b_credits_pending": a.balances.credits_pending,
                    "b_credits_posted": a.balances.credits_posted,
                    "b_version": a.version,
                }
                for a in sorted(outcome.accounts.values(), key=lambda a: a.id)
            ],
        )
        await conn.execute(ENTRIES.insert(), [entry_values(e) for e in outcome.entries])
