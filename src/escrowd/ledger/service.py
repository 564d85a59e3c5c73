"""The ledger service: accounts, balances and two-phase transfers on the caller's session.

The caller owns the transaction, so one unit of work can post transfers and write its own rows
and commit them together::

    async with database.transaction() as session:
        ledger = Ledger(session)
        fees = await ledger.open_account(code="platform:fees", currency="usd")
        await ledger.transfer(id="esc_1:fee", debit=escrow, credit=fees, amount=1500,
                              currency="usd", reference="esc_1", category="fee")

A batch is one read and one write. The read locks the stored holds the batch settles, then its
accounts, each in sorted id order (``SELECT … FOR NO KEY UPDATE`` on PostgreSQL: the row lock an
UPDATE takes, which still lets other transactions insert rows that reference the account; on
SQLite every transaction already holds the database's write lock from BEGIN IMMEDIATE). Every
transfer is then decided in memory (:mod:`escrowd.ledger.batch`) and only what succeeded is
written, so a refusal leaves the transaction clean: the caller may go on and commit. Post all of
a use case's transfers in one call when you can: locks are ordered within a call, not across
calls. The reads and writes live in :mod:`escrowd.ledger.pgstore` (PostgreSQL, two round trips
per batch) and :mod:`escrowd.ledger.store` (any SQLAlchemy backend; SQLite).

On PostgreSQL a plain batch (no hold settled: see :func:`plain_batch`) is first tried as one
statement that writes only if every transfer succeeds (:meth:`PgStore.post`; a single transfer
is one call of the ``ledger_post_transfer`` function instead); otherwise it writes nothing and
the batch goes the way above, which decides refusals and replays.

Refused ids that depend on the ledger's state are recorded after the transaction ends
(:mod:`escrowd.ledger.failures`); retrying them gives ``id_already_failed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from escrowd.clock import Clock, SystemClock
from escrowd.ids import Prefix, new_id
from escrowd.ledger.batch import evaluate
from escrowd.ledger.domain import (
    AccountFlags,
    Balances,
    FailedTransfer,
    LedgerError,
    PendingState,
    Refusal,
    Transfer,
    TransferKind,
    TransferRequest,
    TransferResult,
    check_account_code,
    check_flags,
)
from escrowd.ledger.failures import note_failures, noted_failures
from escrowd.ledger.models import ACCOUNTS, TRANSFERS, LedgerAccount
from escrowd.ledger.pgstore import PgStore
from escrowd.ledger.store import BALANCE_COLUMNS, CoreStore, Store, transfer_from
from escrowd.ledger.validation import validate
from escrowd.money import normalize_currency

#: Kinds a batch may post in one statement (:meth:`PgStore.post`): no hold to settle.
_ONE_STATEMENT_KINDS = frozenset({TransferKind.posted, TransferKind.pending})


@dataclass(frozen=True, slots=True)
class Account:
    """A ledger account as stored; ``balances`` are as of the read."""

    id: str
    code: str
    currency: str
    flags: AccountFlags
    balances: Balances
    version: int
    created_at: datetime


AccountRef = str | Account


def _account_id(ref: AccountRef) -> str:
    return ref.id if isinstance(ref, Account) else ref


def account_from_row(row: Row[Any] | Any) -> Account:
    """An :class:`Account` from a Core row or a ``LedgerAccount`` ORM instance."""
    return Account(
        id=row.id,
        code=row.code,
        currency=row.currency,
        flags=AccountFlags(row.flags),
        balances=Balances(
            row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted
        ),
        version=row.version,
        created_at=row.created_at,
    )


def accounts_query(
    *, currency: str | None = None, code: str | None = None
) -> Select[LedgerAccount]:
    """Ledger accounts, filtered by currency and exact code (for pagination).

    An unknown currency is a mistake to report (400 ``currency_invalid``), not an empty list.
    """
    stmt = select(LedgerAccount)
    if currency:
        stmt = stmt.where(LedgerAccount.currency == normalize_currency(currency))
    if code:
        stmt = stmt.where(LedgerAccount.code == code)
    return stmt


#: ``Ledger.open_account``'s insert per database, built once: the row's values are parameters.
_OPEN: Final = {
    name: insert(ACCOUNTS)
    .on_conflict_do_nothing(index_elements=["currency", "code"])
    .returning(*ACCOUNTS.c)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
#: ``Ledger.find_accounts``'s read, built once: every money movement's posting makes it.
_FIND: Final = select(ACCOUNTS).where(
    ACCOUNTS.c.currency == bindparam("currency"),
    ACCOUNTS.c.code.in_(bindparam("codes", expanding=True)),
)


class Ledger:
    """Ledger operations inside the caller's transaction. Money is int minor units."""

    def __init__(self, session: AsyncSession, *, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or SystemClock()

    async def _conn(self) -> AsyncConnection:
        return await self._session.connection()

    async def _store(self) -> Store:
        conn = await self._conn()
        return PgStore(conn) if conn.dialect.name == "postgresql" else CoreStore(conn)

    # -- accounts ------------------------------------------------------------------------

    async def open_account(
        self, *, code: str, currency: str, flags: AccountFlags = AccountFlags.NONE
    ) -> Account:
        """Get or create the account ``code`` in ``currency``; safe to call concurrently."""
        check_account_code(code)
        currency = normalize_currency(currency)
        flags = check_flags(flags)
        conn = await self._conn()
        values = {
            "id": new_id(Prefix.ledger_account),
            "code": code,
            "currency": currency,
            "flags": int(flags),
            "version": 0,
            "created_at": self._clock.now(),
            **dict.fromkeys(BALANCE_COLUMNS, 0),
        }
        # ON CONFLICT: a concurrent opener of the same code waits for ours, then reads it.
        # RETURNING gives back the row just made; nothing comes back when it existed.
        made = (await conn.execute(_OPEN[conn.dialect.name], values)).one_or_none()
        account = (
            account_from_row(made)
            if made is not None
            else await self.find_account(code=code, currency=currency)
        )
        assert account is not None
        if account.flags != flags:
            raise LedgerError(
                Refusal.account_exists_with_different_flags,
                f"account {code} ({currency}) exists with flags {account.flags!r}, not {flags!r}.",
                param="flags",
            )
        return account

    async def find_account(self, *, code: str, currency: str) -> Account | None:
        conn = await self._conn()
        row = (
            await conn.execute(
                select(ACCOUNTS).where(
                    ACCOUNTS.c.currency == normalize_currency(currency), ACCOUNTS.c.code == code
                )
            )
        ).one_or_none()
        return None if row is None else account_from_row(row)

    async def find_accounts(self, *, codes: Iterable[str], currency: str) -> dict[str, Account]:
        """The accounts among ``codes`` that exist in ``currency``, by code: one read."""
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        conn = await self._conn()
        params = {"currency": normalize_currency(currency), "codes": wanted}
        return {row.code: account_from_row(row) for row in await conn.execute(_FIND, params)}

    async def get_account(self, *, account_id: str) -> Account:
        conn = await self._conn()
        query = select(ACCOUNTS).where(ACCOUNTS.c.id == account_id)
        row = (await conn.execute(query)).one_or_none()
        if row is None:
            raise LedgerError(
                Refusal.account_not_found,
                f"ledger account {account_id} does not exist.",
                param="account_id",
            )
        return account_from_row(row)

    async def balance(self, *, account: AccountRef) -> Balances:
        """The account's stored figures: one primary-key read, whatever its history."""
        return (await self.get_account(account_id=_account_id(account))).balances

    # -- transfers -----------------------------------------------------------------------

    async def get_transfer(self, *, transfer_id: str) -> Transfer | None:
        conn = await self._conn()
        row = (
            await conn.execute(select(TRANSFERS).where(TRANSFERS.c.id == transfer_id))
        ).one_or_none()
        return None if row is None else transfer_from(row._mapping)

    async def create_transfers(self, transfers: Sequence[TransferRequest]) -> list[TransferResult]:
        """Apply a batch; one result per request, in order, refusals included.

        Unlinked transfers succeed or fail on their own; a linked chain as a whole. The one
        refusal raised rather than returned is ``id_in_flight`` (PostgreSQL): another
        transaction created one of the ids meanwhile, and this transaction must roll back.
        """
        requests = list(transfers)
        if not requests:
            return []
        store = await self._store()
        if isinstance(store, PgStore):
            posted = await self._post_all(store, requests)
            if posted is not None:
                return posted
        snapshot = await store.read(requests, noted_failures(self._session))
        outcome = evaluate(requests, snapshot, self._clock.now())
        await store.write(outcome)
        if outcome.failures:
            note_failures(self._session, outcome.failures, self._clock)
        return outcome.results

    async def _post_all(
        self, store: PgStore, requests: list[TransferRequest]
    ) -> list[TransferResult] | None:
        """The batch in one statement, if it needs no hold settled and every transfer succeeds.

        None when the batch needs the general path, which then decides it exactly as it would
        have; nothing was written.
        """
        transfers = plain_batch(requests, self._clock.now(), noted_failures(self._session))
        if transfers is None or not await store.post(transfers):
            return None
        return [TransferResult(t.id, transfer=t) for t in transfers]

    async def create_linked(self, transfers: Sequence[TransferRequest]) -> list[Transfer]:
        """All the transfers as one linked chain: all are applied, or none and it raises."""
        requests = list(transfers)
        chained = [
            r if r.linked == (i < len(requests) - 1) else replace(r, linked=i < len(requests) - 1)
            for i, r in enumerate(requests)
        ]
        results = await self.create_transfers(chained)
        for result in results:
            if result.error is not None and result.code is not Refusal.linked_event_failed:
                raise result.error
        return [r.unwrap() for r in results]

    async def transfer(
        self,
        *,
        id: str,
        debit: AccountRef,
        credit: AccountRef,
        amount: int,
        currency: str,
        reference: str | None = None,
        category: str | None = None,
        effective_at: datetime | None = None,
    ) -> Transfer:
        """Move ``amount`` now (single phase). Raises :class:`LedgerError` if refused."""
        return await self._between(
            TransferKind.posted, id, debit, credit, amount, currency, reference, category,
            effective_at,
        )  # fmt: skip

    async def hold(
        self,
        *,
        id: str,
        debit: AccountRef,
        credit: AccountRef,
        amount: int,
        currency: str,
        reference: str | None = None,
        category: str | None = None,
        effective_at: datetime | None = None,
    ) -> Transfer:
        """Reserve ``amount`` (a pending transfer), to be posted or voided later."""
        return await self._between(
            TransferKind.pending, id, debit, credit, amount, currency, reference, category,
            effective_at,
        )  # fmt: skip

    async def _between(
        self,
        kind: TransferKind,
        id: str,
        debit: AccountRef,
        credit: AccountRef,
        amount: int,
        currency: str,
        reference: str | None,
        category: str | None,
        effective_at: datetime | None,
    ) -> Transfer:
        return await self._one(
            TransferRequest(
                id=id,
                kind=kind,
                debit_account_id=_account_id(debit),
                credit_account_id=_account_id(credit),
                amount=amount,
                currency=currency,
                reference=reference,
                category=category,
                effective_at=effective_at,
            )
        )

    async def post(
        self,
        *,
        id: str,
        pending_id: str,
        amount: int | None = None,
        reference: str | None = None,
        category: str | None = None,
        effective_at: datetime | None = None,
    ) -> Transfer:
        """Post a hold, all of it or ``amount`` of it; the rest of the hold is released."""
        return await self._settle(
            TransferKind.post_pending, id, pending_id, amount, reference, category, effective_at
        )

    async def void(
        self,
        *,
        id: str,
        pending_id: str,
        reference: str | None = None,
        category: str | None = None,
        effective_at: datetime | None = None,
    ) -> Transfer:
        """Release a whole hold."""
        return await self._settle(
            TransferKind.void_pending, id, pending_id, None, reference, category, effective_at
        )

    async def _settle(
        self,
        kind: TransferKind,
        id: str,
        pending_id: str,
        amount: int | None,
        reference: str | None,
        category: str | None,
        effective_at: datetime | None,
    ) -> Transfer:
        """Post or void the hold ``pending_id`` (``amount`` None: all of it)."""
        return await self._one(
            TransferRequest(
                id=id,
                kind=kind,
                pending_id=pending_id,
                amount=amount,
                reference=reference,
                category=category,
                effective_at=effective_at,
            )
        )

    async def _one(self, request: TransferRequest) -> Transfer:
        (result,) = await self.create_transfers([request])
        return result.unwrap()


def plain_batch(
    requests: Sequence[TransferRequest], now: datetime, noted: Mapping[str, FailedTransfer]
) -> list[Transfer] | None:
    """The transfers a batch creates if it is plain and every member succeeds.

    Plain: every request valid, posted or pending (no hold to settle), ids distinct and not
    failed earlier in this transaction (``noted``), no chain left open. Whether every member
    succeeds against the ledger's state is then for :meth:`PgStore.post` to find out. None when
    the batch is not plain: the general path decides it.
    """
    if not requests or requests[-1].linked:
        return None
    transfers: list[Transfer] = []
    ids: set[str] = set()
    chain_start = 0
    for i, request in enumerate(requests):
        checked = validate(request)
        if (
            isinstance(checked, LedgerError)
            or checked.kind not in _ONE_STATEMENT_KINDS
            or checked.id in ids
            or checked.id in noted
        ):
            return None
        assert checked.debit_account_id is not None
        assert checked.credit_account_id is not None
        assert checked.amount is not None
        assert checked.currency is not None
        ids.add(checked.id)
        # As in the batch: a chain of two or more carries its first member's id.
        chained = i > chain_start or checked.linked
        transfers.append(
            Transfer(
                id=checked.id,
                kind=checked.kind,
                debit_account_id=checked.debit_account_id,
                credit_account_id=checked.credit_account_id,
                amount=checked.amount,
                currency=checked.currency,
                pending_id=None,
                state=PendingState.pending if checked.kind is TransferKind.pending else None,
                reference=checked.reference,
                category=checked.category,
                batch_id=requests[chain_start].id if chained else None,
                effective_at=checked.effective_at or now,
                created_at=now,
                payload_hash=checked.payload_hash(),
            )
        )
        if not checked.linked:
            chain_start = i + 1
    return transfers
