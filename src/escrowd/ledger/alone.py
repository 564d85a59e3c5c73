"""A single transfer that is a unit of work of its own, in one round trip when it can be.

:func:`post_alone` is for a transfer that has no rows of its own to commit with and whose caller
waits for it alone (no other transfers to group it with: that is :class:`TransferPoster`)::

    result = await post_alone(database, TransferRequest(id="t1", debit_account_id=a,
                                                        credit_account_id=b, amount=100,
                                                        currency="usd"))

On PostgreSQL a plain transfer (``posted`` or ``pending``, no hold settled, not ``linked``) is
one call of ``ledger_post_transfer`` on a pooled connection outside any explicit transaction:
the statement is its own transaction, committed when the call returns — no BEGIN, no COMMIT, no
session. The function writes only if the transfer succeeds. Anything else — a refusal, a replay
of a stored or failed id, an id another transaction is creating at that moment, a settle, SQLite
— writes nothing there and goes the general way, :meth:`Ledger.create_transfers` in a
transaction of its own, which decides it exactly as for any caller. So what a caller gets is
what posting the request through :class:`Ledger` in its own transaction gives:

- a result only once the transfer is committed (the function's statement, or the transaction);
- a refusal moves nothing, and its id is recorded as failed;
- the same id again with the same fields replays (``replayed``, nothing moves); with other
  fields it is ``exists_with_different_fields``;
- the two accounts are locked in id order, as in any batch.
"""

from __future__ import annotations

from escrowd.clock import Clock, SystemClock
from escrowd.db.driver import autocommit_driver
from escrowd.db.session import Database
from escrowd.ledger.domain import LedgerError, Refusal, Transfer, TransferRequest, TransferResult
from escrowd.ledger.pgstore import post_on
from escrowd.ledger.service import Ledger, plain_batch


async def post_alone(
    database: Database, request: TransferRequest, *, clock: Clock | None = None
) -> TransferResult:
    """Post ``request`` as a unit of work of its own; its result once committed.

    Refusals are returned, not raised. Raises what the transaction raised if it failed (the
    transfer was not acknowledged: retry with the same id, which replays or posts).
    """
    if database.dialect == "postgresql":
        transfers = plain_batch([request], (clock or SystemClock()).now(), {})
        if transfers is not None and await post_autocommit(database, transfers):
            return TransferResult(transfers[0].id, transfer=transfers[0])
    async with database.transaction() as session:
        (result,) = await Ledger(session, clock=clock).create_transfers([request])
    return result


async def post_autocommit(database: Database, transfers: list[Transfer]) -> bool:
    """PostgreSQL: write plain ``transfers`` as one statement that is its own transaction.

    True: written and committed. False: nothing was written (one of them would be refused or
    replayed, or another transaction is creating one of their ids); the general path decides.
    """
    try:
        async with autocommit_driver(database, sound=(LedgerError,)) as driver:
            return await post_on(driver, transfers)
    except LedgerError as exc:
        if exc.refusal is not Refusal.id_in_flight:
            raise
        return False  # the statement wrote nothing; the general way will replay
