"""The PostgreSQL store: a whole batch in two round trips, on the session's own connection.

Same contract as :class:`~escrowd.ledger.store.CoreStore`, for speed: one statement locks and
reads everything a batch touches (holds, then accounts, each sorted by id, plus replayed and
failed ids), and one statement with data-modifying CTEs writes the transfers, settles the
holds, updates the accounts and appends the entries, passing each column as an array. Both go
straight to asyncpg on the connection the session already uses, inside its transaction:
SQLAlchemy's per-statement work (compiling, parameter processing, result wrapping) cost more
than the database itself on this path.

Batches travel as JSON text rather than arrays: asyncpg checks every array element against
Python's collection ABCs (hundreds of calls per batch), and PostgreSQL re-plans a statement with
array parameters on every call, whereas ``json_to_recordset`` lets it keep one generic plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.ledger.batch import Outcome, Snapshot
from escrowd.ledger.domain import (
    AccountState,
    FailedTransfer,
    LedgerError,
    Refusal,
    Transfer,
    TransferRequest,
)
from escrowd.ledger.store import (
    BatchKeys,
    account_state_from,
    entry_values,
    transfer_from,
    transfer_values,
)

_TRANSFER_COLUMNS = (
    "id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, state, "
    "batch_id, reference, category, effective_at, created_at, payload_hash"
)
_NO_TRANSFER = ", ".join(["NULL"] * 12)  # kind … created_at
_NO_ACCOUNT = ", ".join(["NULL"] * 6)  # flags, the four figures, version

# The Append of a UNION ALL runs its branches in order: holds are locked (p) before accounts
# (a), and the accounts a settle needs are found from the holds in the same statement. Ids come
# as JSON arrays and are matched with semi-joins on the primary keys.
READ_SQL = f"""
WITH p AS (
    SELECT {_TRANSFER_COLUMNS} FROM ledger_transfers
    WHERE id IN (SELECT json_array_elements_text($2::json)) ORDER BY id FOR NO KEY UPDATE
), a AS (
    SELECT id, currency, flags, debits_pending, debits_posted, credits_pending,
           credits_posted, version
    FROM ledger_accounts
    WHERE id IN (SELECT json_array_elements_text($3::json) UNION ALL
                 SELECT debit_account_id FROM p UNION ALL SELECT credit_account_id FROM p)
    ORDER BY id FOR NO KEY UPDATE
)
SELECT 'p'::text AS k, {_TRANSFER_COLUMNS}, NULL::text AS code, NULL::int AS flags,
       NULL::bigint AS debits_pending, NULL::bigint AS debits_posted,
       NULL::bigint AS credits_pending, NULL::bigint AS credits_posted, NULL::bigint AS version
FROM p
UNION ALL
SELECT 'a', id, NULL, NULL, NULL, NULL, currency, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, flags, debits_pending, debits_posted, credits_pending, credits_posted,
       version
FROM a
UNION ALL
SELECT 't', {_TRANSFER_COLUMNS}, NULL, {_NO_ACCOUNT} FROM ledger_transfers
WHERE id IN (SELECT json_array_elements_text($1::json))
UNION ALL
SELECT 'f', id, {_NO_TRANSFER}, payload_hash, code, {_NO_ACCOUNT} FROM ledger_failed_transfers
WHERE id IN (SELECT json_array_elements_text($1::json))
"""  # noqa: S608  (only this module's constants are interpolated)

# Rows come as JSON arrays of objects, one parameter per table.
WRITE_SQL = """
WITH t AS (
    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency,
                                  kind, pending_id, state, batch_id, reference, category,
                                  effective_at, created_at, payload_hash)
    SELECT * FROM json_to_recordset($1::json) AS r(
        id text, debit_account_id text, credit_account_id text, amount bigint, currency text,
        kind text, pending_id text, state text, batch_id text, reference text, category text,
        effective_at timestamptz, created_at timestamptz, payload_hash text)
), s AS (
    UPDATE ledger_transfers h SET state = r.state
    FROM json_to_recordset($2::json) AS r(id text, state text) WHERE h.id = r.id
), u AS (
    UPDATE ledger_accounts a
    SET debits_pending = r.debits_pending, debits_posted = r.debits_posted,
        credits_pending = r.credits_pending, credits_posted = r.credits_posted,
        version = r.version
    FROM json_to_recordset($3::json) AS r(
        id text, debits_pending bigint, debits_posted bigint, credits_pending bigint,
        credits_posted bigint, version bigint)
    WHERE a.id = r.id
)
INSERT INTO ledger_entries (transfer_id, account_id, side, amount, posted_before, posted_after,
                            pending_before, pending_after, version_after)
SELECT * FROM json_to_recordset($4::json) AS r(
    transfer_id text, account_id text, side text, amount bigint, posted_before bigint,
    posted_after bigint, pending_before bigint, pending_after bigint, version_after bigint)
"""

#: Unique constraints a transfer id created concurrently by another transaction trips.
_SAME_ID = frozenset({"pk_ledger_transfers", "uq_ledger_entries_transfer_id_side"})


class PgStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._asyncpg: asyncpg.Connection | None = None

    async def _driver(self) -> asyncpg.Connection:
        if self._asyncpg is not None:
            return self._asyncpg
        raw = await self._conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        if not driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its first statement; ask
            # it to begin now so its COMMIT or ROLLBACK covers what we run here.
            start = getattr(raw.dbapi_connection, "_start_transaction", None)
            if start is not None:
                await start()
            else:  # pragma: no cover - a future SQLAlchemy without the private hook
                await self._conn.exec_driver_sql("SELECT 1")
        self._asyncpg = driver
        return driver

    async def read(
        self, requests: list[TransferRequest], noted: Mapping[str, FailedTransfer]
    ) -> Snapshot:
        keys = BatchKeys.of(requests)
        driver = await self._driver()
        rows = await driver.fetch(
            READ_SQL, _json(keys.ids), _json(keys.pending_ids), _json(keys.account_ids)
        )
        accounts: dict[str, AccountState] = {}
        transfers: dict[str, Transfer] = {}
        failed = dict(noted)
        for row in rows:
            k = row["k"]
            if k == "a":
                accounts[row["id"]] = account_state_from(row)
            elif k == "f":
                failed.setdefault(
                    row["id"], FailedTransfer(row["id"], row["payload_hash"], Refusal(row["code"]))
                )
            else:
                transfers[row["id"]] = transfer_from(row)
        return Snapshot(accounts=accounts, transfers=transfers, failed=failed)

    async def write(self, outcome: Outcome) -> None:
        if not outcome.transfers:
            return
        stamps: dict[datetime, str] = {}  # a batch shares its timestamps: format each once

        def stamp(value: datetime) -> str:
            text = stamps.get(value)
            if text is None:
                text = stamps[value] = value.isoformat()
            return text

        transfers = [
            {
                **transfer_values(t),
                "effective_at": stamp(t.effective_at),
                "created_at": stamp(t.created_at),
            }
            for t in outcome.transfers
        ]
        settled = [{"id": k, "state": v.value} for k, v in outcome.pending_states.items()]
        accounts = [
            {
                "id": a.id,
                "debits_pending": a.balances.debits_pending,
                "debits_posted": a.balances.debits_posted,
                "credits_pending": a.balances.credits_pending,
                "credits_posted": a.balances.credits_posted,
                "version": a.version,
            }
            for a in sorted(outcome.accounts.values(), key=lambda a: a.id)
        ]
        entries = [entry_values(e) for e in outcome.entries]
        driver = await self._driver()
        try:
            await driver.execute(
                WRITE_SQL, _json(transfers), _json(settled), _json(accounts), _json(entries)
            )
        except asyncpg.UniqueViolationError as exc:
            # The CTEs run in no set order, so the entries' index may be the one that trips.
            if exc.constraint_name not in _SAME_ID:
                raise
            raise LedgerError(
                Refusal.id_in_flight,
                "another transaction created one of these transfer ids at the same moment; "
                "this transaction can only roll back. Retry it: the retry will replay.",
            ) from exc


def _json(value: list[Any]) -> str:
    return json.dumps(value, separators=(",", ":")) if value else "[]"
