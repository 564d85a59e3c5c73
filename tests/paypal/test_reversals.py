"""PayPal's ``PAYMENT.CAPTURE.REVERSED``: PayPal takes a PayPal escrow's captured money back.

The sandbox reverses a capture (``/resolutioncenter/<capture id>/reverse``: status
``REVERSED``, a signed event); escrowd reads the capture back from PayPal, books the reversal
once as a lost chargeback, leaves to a followed PayPal dispute what that dispute books, and
moves nothing on an event PayPal contradicts.
"""

from __future__ import annotations

import json
from typing import Any

from escrowd.config import PAYPAL_SANDBOX_PREFIX
from escrowd.disputes.chargebacks import DISPUTE_COSTS, DISPUTES
from escrowd.escrows.ledgering import clearing, escrow_account
from escrowd.reconcile.service import reconcile_escrow
from escrowd.webhooks.paypal_reversals import REVERSAL_INCIDENT, UNBOOKED_INCIDENT, reversal_id
from tests.disputes.conftest import admin, chargebacks_of, escrow_of
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    container,
    ledger_balance,
    post,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.paypal.test_disputes import (
    _verified,
    held_escrow,
    incidents_seen,
    open_at_paypal,
    post_signed,
    rewritten,
    settle_at_paypal,
)
from tests.paypal.test_escrows_on_paypal import paypal_of
from tests.paypal.test_webhooks import sandbox_deliveries

PAYPAL_CLEARING = clearing("paypal")
Body = dict[str, Any]


async def reverse_at_paypal(ctx: Ctx, capture_id: str) -> None:
    r = await ctx.client.post(f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/{capture_id}/reverse")
    assert r.status_code == 200, r.text
    assert "REVERSED" in r.text


async def reversed_event(ctx: Ctx) -> Body:
    bodies: list[Body] = [
        json.loads(b)
        for b, _ in await sandbox_deliveries(ctx.container)
        if json.loads(b)["event_type"] == "PAYMENT.CAPTURE.REVERSED"
    ]
    (body,) = bodies
    return body


async def incidents_of(ctx: Ctx, kind: str) -> list[Body]:
    key = await admin(ctx)
    r = await ctx.client.get(
        "/v1/incidents", params={"kind": kind, "limit": 100}, headers=key.headers
    )
    assert r.status_code == 200, r.text
    data: list[Body] = r.json()["data"]
    return data


async def test_the_sandbox_reverses_a_completed_capture_once(ctx: Ctx) -> None:
    _, _, held = await held_escrow(ctx, 3_000)
    capture_id = held["payment"]["charge"]
    await reverse_at_paypal(ctx, capture_id)
    found = await paypal_of(ctx).client.get_capture(capture_id)
    assert found.status == "REVERSED"
    again = await ctx.client.post(f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/{capture_id}/reverse")
    assert again.status_code == 422, again.text
    body = await reversed_event(ctx)
    assert body["resource"]["id"] == capture_id
    assert body["resource"]["status"] == "REVERSED"
    assert body["resource_type"] == "capture"


async def test_a_reversal_of_a_held_escrow_is_booked_once_as_a_lost_chargeback(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    costs_before = await ledger_balance(ctx, DISPUTE_COSTS)
    clearing_before = await ledger_balance(ctx, PAYPAL_CLEARING)
    who, _, held = await held_escrow(ctx)
    escrow_id, capture_id = held["id"], held["payment"]["charge"]
    await reverse_at_paypal(ctx, capture_id)
    await settle(ctx.container)
    key = await admin(ctx)
    (row,) = await chargebacks_of(ctx, key, escrow_id)
    assert (row["provider_dispute"], row["status"], row["outcome"]) == (
        reversal_id(capture_id),
        "resolved",
        "lost",
    )
    assert (row["provider_withdrawn"], row["amount_refunded"]) == (10_000, 10_000)
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"], after["amount_released"]) == (
        "refunded",
        10_000,
        0,
    )
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert await ledger_balance(ctx, DISPUTE_COSTS) == costs_before
    # In through the capture (less PayPal's fee), out again through the reversal.
    fee = (await escrow_of(ctx, who, escrow_id))["payment"]["processing_fee"]
    assert await ledger_balance(ctx, PAYPAL_CLEARING) - clearing_before == fee
    # Reconciling it against PayPal agrees: the capture, reversed, and the money booked back.
    assert (await reconcile_escrow(ctx.container, escrow_id)).differences == []
    await _verified(ctx)


async def test_a_repeated_reversal_is_booked_once(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, _, held = await held_escrow(ctx)
    escrow_id = held["id"]
    await reverse_at_paypal(ctx, held["payment"]["charge"])
    body = await reversed_event(ctx)
    for again in (body, body, rewritten(body), rewritten(body)):
        await post_signed(ctx, again)
    key = await admin(ctx)
    (row,) = await chargebacks_of(ctx, key, escrow_id)
    assert row["provider_withdrawn"] == 10_000
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"]) == ("refunded", 10_000)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    await _verified(ctx)


async def test_a_reversal_of_a_followed_dispute_is_not_booked_twice(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, _, held = await held_escrow(ctx)
    escrow_id, capture_id = held["id"], held["payment"]["charge"]
    dispute_id = await open_at_paypal(ctx, capture_id)
    await settle(ctx.container)
    # PayPal reverses the capture while the dispute is open: the dispute owns the money.
    await reverse_at_paypal(ctx, capture_id)
    await settle(ctx.container)
    key = await admin(ctx)
    (row,) = await chargebacks_of(ctx, key, escrow_id)
    assert (row["provider_dispute"], row["status"]) == (dispute_id, "open")
    assert (await escrow_of(ctx, who, escrow_id))["status"] == "disputed"
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 10_000
    assert await ledger_balance(ctx, DISPUTES) - disputes_before == -10_000
    # The dispute's own business: no incident for an admin either.
    unbooked = await incidents_of(ctx, UNBOOKED_INCIDENT)
    assert [i for i in unbooked if i.get("subject") == escrow_id] == []
    await _verified(ctx)
    # Lost: booked once, from the dispute; the reversal's event again changes nothing.
    await settle_at_paypal(ctx, dispute_id, seller_wins=False)
    await settle(ctx.container)
    (row,) = await chargebacks_of(ctx, key, escrow_id)
    assert (row["provider_dispute"], row["outcome"], row["provider_withdrawn"]) == (
        dispute_id,
        "lost",
        10_000,
    )
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"]) == ("refunded", 10_000)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    await _verified(ctx)


async def test_a_dispute_after_a_booked_reversal_is_not_followed(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, _, held = await held_escrow(ctx)
    escrow_id, capture_id = held["id"], held["payment"]["charge"]
    await reverse_at_paypal(ctx, capture_id)
    await settle(ctx.container)
    dispute_id = await open_at_paypal(ctx, capture_id)
    await settle(ctx.container)
    await settle_at_paypal(ctx, dispute_id, seller_wins=False)
    await settle(ctx.container)
    key = await admin(ctx)
    (row,) = await chargebacks_of(ctx, key, escrow_id)
    assert row["provider_dispute"] == reversal_id(capture_id)
    after = await escrow_of(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"]) == ("refunded", 10_000)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    seen = json.dumps(await incidents_of(ctx, REVERSAL_INCIDENT))
    assert dispute_id in seen
    await _verified(ctx)


async def test_a_lying_reversal_moves_nothing(ctx: Ctx) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, _, target = await held_escrow(ctx)
    _, _, other = await held_escrow(ctx, 5_000)
    await reverse_at_paypal(ctx, other["payment"]["charge"])
    real = await reversed_event(ctx)
    target_capture = target["payment"]["charge"]
    # The target's capture, which PayPal has not reversed (still COMPLETED).
    not_reversed = rewritten(
        real,
        id=target_capture,
        amount={"currency_code": "USD", "value": "100.00"},
        supplementary_data={"related_ids": {"order_id": target["payment"]["id"]}},
    )
    # The other escrow's genuine reversal, rewritten to claim the target's order and amount:
    # PayPal's capture (the other escrow's) decides, so only the other escrow is booked.
    wrong_order = rewritten(
        real,
        amount={"currency_code": "USD", "value": "100.00"},
        supplementary_data={"related_ids": {"order_id": target["payment"]["id"]}},
    )
    # A capture PayPal does not have, and escrowd did not record.
    unknown = rewritten(real, id="9XX99999XX999999X")
    key = await admin(ctx)
    await post_signed(ctx, not_reversed)
    await post_signed(ctx, unknown)
    assert await chargebacks_of(ctx, key, target["id"]) == []
    assert await chargebacks_of(ctx, key, other["id"]) == []
    assert (await escrow_of(ctx, who, target["id"]))["status"] == "held"
    assert await ledger_balance(ctx, escrow_account(target["id"])) == 10_000
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    assert not_reversed["id"] in await incidents_seen(ctx)
    await _verified(ctx)
    await post_signed(ctx, wrong_order)
    assert await chargebacks_of(ctx, key, target["id"]) == []
    (row,) = await chargebacks_of(ctx, key, other["id"])
    assert (row["provider_dispute"], row["provider_withdrawn"]) == (
        reversal_id(other["payment"]["charge"]),
        5_000,
    )
    assert await ledger_balance(ctx, escrow_account(target["id"])) == 10_000
    assert await ledger_balance(ctx, escrow_account(other["id"])) == 0
    await _verified(ctx)


async def test_a_reversal_after_release_is_not_booked_but_an_incident_opens(
    ctx: Ctx,
) -> None:
    disputes_before = await ledger_balance(ctx, DISPUTES)
    who, _, held = await held_escrow(ctx)
    escrow_id = held["id"]
    released = await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    assert released["status"] == "released"
    await reverse_at_paypal(ctx, held["payment"]["charge"])
    await settle(ctx.container)
    key = await admin(ctx)
    assert await chargebacks_of(ctx, key, escrow_id) == []
    assert (await escrow_of(ctx, who, escrow_id))["status"] == "released"
    assert await ledger_balance(ctx, DISPUTES) == disputes_before
    (incident,) = [
        i for i in await incidents_of(ctx, UNBOOKED_INCIDENT) if i.get("subject") == escrow_id
    ]
    assert held["payment"]["charge"] in json.dumps(incident)
    await _verified(ctx)
