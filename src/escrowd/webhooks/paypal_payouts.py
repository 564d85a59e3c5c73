"""PayPal's ``PAYMENT.PAYOUTSBATCH.*`` (SUCCESS, DENIED, PROCESSING…): the payout of the batch,
moved as the batch's item says at PayPal.

escrowd sends one payout as one batch of one item, with the payout's idempotency key as the
batch's ``sender_batch_id`` (``providers.paypal.provider.create_payout``). So a batch event
names its payout twice over: the ``sender_batch_id`` in its ``batch_header``, which names the
payout itself, and the batch id, which PayPal knows. The event is a hint: the handler reads
the batch at PayPal (``truth``) and applies its item through the same code as
``PAYMENT.PAYOUTS-ITEM.*`` (``payouts.handlers.apply_provider_payout``: the amount and
currency checked against escrowd's record, then ``apply_answer``), whatever the event's own
status says — a DENIED event for a batch whose item PayPal paid pays the payout; a SUCCESS
event for an item still unclaimed leaves it in transit.

It matters when escrowd never learnt its batch's item: the approval's call reached PayPal but
its answer was lost. The payout has no item id then, so the item's own events cannot find it;
the batch's ``sender_batch_id`` can, and the item id is recorded from PayPal's batch.

Nothing moves, the event is rejected and an incident opens (``EventMismatch``) when PayPal's
batch is not the payout's (another ``sender_batch_id``, another item than the one escrowd
recorded, more than one item) or has another amount, or PayPal has no such batch — and when
PayPal paid a payout escrowd rejected after its sends got no answer (its money went back to
the payee's balance: an admin decides, as for Stripe's ``payout.paid``). An event
about a batch escrowd did not make, or about a payout settled already (repeated, late), is
noted only, without a call to PayPal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.logging import get_logger
from escrowd.payouts import domain
from escrowd.payouts.domain import PayoutStatus
from escrowd.payouts.handlers import apply_provider_payout, recorded
from escrowd.payouts.models import Payout
from escrowd.providers.paypal import mapping, shapes
from escrowd.providers.paypal.events import PROVIDER
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.webhooks.verification import PAYPAL_PAYOUT_BATCH, EventMismatch, truth

log = get_logger(__name__)


def _claimed_key(event: ProviderEvent) -> str | None:
    header = event.data.get("batch_header")
    sender = header.get("sender_batch_header") if isinstance(header, dict) else None
    key = sender.get("sender_batch_id") if isinstance(sender, dict) else None
    return key if isinstance(key, str) and key else None


def _claim(event: ProviderEvent) -> dict[str, Any]:
    header = event.data.get("batch_header")
    status = header.get("batch_status") if isinstance(header, dict) else None
    return {"id": event.object_id, "sender_batch_id": _claimed_key(event), "status": status}


async def _payout_of(session: AsyncSession, key: str) -> Payout | None:
    """escrowd's PayPal payout whose idempotency key is ``key``, locked; None if none is."""
    payout_id = domain.payout_of_key(key)
    if payout_id is None:
        return None
    row = await session.get(Payout, payout_id, with_for_update=True)
    if row is None or row.provider != PROVIDER or row.idempotency_key != key:
        return None
    return row


def _ignored(event: ProviderEvent, reason: str) -> None:
    log.info(
        "paypal_payouts_batch_ignored",
        reason=reason,
        event_id=event.id,
        type=event.provider_type,
        batch=event.object_id,
    )


def _mismatch(
    event: ProviderEvent, row: Payout, batch: shapes.PayoutBatch, problem: str
) -> EventMismatch:
    header = batch.batch_header
    return EventMismatch(
        f"PayPal's payout batch {header.payout_batch_id} is not payout {row.id}'s: {problem}. "
        "Nothing was moved.",
        claimed=_claim(event),
        provider={
            "id": header.payout_batch_id,
            "sender_batch_id": header.sender_batch_header.sender_batch_id,
            "status": header.batch_status,
            "items": [i.payout_item_id for i in batch.items],
        },
        recorded=recorded(row),
    )


async def on_payouts_batch(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if (
        event.provider != PROVIDER
        or event.kind is not EventKind.paypal_payouts_batch
        or event.object_id is None
    ):
        return
    claimed = _claimed_key(event)
    named: Payout | None = None
    if claimed is not None:
        # The payout the event names: nothing to ask PayPal when it is none of escrowd's, or
        # settled already (a repeated or late event).
        named = await _payout_of(session, claimed)
        if named is None:
            _ignored(event, "not a batch of escrowd's")
            return
        if _settled(named):
            _ignored(event, f"payout {named.id} is {named.status} already")
            return
    batch = truth(event, PAYPAL_PAYOUT_BATCH, event.object_id, shapes.PayoutBatch)
    key = batch.batch_header.sender_batch_header.sender_batch_id
    row = await _payout_of(session, key) if key else None
    if named is not None and (row is None or row.id != named.id):
        raise _mismatch(event, named, batch, f"its sender_batch_id is {key}, not {claimed}")
    if row is None:
        _ignored(event, "not a batch of escrowd's")
        return
    if _settled(row):
        _ignored(event, f"payout {row.id} is {row.status} already")
        return
    if not batch.items:
        _ignored(event, "PayPal lists no item of the batch yet")  # later events, or the sync
        return
    if len(batch.items) > 1:
        raise _mismatch(event, row, batch, f"it has {len(batch.items)} items, not the one sent")
    (item,) = batch.items
    if item.payout_batch_id != batch.batch_header.payout_batch_id:
        raise _mismatch(event, row, batch, f"its item belongs to batch {item.payout_batch_id}")
    if row.provider_payout_id is not None and item.payout_item_id != row.provider_payout_id:
        raise _mismatch(
            event, row, batch, f"its item is {item.payout_item_id}, not {row.provider_payout_id}"
        )
    made = mapping.payout_from_item(item)
    if _given_back(row):
        if made.status in ("failed", "canceled"):
            return
        # Its sends got no answer, an admin rejected it and its money went back to the
        # balance — yet PayPal made it: the money left twice over. An admin decides.
        raise EventMismatch(
            f"PayPal made payout item {item.payout_item_id} ({item.transaction_status}) for "
            f"escrowd's payout {row.id}, which escrowd {row.status} and returned to the "
            "balance.",
            claimed=_claim(event),
            provider={"id": item.payout_item_id, "amount": made.amount, "status": made.status},
            recorded=recorded(row),
        )
    await apply_provider_payout(session, clock=clock, row=row, payout=made, claimed=_claim(event))


def _given_back(row: Payout) -> bool:
    """Rejected or failed before escrowd learnt of any PayPal item: its money is back on the
    payee's balance, so PayPal must not have paid it."""
    rejected = (PayoutStatus.rejected, PayoutStatus.failed)
    return PayoutStatus(row.status) in rejected and row.provider_payout_id is None


def _settled(row: Payout) -> bool:
    """Nothing PayPal says about the batch can change the payout any more."""
    return PayoutStatus(row.status) not in domain.AT_PROVIDER and not _given_back(row)
