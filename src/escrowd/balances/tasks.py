"""The payout delay's job (``register`` adds it to the process's registry).

- ``balances.make_available`` (``key``: a release operation's key): moves what is left of
  that release's net from ``payee:<party>:pending`` to ``payee:<party>:available`` with one
  ledger transfer, ``<key>:available``.

A release made while ``ESCROWD_PAYOUT_DELAY_SECONDS`` > 0 books its net to the pending account
and enqueues this job in its settling transaction (:func:`schedule`), due when the delay has
passed and dedupe-keyed by the operation, so it exists once however often the settlement runs.
The job locks the escrow, as a transfer reversal (webhook) does: a reversal that came first
took its part from pending, so the job moves only ``net − reversed``; one that comes after
finds the money available (``ledgering.net_is_pending``). A payee who owes money after a
clawback (``payee:<party>:debt``) repays it from the net in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.escrows import ledgering, store
from escrowd.escrows.models import Operation, OpKind, OpStatus
from escrowd.jobs import JobContext, PermanentJobError, Registry, enqueue

AVAILABLE_JOB = "balances.make_available"
KINDS = (AVAILABLE_JOB,)


async def schedule(session: AsyncSession, *, clock: Clock, op_key: str, delay: int) -> None:
    """In the release's settling transaction: make its net available ``delay`` seconds on."""
    await enqueue(
        session,
        clock=clock,
        kind=AVAILABLE_JOB,
        payload={"key": op_key},
        run_at=clock.now() + timedelta(seconds=delay),
        dedupe_key=f"{op_key}:available",
    )


async def make_available(ctx: JobContext, payload: dict[str, Any]) -> None:
    key = payload.get("key")
    if not isinstance(key, str):
        raise PermanentJobError(f"payload has no key: {payload!r}")
    container = ctx.container
    async with container.db.transaction() as s:
        op = await s.get(Operation, key)
        if op is None or op.kind != OpKind.release.value:
            raise PermanentJobError(f"no release operation {key}")
        # The escrow's lock serializes this with a reversal of the same release.
        escrow = await store.load(s, op.escrow_id, lock=True)
        await s.refresh(op)
        if op.status != OpStatus.succeeded.value or not await ledgering.net_is_pending(s, key):
            return  # made available already (a repeated job), or never pending
        left = op.provider_amount - op.reversed  # the net, less what reversals took
        payee = op.params["payee"]
        moves = [ledgering.make_available(key, payee, left)]
        # A debt from a clawback is repaid first, as soon as the money is the payee's.
        debt = ledgering.payee_debt(payee)
        owed = (await ledgering.spendable(s, escrow.currency, [debt])).get(debt, 0)
        if min(owed, left) > 0:
            moves.append(ledgering.repay(key, payee, min(owed, left)))
        await ledgering.apply(
            s, clock=container.clock, currency=escrow.currency, reference=escrow.id, moves=moves
        )


def register(jobs: Registry) -> None:
    jobs.add_handler(AVAILABLE_JOB, make_available)
