"""Record failed transfer ids after the caller's transaction ends ("a failed id stays failed").

A refused transfer usually ends its unit of work with a rollback, which would take a failure
row written in the same transaction with it. So the service only notes the failure on the
session, and this module writes it in a transaction of its own once the session's outermost
transaction has ended — committed or rolled back. On SQLite the failing transaction holds the
database's write lock until then, so writing any earlier would wait on ourselves.

The listener runs inside SQLAlchemy's greenlet bridge (every AsyncSession method that ends a
transaction runs its sync counterpart there), which is why it may use the sync engine API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from escrowd.clock import Clock
from escrowd.ledger.domain import FailedTransfer
from escrowd.ledger.models import FAILED, TRANSFERS

_log = logging.getLogger(__name__)
_KEY = "escrowd.ledger.failed_transfers"
_CLOCK = "escrowd.ledger.clock"
_LISTENING = "escrowd.ledger.listening"


def noted_failures(session: AsyncSession) -> dict[str, FailedTransfer]:
    """Failures noted in this session's current transaction and not yet written."""
    noted: dict[str, FailedTransfer] | None = session.sync_session.info.get(_KEY)
    return noted if noted is not None else {}


def note_failures(session: AsyncSession, failures: Iterable[FailedTransfer], clock: Clock) -> None:
    sync = session.sync_session
    if not sync.info.get(_LISTENING):
        # Once per session; the listener stays (removing one while events dispatch is unsafe).
        event.listen(sync, "after_transaction_end", _write_noted)
        sync.info[_LISTENING] = True
    noted: dict[str, FailedTransfer] = sync.info.setdefault(_KEY, {})
    sync.info[_CLOCK] = clock
    for failure in failures:
        noted.setdefault(failure.id, failure)


def _write_noted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or not session.info.get(_KEY):
        return
    noted: dict[str, FailedTransfer] = session.info.pop(_KEY)
    clock: Clock = session.info[_CLOCK]
    try:
        bind = session.get_bind()
        if isinstance(bind, Engine):
            with bind.begin() as conn:
                _insert(conn, noted, clock)
        else:  # a session joined to an outer transaction: the record shares its fate
            _insert(bind, noted, clock)
    except Exception:
        # Never mask the caller's own outcome; the refusal itself was already reported.
        _log.exception("could not record failed ledger transfer ids %s", sorted(noted))


def _insert(conn: Connection, noted: dict[str, FailedTransfer], clock: Clock) -> None:
    # An id another transaction created meanwhile is a success: do not mark it failed.
    ids = list(noted)
    taken = set(conn.execute(select(TRANSFERS.c.id).where(TRANSFERS.c.id.in_(ids))).scalars())
    now = clock.now()
    rows = [
        {"id": f.id, "payload_hash": f.payload_hash, "code": f.code.value, "created_at": now}
        for f in noted.values()
        if f.id not in taken
    ]
    if rows:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(FAILED).on_conflict_do_nothing(), rows)
