"""POST /v1/webhooks/stripe: only signed, recent deliveries are stored, each event once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import Clock, FrozenClock, unix
from escrowd.config import SANDBOX_WEBHOOK_SECRET, Environment, ProviderMode, Settings
from escrowd.providers.stripe.signature import compute, sign
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.inbound import MAX_BODY_BYTES, process_pending
from tests.webhooks.conftest import (
    SECRET_B,
    URL,
    Recorder,
    assert_refused,
    count_stored,
    deliver,
    encode,
    event,
    stored,
)


async def test_a_valid_delivery_is_stored_and_processed_once(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    recorder = Recorder()
    registry.register(EventKind.payment_succeeded, recorder)
    body = event("payment_intent.succeeded", account="acct_123")

    response = await deliver(client, container, body)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}
    row = await stored(container, body["id"])
    assert row is not None
    assert row.status == "received"
    assert row.raw_body == encode(body)
    assert row.type == "payment_intent.succeeded"
    assert row.kind == EventKind.payment_succeeded.value
    assert row.object_id == body["data"]["object"]["id"]
    assert row.object_type == "payment_intent"
    assert row.account == "acct_123"
    assert unix(row.event_created) == body["created"]
    assert row.received_at == container.clock.now()
    assert row.headers["stripe-signature"].startswith("t=")
    assert row.headers["content-type"].startswith("application/json")

    assert await process_pending(container, registry=registry) >= 1
    await process_pending(container, registry=registry)

    assert recorder.count(body["id"]) == 1
    [seen] = [e for e in recorder.seen if e.id == body["id"]]
    assert seen.object_id == body["data"]["object"]["id"]
    row = await stored(container, body["id"])
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == ("processed", 1, None)
    assert row.processed_at == container.clock.now()


async def test_a_delivery_signed_by_stripe_python_is_accepted(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("charge.captured", obj={"id": "ch_sdk", "object": "charge"})
    raw = encode(body)
    header = stripe.WebhookSignature.generate_signature_header(
        raw.decode(), "whsec_a", unix(container.clock.now())
    )
    response = await deliver(client, container, raw, header=header)
    assert response.status_code == 200, response.text
    assert await count_stored(container, body["id"]) == 1


async def test_a_bad_signature_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("payment_intent.succeeded")
    header = f"t={unix(container.clock.now())},v1={'0' * 64}"
    response = await deliver(client, container, body, header=header)
    assert_refused(response, "webhook_signature_invalid")
    assert "No v1 signature matches" in response.json()["error"]["message"]
    assert await count_stored(container, body["id"]) == 0


async def test_a_delivery_signed_with_a_secret_we_do_not_hold_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("payment_intent.succeeded")
    response = await deliver(client, container, body, secret="whsec_someone_else")
    assert_refused(response, "webhook_signature_invalid")
    assert await count_stored(container, body["id"]) == 0


async def test_every_configured_secret_is_accepted_during_rotation(
    client: httpx.AsyncClient, container: Container
) -> None:
    for secret in ("whsec_a", SECRET_B, SANDBOX_WEBHOOK_SECRET):
        body = event("payment_intent.processing")
        response = await deliver(client, container, body, secret=secret)
        assert response.status_code == 200, (secret, response.text)
        assert await count_stored(container, body["id"]) == 1


async def test_a_header_with_two_v1_values_is_accepted_when_one_matches(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("payment_intent.processing")
    raw, t = encode(body), unix(container.clock.now())
    header = f"t={t},v1={compute(raw, 'whsec_retired', t)},v1={compute(raw, SECRET_B, t)}"
    response = await deliver(client, container, raw, header=header)
    assert response.status_code == 200, response.text
    assert await count_stored(container, body["id"]) == 1


async def test_a_delivery_older_than_five_minutes_is_refused(
    client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    body = event("payment_intent.succeeded")
    signed_at = unix(clock.now())
    clock.advance(timedelta(seconds=301))
    response = await deliver(client, container, body, t=signed_at)
    assert_refused(response, "webhook_timestamp_out_of_tolerance")
    assert "301 s ago" in response.json()["error"]["message"]
    assert await count_stored(container, body["id"]) == 0


async def test_a_delivery_just_inside_five_minutes_is_accepted(
    client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    body = event("payment_intent.succeeded")
    signed_at = unix(clock.now())
    clock.advance(timedelta(seconds=300))
    response = await deliver(client, container, body, t=signed_at)
    assert response.status_code == 200, response.text


async def test_a_delivery_dated_in_the_future_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("payment_intent.succeeded")
    response = await deliver(client, container, body, t=unix(container.clock.now()) + 301)
    assert_refused(response, "webhook_timestamp_out_of_tolerance")
    assert await count_stored(container, body["id"]) == 0


async def test_a_tampered_body_is_refused(client: httpx.AsyncClient, container: Container) -> None:
    body = event("payment_intent.succeeded", obj={"id": "pi_1", "amount": 100})
    tampered = json.loads(json.dumps(body))
    tampered["data"]["object"]["amount"] = 100_000
    response = await deliver(client, container, tampered, signed_body=encode(body))
    assert_refused(response, "webhook_signature_invalid")
    assert await count_stored(container, body["id"]) == 0


async def test_a_delivery_without_a_signature_header_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("payment_intent.succeeded")
    response = await deliver(client, container, body, header="")
    assert_refused(response, "webhook_signature_invalid")
    assert response.json()["error"]["message"] == "No Stripe-Signature header was sent."
    assert await count_stored(container, body["id"]) == 0


async def test_a_malformed_signature_header_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("payment_intent.succeeded")
    for header in ("t=yesterday,v1=abc", "v1=abc", "nonsense", f"t={unix(container.clock.now())}"):
        response = await deliver(client, container, body, header=header)
        assert_refused(response, "webhook_signature_invalid")
    assert await count_stored(container, body["id"]) == 0


async def test_a_signed_body_that_is_not_an_event_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    response = await deliver(client, container, b"not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_payload_invalid"
    response = await deliver(client, container, {"object": "event", "type": "x", "created": 1})
    assert response.status_code == 400
    assert "no 'id'" in response.json()["error"]["message"]


async def test_a_body_over_one_mebibyte_is_refused_before_verification(
    client: httpx.AsyncClient, container: Container
) -> None:
    response = await deliver(client, container, b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "webhook_payload_too_large"


async def test_the_endpoint_needs_no_idempotency_key_and_no_bearer_token(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = event("payment_intent.canceled")
    raw = encode(body)
    headers = {"Stripe-Signature": sign(raw, "whsec_a", unix(container.clock.now()))}
    response = await client.post(URL, content=raw, headers=headers)
    assert response.status_code == 200, response.text
    assert "idempotent-replayed" not in response.headers


async def test_a_duplicate_delivery_is_acknowledged_and_ignored(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    recorder = Recorder()
    registry.register(EventKind.payment_succeeded, recorder)
    body = event("payment_intent.succeeded")

    first = await deliver(client, container, body)
    await process_pending(container, registry=registry)
    second = await deliver(client, container, body)
    await process_pending(container, registry=registry)

    assert first.json() == {"received": True}
    assert second.status_code == 200
    assert second.json() == {"received": True, "duplicate": True}
    assert await count_stored(container, body["id"]) == 1
    assert recorder.count(body["id"]) == 1


async def test_five_concurrent_duplicate_deliveries_leave_one_row_and_one_handler_run(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    recorder = Recorder()
    registry.register(EventKind.charge_refunded, recorder)
    body = event("charge.refunded", obj={"id": "ch_dup", "object": "charge"})

    responses = await asyncio.gather(*(deliver(client, container, body) for _ in range(5)))
    await asyncio.gather(*(process_pending(container, registry=registry) for _ in range(3)))

    assert [r.status_code for r in responses] == [200] * 5
    assert sum(1 for r in responses if "duplicate" not in r.json()) == 1
    assert await count_stored(container, body["id"]) == 1
    assert recorder.count(body["id"]) == 1


async def test_out_of_order_deliveries_are_both_stored_and_processed_with_their_times(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    # A handler written as the handler contract requires: never move state backwards.
    status: dict[str, tuple[int, str]] = {}
    recorder = Recorder()

    async def track(session: AsyncSession, ev: ProviderEvent, clock: Clock) -> None:
        await recorder(session, ev, clock)
        created = unix(ev.created)
        if ev.object_id and status.get(ev.object_id, (-1, ""))[0] <= created:
            status[ev.object_id] = (created, ev.kind.value)

    registry.register(EventKind.payment_succeeded, track)
    registry.register(EventKind.payment_processing, track)
    pi = {"id": "pi_out_of_order", "object": "payment_intent"}
    processing = event("payment_intent.processing", obj=pi, created=1_767_225_600)
    succeeded = event("payment_intent.succeeded", obj=pi, created=1_767_225_660)

    assert (await deliver(client, container, succeeded)).status_code == 200
    await process_pending(container, registry=registry)
    assert (await deliver(client, container, processing)).status_code == 200
    await process_pending(container, registry=registry)

    for body in (succeeded, processing):
        row = await stored(container, body["id"])
        assert row is not None
        assert row.status == "processed"
        assert unix(row.event_created) == body["created"]
    assert [e.id for e in recorder.seen if e.object_id == pi["id"]] == [
        succeeded["id"],
        processing["id"],
    ]
    assert status[pi["id"]] == (1_767_225_660, EventKind.payment_succeeded.value)


async def test_an_unknown_event_type_is_stored_acknowledged_and_ignored(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    body = event("radar.early_fraud_warning.created", obj={"id": "issfr_1", "object": "x"})
    response = await deliver(client, container, body)
    assert response.json() == {"received": True}
    await process_pending(container, registry=registry)
    row = await stored(container, body["id"])
    assert row is not None
    assert (row.kind, row.status, row.attempts) == ("unknown", "ignored", 0)
    assert row.processed_at == container.clock.now()


async def test_with_no_secret_configured_deliveries_get_a_503_so_stripe_retries(
    db_url: str, clock: FrozenClock
) -> None:
    settings = Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        provider=ProviderMode.stripe,
        stripe_secret_key="sk_test_not_used_here",
    )
    assert settings.webhook_secrets == []
    container = build(settings, clock=clock)
    try:
        app = create_app(container, background=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
            body = event("payment_intent.succeeded")
            response = await deliver(c, container, body)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "webhook_secret_not_configured"
        assert await count_stored(container, body["id"]) == 0
    finally:
        await container.close()
