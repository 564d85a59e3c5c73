"""Payouts v1: a batch per payout run, sender_batch_id as its idempotency, item fates."""

from __future__ import annotations

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.providers.errors import ProviderError
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import from_money, payout_currency
from escrowd.providers.paypal.client import PayPalClient
from escrowd.providers.paypal.mapping import payout_from_item
from tests.paypal.conftest import Wire, body_of, shift


def batch(sender_batch_id: str, *receivers: str, amount: int = 1250) -> shapes.PayoutRequest:
    return shapes.PayoutRequest(
        sender_batch_header=shapes.SenderBatchHeader(
            sender_batch_id=sender_batch_id, email_subject="You have a payout"
        ),
        items=[
            shapes.PayoutItemRequest(
                amount=payout_currency(amount, "usd"),
                receiver=receiver,
                sender_item_id=f"po_{i}",
                note="escrow release",
            )
            for i, receiver in enumerate(receivers)
        ],
    )


async def test_a_batch_is_pending_then_lists_its_items(paypal: PayPalClient) -> None:
    created = await paypal.create_payout(batch("run-1", "payee@example.com"))
    assert created.batch_header.batch_status == "PENDING"
    assert created.batch_header.sender_batch_header.sender_batch_id == "run-1"
    assert created.items == []
    read = await paypal.get_payout_batch(created.batch_header.payout_batch_id)
    assert read.batch_header.batch_status == "SUCCESS"
    (item,) = read.items
    assert item.transaction_status == "SUCCESS"
    assert item.payout_item.receiver == "payee@example.com"
    assert item.payout_item.sender_item_id == "po_0"
    assert from_money(item.payout_item.amount).amount == 1250
    assert read.batch_header.amount is not None
    assert read.batch_header.amount.value == "12.50"


async def test_an_unclaimed_item_is_returned_after_30_days(
    paypal: PayPalClient, container: Container
) -> None:
    created = await paypal.create_payout(
        batch("run-2", "paid@example.com", "nobody+unclaimed@example.com")
    )
    batch_id = created.batch_header.payout_batch_id

    async def fates() -> list[str]:
        read = await paypal.get_payout_batch(batch_id)
        return [i.transaction_status for i in read.items]

    assert await fates() == ["SUCCESS", "UNCLAIMED"]
    await shift(container, days=29.9)
    assert await fates() == ["SUCCESS", "UNCLAIMED"]
    await shift(container, days=0.2)
    assert await fates() == ["SUCCESS", "RETURNED"]


async def test_a_retried_batch_is_the_same_batch(paypal: PayPalClient, wire: Wire) -> None:
    req = batch("run-3", "payee@example.com")
    first = await paypal.create_payout(req)
    again = await paypal.create_payout(req)
    assert again.batch_header.payout_batch_id == first.batch_header.payout_batch_id
    posts = [e for e in wire.seen if e.path == "/v1/payments/payouts"]
    assert [e.headers["paypal-request-id"] for e in posts] == ["run-3", "run-3"]


async def test_a_sender_batch_id_paypal_has_seen_finds_the_original_batch(
    paypal: PayPalClient, raw: httpx.AsyncClient, wire: Wire
) -> None:
    # The first attempt reached PayPal by another path (no request id stored for it).
    token = await paypal.access_token()
    req = batch("run-4", "payee@example.com")
    r = await raw.post(
        "/v1/payments/payouts",
        content=req.model_dump_json(exclude_none=True),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    original = r.json()["batch_header"]["payout_batch_id"]
    dup = await raw.post(
        "/v1/payments/payouts",
        content=req.model_dump_json(exclude_none=True),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert dup.status_code == 400
    error = body_of(dup)
    assert error.name == "USER_BUSINESS_ERROR"
    assert error.details[0].field == "SENDER_BATCH_ID"
    found = await paypal.create_payout(req)
    assert found.batch_header.payout_batch_id == original
    assert [e.status for e in wire.seen if "payouts" in e.path] == [400, 200]


async def test_a_batch_mixing_currencies_is_refused(paypal: PayPalClient) -> None:
    req = batch("run-5", "a@example.com", "b@example.com")
    req.items[1].amount = shapes.PayoutCurrency(currency="EUR", value="1.00")
    with pytest.raises(ProviderError) as info:
        await paypal.create_payout(req)
    assert info.value.raw_code == "CURRENCY_MISMATCH"
    assert info.value.http_status == 400


async def test_payout_items_map_to_payouts_unclaimed_in_transit_then_failed(
    paypal: PayPalClient, container: Container
) -> None:
    created = await paypal.create_payout(
        batch("run-6", "ok@example.com", "x+unclaimed@example.com")
    )
    read = await paypal.get_payout_batch(created.batch_header.payout_batch_id)
    paid, waiting = (payout_from_item(i) for i in read.items)
    assert (paid.status, paid.amount, paid.currency) == ("paid", 1250, "usd")
    assert paid.arrival_date is not None
    assert paid.failure_code is None
    assert waiting.status == "in_transit"
    assert waiting.failure_code is None
    await shift(container, days=31)
    returned = payout_from_item(await paypal.get_payout_item(waiting.id))
    assert returned.status == "failed"
    assert returned.failure_code == "returned"
    assert returned.failure_message is not None
    assert "30 days" in returned.failure_message
