"""Booking a refund made at the provider outside escrowd (e.g. from PayPal's dashboard).

The provider's refund event (PayPal's ``PAYMENT.CAPTURE.REFUNDED``) is only a hint: its
handler checks the refund at the provider and enqueues ``escrow.book_outside_refund``
(``escrow_id``, ``refund``), deduplicated by the refund's id. The job reads the refund at the
provider again and books it once, as an escrowd refund whose provider call already happened:

- a refund operation (``esc_…:refund:<n>``) is recorded for the refunded amount, spread over
  the allocations in proportion to what each has free, exactly as ``POST …/refund`` with an
  ``amount`` would; its ``params.outside_refund`` names the provider's refund, so its "call"
  (``refund.call_refund``, also when the janitor repeats it) only reads that refund back and
  never makes another one;
- it settles as any refund does: the allocations' refunded parts, the escrow's state, the
  ledger transfer from ``escrow:<id>`` to the provider's clearing account, the events.

When it cannot be booked safely nothing is booked and an incident
(``escrow.outside_refund_unbooked``) says why, with the provider's refund and escrowd's
record side by side: the money was released already (less is free in the escrow than was
refunded), the escrow does not allow a refund (disputed, closed), the payer's surcharge makes
the refunded amount match no split of the allocations, or the refund does not belong to the
escrow's payment at all. An admin then books it by hand (docs/reconcile.md,
``refund_unrecorded``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from escrowd.bootstrap import Container
from escrowd.errors import EscrowdError
from escrowd.escrows import operations, refund, store
from escrowd.escrows.book import Book
from escrowd.escrows.models import Operation, OpKind, OpStatus
from escrowd.jobs import JobContext, PermanentJobError, incidents
from escrowd.logging import get_logger
from escrowd.providers.types import Refund

log = get_logger(__name__)

#: Job kind: book one refund made at the provider outside escrowd.
BOOK_OUTSIDE_REFUND_JOB = "escrow.book_outside_refund"
#: The incident a refund that cannot be booked safely opens.
UNBOOKED_INCIDENT = "escrow.outside_refund_unbooked"


def dedupe_key(refund_id: str) -> str:
    return f"{BOOK_OUTSIDE_REFUND_JOB}:{refund_id}"


async def booked(session: Any, refund_id: str) -> bool:
    """Whether escrowd has an operation for this provider refund (its own, or one booked)."""
    found = await session.scalar(
        select(Operation.key).where(
            Operation.kind == OpKind.refund.value, Operation.provider_object_id == refund_id
        )
    )
    if found is not None:
        return True
    ops = await session.scalars(
        select(Operation).where(
            Operation.kind == OpKind.refund.value,
            Operation.provider_object_id.is_(None),
            # A booking whose read-back failed booked nothing: the job records a new one.
            Operation.status != OpStatus.failed.value,
        )
    )
    return any(op.params.get("outside_refund") == refund_id for op in ops)


def _recorded(book: Book) -> dict[str, Any]:
    e = book.escrow
    return {
        "escrow": e.id,
        "status": e.status,
        "payment": e.payment_id,
        "charge": e.charge_id,
        "currency": e.currency,
        "free": book.free,
        "amount_released": e.amount_released,
        "amount_refunded": e.amount_refunded,
    }


def _refund_view(r: Refund) -> dict[str, Any]:
    return {
        "id": r.id,
        "amount": r.amount,
        "currency": r.currency,
        "status": r.status,
        "payment": r.payment_id,
        "charge": r.charge_id,
    }


class _Unbookable(Exception):  # noqa: N818  (a verdict, turned into an incident)
    pass


def _check(book: Book, found: Refund) -> None:
    e = book.escrow
    if found.status != "succeeded":
        raise _Unbookable(f"the provider's refund is {found.status}, not succeeded")
    if found.payment_id != e.payment_id or (e.charge_id and found.charge_id != e.charge_id):
        raise _Unbookable(
            f"it refunds payment {found.payment_id} (capture {found.charge_id}), not the "
            f"escrow's {e.payment_id} (capture {e.charge_id})"
        )
    if found.currency != e.currency:
        raise _Unbookable(f"its currency is {found.currency}, not {e.currency}")
    if found.amount > book.free:
        raise _Unbookable(
            f"{found.amount} was refunded but only {book.free} is left in the escrow (the "
            "rest was released or refunded already): the payer got money a payee also has"
        )


async def book_outside_refund(ctx: JobContext, payload: dict[str, Any]) -> None:
    container = ctx.container
    escrow_id, refund_id = payload.get("escrow_id"), payload.get("refund")
    if not isinstance(escrow_id, str) or not isinstance(refund_id, str):
        raise PermanentJobError(f"payload needs escrow_id and refund: {payload!r}")
    async with container.db.transaction() as s:
        if await booked(s, refund_id):
            return
        escrow = await store.load(s, escrow_id)
        name = escrow.provider
    found = await container.provider_named(name).retrieve_refund(refund_id)
    op = await _record(container, escrow_id, found)
    if op is None:
        return
    settled = await operations.run(container, escrow_id, refund.REFUND, [op])
    status = settled.results[0].status if settled.results else None
    if status == OpStatus.failed.value:
        # Reading the refund back failed: nothing was booked; the next attempt records anew.
        raise RuntimeError(f"refund {refund_id} could not be read back: {settled.error}")
    log.info(
        "escrow_outside_refund_booked",
        escrow=escrow_id,
        refund=refund_id,
        amount=found.amount,
        status=status,
    )


async def _record(container: Container, escrow_id: str, found: Refund) -> Operation | None:
    """Step 1 under the escrow's lock: the refund operation, or an incident and None."""
    reason: str | None = None
    async with operations.recording(container, escrow_id, None) as (s, book):
        if await booked(s, found.id):
            return None
        if any(op.kind == OpKind.refund.value for op in book.open_ops):
            # One of escrowd's own refunds is in flight: its answer may be this very refund.
            raise RuntimeError(f"a refund of escrow {escrow_id} is in flight; retry later")
        try:
            _check(book, found)
            async with s.begin_nested():
                op = await refund.record(s, container, book, amount=found.amount, prorated=True)
                if op.provider_amount != found.amount:
                    raise _Unbookable(
                        f"{found.amount} was refunded, but the payer's surcharge makes no "
                        f"split of the allocations come to it (nearest: {op.provider_amount})"
                    )
                op.params = {**op.params, "outside_refund": found.id}
                await s.flush()
            return op
        except (_Unbookable, EscrowdError) as exc:
            reason = exc.message if isinstance(exc, EscrowdError) else str(exc)
            await incidents.open_incident(
                s,
                kind=UNBOOKED_INCIDENT,
                subject=f"refund:{book.escrow.provider}:{found.id}",
                error=(
                    f"Refund {found.id} of {found.amount} {found.currency} was made at the "
                    f"provider outside escrowd and was not booked for escrow {escrow_id}: "
                    f"{reason}. Do not refund again through escrowd; book it by hand."
                ),
                details={"provider": _refund_view(found), "recorded": _recorded(book)},
                now=container.clock.now(),
            )
    log.warning("escrow_outside_refund_unbooked", escrow=escrow_id, refund=found.id, reason=reason)
    return None
