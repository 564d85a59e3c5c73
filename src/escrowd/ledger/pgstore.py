"""The PostgreSQL store: a whole batch in two round trips, on the session's own connection.

(A plain batch, one that settles no hold, is first tried in one: :data:`POST_SQL`, or for a
single transfer one call of the ``ledger_post_transfer`` function: :func:`post_one`.)

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

from escrowd.db.driver import transaction_driver
from escrowd.ledger.batch import Outcome, Snapshot
from escrowd.ledger.domain import (
    MAX_BALANCE,
    AccountFlags,
    AccountState,
    FailedTransfer,
    LedgerError,
    Refusal,
    Transfer,
    TransferKind,
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
_DEBIT_LIMIT = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CREDIT_LIMIT = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)

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

# Transfers that need no hold settled (posted, pending), checked and written in one statement:
# one round trip for a batch, a single transfer included, with the decision's inputs (the
# accounts locked in id order, the ids neither stored nor failed) and its outputs in one plan.
# It only ever takes the path on which every transfer succeeds: if any check fails for any of
# them (or an id exists: a replay), it writes nothing, and the service runs the general
# read/evaluate/write path, which decides refusals and replays exactly as before. So the rules
# that refuse stay in one place (:mod:`escrowd.ledger.batch`); this statement only has to agree
# with them on "every transfer is allowed".
#
# ``l`` locks the accounts sorted by id (as READ_SQL does). ``run`` is one row per entry, with
# the account's figures after it: the transfers applied in order, as the batch applies them,
# so every intermediate state is checked. ``ok`` aggregates over all of it, so every lock is
# held before any write runs, and the writes run only if ``ok``. Figures are summed as numeric,
# so a balance past 2**63-1 is a refusal (as in Python), not an error.
# $1 the transfers (JSON, in order), $2 their account ids, $3 their ids.
POST_SQL = f"""
WITH r AS MATERIALIZED (
    SELECT * FROM json_to_recordset($1::json) AS r(
        ord int, id text, debit_account_id text, credit_account_id text, amount bigint,
        currency text, kind text, state text, batch_id text, reference text, category text,
        effective_at timestamptz, created_at timestamptz, payload_hash text, posted bigint,
        held bigint)
), l AS MATERIALIZED (
    SELECT id, currency, flags, debits_pending, debits_posted, credits_pending,
           credits_posted, version
    FROM ledger_accounts WHERE id = ANY($2::text[])
    ORDER BY id FOR NO KEY UPDATE
), run AS MATERIALIZED (
    SELECT g.ord, g.id AS transfer_id, g.debit, l.id AS account_id, g.amount, g.posted, g.held,
           g.currency = l.currency AS same_currency, l.flags,
           l.debits_pending + sum(CASE WHEN g.debit THEN g.held ELSE 0 END) OVER w AS dpe,
           l.debits_posted + sum(CASE WHEN g.debit THEN g.posted ELSE 0 END) OVER w AS dpo,
           l.credits_pending + sum(CASE WHEN g.debit THEN 0 ELSE g.held END) OVER w AS cpe,
           l.credits_posted + sum(CASE WHEN g.debit THEN 0 ELSE g.posted END) OVER w AS cpo,
           l.version + row_number() OVER w AS version_after
    FROM (
        SELECT r.ord, r.id, true AS debit, r.debit_account_id AS account_id, r.amount,
               r.currency, r.posted, r.held FROM r
        UNION ALL
        SELECT r.ord, r.id, false, r.credit_account_id, r.amount, r.currency, r.posted, r.held
        FROM r
    ) g
    JOIN l ON l.id = g.account_id
    WINDOW w AS (PARTITION BY l.id ORDER BY g.ord ROWS UNBOUNDED PRECEDING)
), ok AS MATERIALIZED (
    SELECT count(*) = 2 * (SELECT count(*) FROM r)
           AND coalesce(bool_and(
               same_currency
               AND ((flags & {_DEBIT_LIMIT}) = 0 OR dpe + dpo <= cpo)
               AND ((flags & {_CREDIT_LIMIT}) = 0 OR cpe + cpo <= dpo)
               AND greatest(dpe, dpo, cpe, cpo) <= {MAX_BALANCE}), false)
           AND NOT EXISTS (SELECT FROM ledger_transfers WHERE id = ANY($3::text[]))
           AND NOT EXISTS (SELECT FROM ledger_failed_transfers WHERE id = ANY($3::text[]))
           AS ok
    FROM run
), t AS (
    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency,
                                  kind, pending_id, state, batch_id, reference, category,
                                  effective_at, created_at, payload_hash)
    SELECT r.id, r.debit_account_id, r.credit_account_id, r.amount, r.currency, r.kind, NULL,
           r.state, r.batch_id, r.reference, r.category, r.effective_at, r.created_at,
           r.payload_hash
    FROM r, ok WHERE ok.ok ORDER BY r.ord
), u AS (
    UPDATE ledger_accounts a
    SET debits_pending = z.dpe::bigint, debits_posted = z.dpo::bigint,
        credits_pending = z.cpe::bigint, credits_posted = z.cpo::bigint,
        version = z.version_after
    FROM (SELECT DISTINCT ON (account_id) * FROM run ORDER BY account_id, ord DESC) z, ok
    WHERE ok.ok AND a.id = z.account_id
)
INSERT INTO ledger_entries (transfer_id, account_id, side, amount, posted_before, posted_after,
                            pending_before, pending_after, version_after)
SELECT transfer_id, account_id, CASE WHEN debit THEN 'debit' ELSE 'credit' END, amount,
       (cpo - dpo - CASE WHEN debit THEN -posted ELSE posted END)::bigint,
       (cpo - dpo)::bigint,
       (cpe - dpe - CASE WHEN debit THEN -held ELSE held END)::bigint,
       (cpe - dpe)::bigint,
       version_after
FROM run, ok WHERE ok.ok ORDER BY ord, NOT debit
"""  # noqa: S608  (only this module's constants are interpolated)


# The timestamps travel as text, as in POST_SQL's JSON, so both paths read them alike.
POST_ONE_SQL = (
    "SELECT ledger_post_transfer($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::timestamptz,"
    " $11::text::timestamptz, $12)"
)

#: Unique constraints a transfer id created concurrently by another transaction trips.
_SAME_ID = frozenset({"pk_ledger_transfers", "uq_ledger_entries_transfer_id_side"})


class PgStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._asyncpg: asyncpg.Connection | None = None

    async def _driver(self) -> asyncpg.Connection:
        if self._asyncpg is None:
            self._asyncpg = await transaction_driver(self._conn)
        return self._asyncpg

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

    async def post(self, transfers: list[Transfer]) -> bool:
        """Write ``transfers`` (posted or pending, ids distinct) if every one of them is allowed.

        False: nothing was written, and the general path must decide (an account missing or in
        another currency, a limit, an id stored before (a replay or different fields) or failed).
        """
        return await post_on(await self._driver(), transfers)

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
            raise _in_flight() from exc


async def post_on(driver: asyncpg.Connection, transfers: list[Transfer]) -> bool:
    """:meth:`PgStore.post` on an asyncpg connection: inside its transaction if it is in one,
    else as a transaction of its own (the statement's), committed once this returns True."""
    if len(transfers) == 1:
        return await post_one(driver, transfers[0]) == "ok"
    stamps: dict[datetime, str] = {}

    def stamp(value: datetime) -> str:
        text = stamps.get(value)
        if text is None:
            text = stamps[value] = value.isoformat()
        return text

    rows = []
    accounts: set[str] = set()
    for ord, t in enumerate(transfers):
        pending = t.kind is TransferKind.pending
        accounts.add(t.debit_account_id)
        accounts.add(t.credit_account_id)
        rows.append(
            {
                "ord": ord,
                "id": t.id,
                "debit_account_id": t.debit_account_id,
                "credit_account_id": t.credit_account_id,
                "amount": t.amount,
                "currency": t.currency,
                "kind": t.kind.value,
                "state": None if t.state is None else t.state.value,
                "batch_id": t.batch_id,
                "reference": t.reference,
                "category": t.category,
                "effective_at": stamp(t.effective_at),
                "created_at": stamp(t.created_at),
                "payload_hash": t.payload_hash,
                "posted": 0 if pending else t.amount,
                "held": t.amount if pending else 0,
            }
        )
    try:
        status: str = await driver.execute(
            POST_SQL, _json(rows), sorted(accounts), [t.id for t in transfers]
        )
    except asyncpg.UniqueViolationError as exc:
        # The CTEs run in no set order, so the entries' index may be the one that trips.
        if exc.constraint_name not in _SAME_ID:
            raise
        raise _in_flight() from exc
    return status == f"INSERT 0 {2 * len(transfers)}"


async def post_one(driver: asyncpg.Connection, transfer: Transfer) -> str:
    """One plain transfer through ``ledger_post_transfer`` (migration 0027): one round trip.

    ``"ok"`` when it was written; otherwise why nothing was written (a refusal code, or
    ``id_exists``), for the general path to decide with its full message.
    """
    try:
        code: str = await driver.fetchval(
            POST_ONE_SQL,
            transfer.id,
            transfer.kind.value,
            transfer.debit_account_id,
            transfer.credit_account_id,
            transfer.amount,
            transfer.currency,
            transfer.batch_id,
            transfer.reference,
            transfer.category,
            # As text, as the batch statement sends them: the server reads them the same way.
            transfer.effective_at.isoformat(),
            transfer.created_at.isoformat(),
            transfer.payload_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name not in _SAME_ID:
            raise
        raise _in_flight() from exc
    return code


def _in_flight() -> LedgerError:
    """A transfer id another transaction created meanwhile: this one must roll back."""
    return LedgerError(
        Refusal.id_in_flight,
        "another transaction created one of these transfer ids at the same moment; "
        "this transaction can only roll back. Retry it: the retry will replay.",
    )


def _json(value: list[Any]) -> str:
    return json.dumps(value, separators=(",", ":")) if value else "[]"
