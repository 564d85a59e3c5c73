"""Payouts v1 in the sandbox: batches, their items, and what happens to an item afterwards.

- A new batch answers 201 with ``batch_status: PENDING``; read back, it is ``SUCCESS`` (the
  sandbox processes at once) and lists its items.
- An item's fate follows its receiver: an email address containing ``unclaimed`` (for
  example ``payee+unclaimed@example.com``) stays ``UNCLAIMED`` for 30 days by the sandbox
  clock, then reads ``RETURNED`` (PayPal returns unclaimed money after 30 days); every other
  receiver gets ``SUCCESS``.
- ``sender_batch_id`` is unique for 30 days: reusing one answers 400 ``USER_BUSINESS_ERROR``
  with a link to the original batch.
"""

from __future__ import annotations

import hashlib
from typing import Any

from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import to_value
from escrowd.sandbox.paypal import webhooks
from escrowd.sandbox.paypal.faults import PayPalError, invalid, not_found
from escrowd.sandbox.paypal.orders import DAY, Reply, minor
from escrowd.sandbox.paypal.store import Obj, Unit, new_id, stamp

UNCLAIMED_DAYS = 30
SENDER_BATCH_ID_DAYS = 30


def _batch_key(sender_batch_id: str) -> str:
    return "ppsb_" + hashlib.sha256(sender_batch_id.encode()).hexdigest()[:40]


def _money(amount: int, currency: str) -> dict[str, str]:
    return {"currency": currency.upper(), "value": to_value(amount, currency)}


async def create_batch(u: Unit, req: shapes.PayoutRequest) -> Reply:
    header = req.sender_batch_header
    key = _batch_key(header.sender_batch_id)
    seen = await u.get(key, "sender_batch")
    if seen is not None and u.now < seen.created + SENDER_BATCH_ID_DAYS * DAY:
        original = seen.data["payout_batch_id"]
        raise PayPalError(
            400,
            "Batch with given sender_batch_id already exists",
            field="SENDER_BATCH_ID",
            name="USER_BUSINESS_ERROR",
            message="User business error.",
            links=[u.link(f"/v1/payments/payouts/{original}", "self")],
        )
    amounts = [minor(item.amount, f"/items/{i}/amount") for i, item in enumerate(req.items)]
    currencies = {currency for _, currency in amounts}
    if len(currencies) != 1:
        raise invalid("/items", "CURRENCY_MISMATCH", "All items of a batch use one currency.")
    currency = currencies.pop()
    batch_id = new_id(13)
    item_ids = []
    for item, (amount, _) in zip(req.items, amounts, strict=True):
        item_id = new_id(13)
        item_ids.append(item_id)
        unclaimed = "unclaimed" in item.receiver.lower()
        detail: dict[str, Any] = {
            "recipient_type": item.recipient_type,
            "amount": _money(amount, currency),
            "receiver": item.receiver,
        }
        for field in ("sender_item_id", "note"):
            if getattr(item, field) is not None:
                detail[field] = getattr(item, field)
        data = {
            "payout_item_id": item_id,
            "transaction_id": new_id(17),
            "transaction_status": "UNCLAIMED" if unclaimed else "SUCCESS",
            "payout_batch_id": batch_id,
            "payout_item": detail,
            "time_processed": stamp(u.now),
            "links": [
                u.link(f"/v1/payments/payouts-item/{item_id}", "item"),
                u.link(f"/v1/payments/payouts/{batch_id}", "batch"),
            ],
        }
        await u.save(u.create("payout_item", item_id, data), parent=batch_id)
        await webhooks.emit(
            u,
            f"PAYMENT.PAYOUTS-ITEM.{'UNCLAIMED' if unclaimed else 'SUCCEEDED'}",
            "payouts_item",
            data,
            f"Payout item {item_id} is {'unclaimed' if unclaimed else 'successful'}",
        )
    echo: dict[str, Any] = {"sender_batch_id": header.sender_batch_id}
    if header.email_subject is not None:
        echo["email_subject"] = header.email_subject
    batch_header = {
        "payout_batch_id": batch_id,
        "batch_status": "PENDING",
        "time_created": stamp(u.now),
        "sender_batch_header": echo,
    }
    total = sum(amount for amount, _ in amounts)
    batch = u.create(
        "payout_batch",
        batch_id,
        {"batch_header": batch_header},
        items=item_ids,
        total=total,
        currency=currency,
    )
    await u.save(batch)
    await u.save(u.create("sender_batch", key, {"payout_batch_id": batch_id}))
    await webhooks.emit(
        u,
        "PAYMENT.PAYOUTSBATCH.PROCESSING",
        "payouts",
        {"batch_header": batch_header},
        f"Payouts batch {batch_id} is being processed",
    )
    link = u.link(f"/v1/payments/payouts/{batch_id}", "self")
    return 201, {"batch_header": batch_header, "links": [link]}


async def _item(u: Unit, item: Obj) -> dict[str, Any]:
    processed = item.created
    if item.data["transaction_status"] == "UNCLAIMED" and u.now >= processed + (
        UNCLAIMED_DAYS * DAY
    ):
        item.data["transaction_status"] = "RETURNED"
        await u.save(item)
        await webhooks.emit(
            u,
            "PAYMENT.PAYOUTS-ITEM.RETURNED",
            "payouts_item",
            item.data,
            f"Payout item {item.id} was returned to the sender",
        )
    return item.data


async def get_batch(u: Unit, batch_id: str) -> Reply:
    batch = await u.get(batch_id, "payout_batch")
    if batch is None:
        raise not_found("payout batch", "payout_batch_id")
    items = []
    for item_id in batch.private["items"]:
        item = await u.get(item_id, "payout_item")
        if item is not None:
            items.append(await _item(u, item))
    header = {
        **batch.data["batch_header"],
        "batch_status": "SUCCESS",
        "time_completed": stamp(batch.created),
        "amount": _money(batch.private["total"], batch.private["currency"]),
    }
    link = u.link(f"/v1/payments/payouts/{batch_id}", "self")
    return 200, {"batch_header": header, "items": items, "links": [link]}


async def get_item(u: Unit, item_id: str) -> Reply:
    item = await u.get(item_id, "payout_item")
    if item is None:
        raise not_found("payout item", "payout_item_id")
    return 200, await _item(u, item)
