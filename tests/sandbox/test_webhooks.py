"""Events and their signed delivery to escrowd's ``/v1/webhooks/stripe``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import stripe

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.config import SANDBOX_WEBHOOK_SECRET
from escrowd.sandbox.stripe import webhooks
from escrowd.sandbox.stripe.app import deliver_pending
from tests.sandbox.conftest import Api, Inbox, captured_charge


async def _drain(container: Container, inbox: Inbox) -> None:
    while await deliver_pending(container, send=inbox):
        pass


async def test_events_are_delivered_signed_as_stripe_signs_them(
    api: Api, container: Container
) -> None:
    pi = await captured_charge(api, 3000)
    inbox = Inbox()
    await _drain(container, inbox)
    assert inbox.types_for(pi["id"]) == ["payment_intent.created", "payment_intent.succeeded"]
    mine = [(b, h) for b, h in inbox.received if pi["id"].encode() in b]
    assert mine
    for body, headers in mine:
        event = stripe.Webhook.construct_event(
            body.decode(), headers["Stripe-Signature"], SANDBOX_WEBHOOK_SECRET
        )
        assert event.id.startswith("evt_")
    types = {e["type"] for e in inbox.events() if pi["id"] in str(e["data"]["object"])}
    assert {"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"} <= types
    event_id = next(e["id"] for e in inbox.events() if e["data"]["object"]["id"] == pi["id"])
    fetched = await api.ok("GET", f"/v1/events/{event_id}")
    assert fetched["pending_webhooks"] == 0


class SlowInbox(Inbox):
    """An inbox that answers only after yielding a few times, counting the deliveries it
    holds at once."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = 0
        self.most = 0

    async def __call__(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        self.holding += 1
        self.most = max(self.most, self.holding)
        for _ in range(5):
            await asyncio.sleep(0)
        self.holding -= 1
        return await super().__call__(path, body, headers)


async def test_deliveries_go_several_at_once_and_each_objects_in_order(
    api: Api, container: Container
) -> None:
    await _drain(container, Inbox())  # what earlier tests left
    intents = [await captured_charge(api, 1000 + i) for i in range(12)]
    inbox = SlowInbox()
    await _drain(container, inbox)
    assert 1 < inbox.most <= webhooks.IN_FLIGHT
    for pi in intents:
        assert inbox.types_for(pi["id"]) == ["payment_intent.created", "payment_intent.succeeded"]


async def test_a_failed_delivery_is_retried_later(
    api: Api, container: Container, clock: FrozenClock
) -> None:
    cus = await api.customer()
    down = Inbox(status=503)
    await _drain(container, down)
    assert cus["id"] in {e["data"]["object"]["id"] for e in down.events()}
    up = Inbox()
    await _drain(container, up)
    assert cus["id"] not in {e["data"]["object"]["id"] for e in up.events()}  # not yet due
    clock.advance(timedelta(seconds=6))
    await _drain(container, up)
    assert "customer.created" in up.types_for(cus["id"])


async def test_events_list_by_type_and_carry_the_object_and_changes(api: Api) -> None:
    cus = await api.customer()
    await api.ok("POST", f"/v1/customers/{cus['id']}", {"email": "new@example.com"})
    listed = await api.ok("GET", "/v1/events", {"type": "customer.*", "limit": "10"})
    mine = [e for e in listed["data"] if e["data"]["object"]["id"] == cus["id"]]
    assert [e["type"] for e in mine] == ["customer.updated", "customer.created"]
    updated = mine[0]
    assert updated["data"]["previous_attributes"]["email"] == "payer@example.com"
    assert updated["api_version"]
    assert updated["object"] == "event"
