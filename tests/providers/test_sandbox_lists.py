"""The adapter's lists (reconciliation reads them): ranges, filters, expansions and paging.

Against the in-process sandbox (checked against Stripe's spec when ESCROWD_STRIPE_OPENAPI is
set) and, for walking many pages, against a scripted Stripe that records each request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from ulid import ULID

from escrowd.clock import FrozenClock
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.types import (
    PaymentRequest,
    RefundRequest,
    TimeRange,
    TransferRequest,
    TransferReversalRequest,
)
from tests.providers.conftest import Browser, Scripted
from tests.providers.test_sandbox_connect import onboarded

T = TypeVar("T")


def key(label: str) -> str:
    return f"test:{ULID()}:{label}"


async def collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


async def test_a_days_payments_refunds_transfers_and_reversals_are_listed_with_their_money(
    sandbox: StripeProvider, browser: Browser, clock: FrozenClock
) -> None:
    payee = await onboarded(sandbox, browser)
    group = f"esc_{ULID()}"

    async def pay(amount: int) -> str:
        paid = await sandbox.create_payment(
            PaymentRequest(
                idempotency_key=key("pay"),
                amount=amount,
                currency="usd",
                payment_method="pm_card_visa",
                confirm=True,
                transfer_group=group,
                metadata={"escrow_id": group},
            )
        )
        return paid.id

    before = await pay(1000)
    clock.advance(timedelta(hours=1))
    inside = await pay(10000)
    # The sandbox's own time (escrowd's clock plus the sandbox clock's offset) dates objects.
    start = (await sandbox.retrieve_payment(inside)).created
    assert start is not None
    refund = await sandbox.create_refund(
        RefundRequest(idempotency_key=key("re"), payment_id=inside, amount=700)
    )
    charge = (await sandbox.retrieve_payment(inside)).latest_charge
    transfer = await sandbox.create_transfer(
        TransferRequest(
            idempotency_key=key("tr"),
            amount=8000,
            currency="usd",
            destination=payee.id,
            transfer_group=group,
            source_transaction=charge,
        )
    )
    reversal = await sandbox.reverse_transfer(
        TransferReversalRequest(idempotency_key=key("trr"), transfer_id=transfer.id, amount=300)
    )
    clock.advance(timedelta(hours=1))
    after = await pay(2000)
    window = TimeRange(start, start + timedelta(hours=1))

    payments = {r.payment.id: r for r in await collect(sandbox.list_payments(window))}
    assert inside in payments
    assert before not in payments
    assert after not in payments
    record = payments[inside]
    assert record.payment.metadata == {"escrow_id": group}
    assert record.charge is not None
    assert (record.charge.amount_captured, record.charge.amount_refunded) == (10000, 700)
    assert record.charge.fee == 320  # 2.9 % + 30¢, from the expanded balance transaction
    assert (await sandbox.retrieve_payment_record(inside)) == record

    refunds = await collect(sandbox.list_refunds(created=window))
    assert refund.id in {r.id for r in refunds}
    assert [r.id for r in await collect(sandbox.list_refunds(payment_id=inside))] == [refund.id]
    assert (await sandbox.retrieve_refund(refund.id)).amount == 700

    transfers = await collect(sandbox.list_transfers(transfer_group=group))
    assert [(t.id, t.amount, t.amount_reversed) for t in transfers] == [(transfer.id, 8000, 300)]
    assert transfer.id in {t.id for t in await collect(sandbox.list_transfers(created=window))}

    reversals = {r.id: r for r in await collect(sandbox.list_transfer_reversals(window))}
    assert reversals[reversal.id].amount == 300
    assert reversals[reversal.id].transfer_id == transfer.id
    reversed_transfer = reversals[reversal.id].transfer
    assert reversed_transfer is not None
    assert (reversed_transfer.transfer_group, reversed_transfer.amount_reversed) == (group, 300)
    later = TimeRange(window.lt, window.lt + timedelta(hours=1))
    assert reversal.id not in {r.id for r in await collect(sandbox.list_transfer_reversals(later))}


def _refund(n: int) -> dict[str, Any]:
    return {
        "id": f"re_{n}",
        "object": "refund",
        "amount": n,
        "currency": "usd",
        "status": "succeeded",
        "payment_intent": "pi_1",
        "charge": "ch_1",
        "created": 1_700_000_000,
        "metadata": {},
    }


async def test_a_list_walks_every_page_with_starting_after(
    scripted_stripe: Callable[..., tuple[StripeProvider, Scripted]],
) -> None:
    pages = {None: ([1, 2], True), "re_2": ([3, 4], True), "re_4": ([5], False)}

    def answer(request: httpx.Request) -> httpx.Response:
        data, more = pages[request.url.params.get("starting_after")]
        body = {"object": "list", "url": "/v1/refunds", "has_more": more}
        return httpx.Response(200, json={**body, "data": [_refund(n) for n in data]})

    provider, script = scripted_stripe(answer)
    start = FrozenClock().now()
    window = TimeRange(start, start + timedelta(days=1))
    got = await collect(provider.list_refunds(created=window))
    assert [r.amount for r in got] == [1, 2, 3, 4, 5]
    assert len(script.requests) == 3
    first = script.requests[0].url.params
    assert first["limit"] == "100"
    assert first["created[gte]"] == str(int(window.gte.timestamp()))
    assert first["created[lt]"] == str(int(window.lt.timestamp()))
    assert [r.url.params.get("starting_after") for r in script.requests] == [None, "re_2", "re_4"]
