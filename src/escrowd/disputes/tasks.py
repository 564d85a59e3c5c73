"""Outbox jobs for chargebacks on money already released (``register`` adds them).

- ``dispute.chargeback_recover`` (``dispute_id``): enqueued with the chargeback when it covers
  money paid to payees. Records the recovery (``escrows.recovery``) under the escrow's lock,
  makes its transfer reversals with no transaction open, settles them, then reads the
  provider's dispute and books what it says (``chargebacks.follow``): a ``dispute.closed``
  that arrived meanwhile waited for this. What could not be taken back opens a
  ``dispute.chargeback_after_release`` incident.
- ``dispute.chargeback_repay`` (``dispute_id``): enqueued when such a chargeback is won. Pays
  the payees again what was taken back from them: a release of those amounts with a request
  key derived from the dispute, so a repeated job pays nothing twice.

Both re-read everything and do nothing when the work no longer applies; raising retries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.disputes import chargebacks, service
from escrowd.disputes.domain import Outcome
from escrowd.disputes.models import Dispute
from escrowd.errors import EscrowdError
from escrowd.escrows import operations, recovery, release, store
from escrowd.escrows.models import OPEN_OPS, Escrow, OpKind
from escrowd.escrows.tasks import RetryLaterError
from escrowd.jobs import JobContext, PermanentJobError, Registry, incidents
from escrowd.jobs.models import Incident

RECOVER_JOB = chargebacks.RECOVER_JOB
REPAY_JOB = chargebacks.REPAY_JOB
KINDS = (RECOVER_JOB, REPAY_JOB)


async def _dispute(session: AsyncSession, payload: dict[str, Any]) -> Dispute:
    dispute_id = payload.get("dispute_id")
    row = await session.get(Dispute, dispute_id) if isinstance(dispute_id, str) else None
    if row is None or row.provider_dispute_id is None:
        raise PermanentJobError(f"no chargeback for payload {payload!r}")
    return row


async def _record(container: Container, payload: dict[str, Any]) -> str | None:
    """The recovery operation's key (recorded now if need be), or None: nothing to call."""
    async with container.db.transaction() as s:
        row = await _dispute(s, payload)
        book = await store.book_of(s, row.escrow_id, lock=True)
        if row.status not in service.OPEN_STATUSES:
            return None
        ops = await recovery.ops_of(s, row.escrow_id, row.id)
        if ops:
            return next((op.key for op in ops if op.status in OPEN_OPS), None)
        if any(op.kind == OpKind.release.value for op in book.open_ops):
            # Its transfer is not made yet: once settled, it can be reversed too.
            raise RetryLaterError(f"a release of escrow {row.escrow_id} is in flight")
        wanted = row.amount - chargebacks.held(book.escrow)
        op = await recovery.record(s, container, book, dispute_id=row.id, amount=wanted)
        return op.key


async def _unrecovered(session: AsyncSession, clock: Clock, row: Dispute, escrow: Escrow) -> None:
    """An incident (once) for what the escrow still misses after the recovery."""
    missing = row.amount - chargebacks.held(escrow)
    if missing <= 0:
        return
    seen = await session.scalars(
        select(Incident).where(
            Incident.kind == chargebacks.AFTER_RELEASE_INCIDENT, Incident.subject == escrow.id
        )
    )
    if any((i.details or {}).get("dispute") == row.id for i in seen):
        return
    ops = await recovery.ops_of(session, escrow.id, row.id)
    await incidents.add(
        session,
        kind=chargebacks.AFTER_RELEASE_INCIDENT,
        error=(
            f"chargeback {row.provider_dispute_id} disputes {row.amount} of escrow {escrow.id}; "
            f"after reversing the payees' transfers it holds {chargebacks.held(escrow)}: "
            f"{missing} could not be taken back (paid out, or ESCROWD_CLAWBACK_SHORTFALL="
            "absorb). If the dispute is lost, the platform bears it (docs/disputes.md)."
        ),
        now=clock.now(),
        subject=escrow.id,
        details={
            "dispute": row.id,
            "provider_dispute": row.provider_dispute_id,
            "amount": row.amount,
            "held": chargebacks.held(escrow),
            "missing": missing,
            "operations": [recovery.params_summary(op) for op in ops],
        },
    )


async def recover(ctx: JobContext, payload: dict[str, Any]) -> None:
    container = ctx.container
    key = await _record(container, payload)
    if key is not None and not await operations.settle_stale(container, key):
        raise RetryLaterError(f"the outcome of {key} is still unknown")
    async with container.db.transaction() as s:
        row = await _dispute(s, payload)
        provider_dispute, provider = row.provider_dispute_id, None
        escrow = await s.get(Escrow, row.escrow_id)
        if escrow is not None:
            provider = escrow.provider
    assert provider_dispute is not None
    # Read with no transaction open: a close that arrived meanwhile was left for this.
    # The escrow's own provider (a PayPal escrow's dispute is PayPal's).
    source = container.providers.get(provider or "") or container.provider
    truth = await source.retrieve_dispute(provider_dispute)
    async with container.db.transaction() as s:
        row = await _dispute(s, payload)
        escrow = await store.load(s, row.escrow_id, lock=True)
        if truth.id != provider_dispute:
            raise PermanentJobError(f"the provider answered {truth.id} for {provider_dispute}")
        if row.status in service.OPEN_STATUSES:
            await _unrecovered(s, container.clock, row, escrow)
            await chargebacks.follow(
                s,
                container.clock,
                escrow,
                row,
                truth,
                provider=provider or container.provider.name,
            )


async def repay(ctx: JobContext, payload: dict[str, Any]) -> None:
    container = ctx.container
    async with container.db.transaction() as s:
        row = await _dispute(s, payload)
        if row.outcome != Outcome.won.value:
            return
        book = await store.book_of(s, row.escrow_id)
        taken = recovery.recovered(await recovery.ops_of(s, row.escrow_id, row.id))
        items: list[release.Item] = []
        for slot in book.slots:
            amount = min(taken.get(slot.allocation.id, 0), slot.free.gross)
            if amount > 0:
                items.append((slot.allocation.id, amount))
    if not items:
        return  # released (or refunded) another way meanwhile
    try:
        await release.release(
            container,
            escrow_id=row.escrow_id,
            actor=None,
            items=items,
            idempotency_key=f"{row.id}:repay",
        )
    except EscrowdError as exc:
        if exc.code == "escrow_state_conflict":
            return  # frozen again by another dispute: its resolution decides the money
        raise


__all__ = ["KINDS", "RECOVER_JOB", "REPAY_JOB"]


def register(jobs: Registry) -> None:
    jobs.add_handler(RECOVER_JOB, recover)
    jobs.add_handler(REPAY_JOB, repay)
