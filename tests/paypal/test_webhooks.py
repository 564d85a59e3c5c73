"""Inbound PayPal webhooks: the sandbox signs as PayPal does; escrowd verifies, stores once.

Deliveries are the sandbox's own (its queued events, signed with its certificate); the refused
cases alter one thing of a genuine delivery each. No certificate is fetched from the network:
the only URL ever fetched is escrowd's in-process sandbox certificate URL.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from escrowd.bootstrap import Container
from escrowd.providers.paypal import events as paypal_events
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import money
from escrowd.providers.paypal.client import PayPalClient
from escrowd.providers.paypal.webhook_signature import allowed_cert_url
from escrowd.providers.types import EventKind, Payment, PaymentStatus, ProviderEvent
from escrowd.sandbox.paypal import webhooks as sandbox_webhooks
from escrowd.sandbox.stripe.app import deliver_pending
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.models import InboundWebhookEvent, WebhookStatus
from escrowd.webhooks.service import process_pending
from escrowd.webhooks.verification import truth
from tests.paypal.helpers import approved_order, authorization
from tests.webhooks.conftest import Recorder

URL = "/v1/webhooks/paypal"
Delivery = tuple[bytes, dict[str, str]]


async def sandbox_deliveries(container: Container) -> list[Delivery]:
    """What the sandbox would post for every queued PayPal event, captured instead of sent."""
    seen: list[Delivery] = []

    async def capture(path: str, body: bytes, headers: dict[str, str]) -> int:
        assert path == URL
        seen.append((body, headers))
        return 200

    while await sandbox_webhooks.deliver(container, send=capture):
        pass
    return seen


def about(deliveries: list[Delivery], event_type: str, resource_id: str) -> Delivery:
    found = [
        d
        for d in deliveries
        if json.loads(d[0])["event_type"] == event_type
        and json.loads(d[0])["resource"].get("id") == resource_id
    ]
    assert len(found) == 1, [json.loads(d[0])["event_type"] for d in deliveries]
    return found[0]


async def rows(container: Container, event_id: str) -> list[InboundWebhookEvent]:
    async with container.db.transaction() as s:
        q = select(InboundWebhookEvent).where(
            InboundWebhookEvent.provider == "paypal", InboundWebhookEvent.event_id == event_id
        )
        return list((await s.scalars(q)).all())


async def approved(
    container: Container, paypal: PayPalClient, raw: httpx.AsyncClient
) -> tuple[str, Delivery]:
    order = await approved_order(paypal, raw, key=f"hook-{uuid4()}")
    return order.id, about(await sandbox_deliveries(container), "CHECKOUT.ORDER.APPROVED", order.id)


async def signed(
    container: Container, body: bytes, *, key_pem: str | None = None, **kw: Any
) -> dict[str, str]:
    """Headers as the sandbox signs them, with one thing changed by the caller."""
    own_cert, own_key = await sandbox_webhooks.credentials(container)
    del own_cert
    options: dict[str, Any] = {
        "url": sandbox_webhooks.cert_url(container),
        "now": container.clock.now(),
    }
    options.update(kw)
    return sandbox_webhooks.sign_headers(body, key_pem=key_pem or own_key, **options)


async def assert_refused(
    client: httpx.AsyncClient,
    container: Container,
    body: bytes,
    headers: dict[str, str],
    *,
    code: str = "webhook_signature_invalid",
    param: str,
) -> None:
    r = await client.post(URL, content=body, headers=headers)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"]
    assert await rows(container, json.loads(body)["id"]) == []


async def test_a_sandbox_event_is_delivered_verified_stored_and_processed(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    order = await approved_order(paypal, raw, key=f"hook-{uuid4()}")
    while await deliver_pending(container):  # the real path: signed, posted in process
        pass
    async with container.db.transaction() as s:
        q = select(InboundWebhookEvent).where(
            InboundWebhookEvent.provider == "paypal",
            InboundWebhookEvent.type == "CHECKOUT.ORDER.APPROVED",
            InboundWebhookEvent.object_id == order.id,
        )
        row = (await s.scalars(q)).one()
    assert row.event_id.startswith("WH-")
    assert row.kind == EventKind.paypal_order_approved.value
    assert row.object_type == "checkout-order"
    assert row.headers["paypal-auth-algo"] == "SHA256withRSA"
    body = json.loads(row.raw_body)
    assert body["resource"]["status"] == "APPROVED"
    assert body["summary"]
    assert body["create_time"].endswith("Z")
    while await process_pending(container):
        pass
    (settled,) = await rows(container, row.event_id)
    assert settled.status == WebhookStatus.processed.value


async def test_a_duplicate_is_acknowledged_and_processed_once(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    _, (body, headers) = await approved(container, paypal, raw)
    first = await client.post(URL, content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True}
    again = await client.post(URL, content=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    event_id = json.loads(body)["id"]
    assert len(await rows(container, event_id)) == 1

    registry = HandlerRegistry()
    recorder = Recorder()
    registry.register(EventKind.paypal_order_approved, recorder)
    while await process_pending(container, registry=registry):
        pass
    assert recorder.count(event_id) == 1
    third = await client.post(URL, content=body, headers=headers)
    assert third.json() == {"received": True, "duplicate": True}
    while await process_pending(container, registry=registry):
        pass
    assert recorder.count(event_id) == 1


async def test_authorization_capture_refund_and_void_events_are_emitted(
    container: Container, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    key = f"hook-{uuid4()}"
    auth = await authorization(paypal, raw, key=key)
    capture = await paypal.capture_authorization(
        auth.id, shapes.CaptureAuthorizationRequest(final_capture=True), request_id=key + "-cap"
    )
    refund = await paypal.refund_capture(
        capture.id, shapes.RefundRequest(amount=money(2500, "usd")), request_id=key + "-ref"
    )
    other = await authorization(paypal, raw, key=key + "-2")
    await paypal.void_authorization(other.id, request_id=key + "-void")
    seen = await sandbox_deliveries(container)
    about(seen, "PAYMENT.AUTHORIZATION.CREATED", auth.id)
    about(seen, "PAYMENT.CAPTURE.COMPLETED", capture.id)
    about(seen, "PAYMENT.CAPTURE.REFUNDED", refund.id)
    voided = about(seen, "PAYMENT.AUTHORIZATION.VOIDED", other.id)
    assert json.loads(voided[0])["resource"]["status"] == "VOIDED"


async def test_a_forged_signature_is_refused(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    _, (body, _) = await approved(container, paypal, raw)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    headers = await signed(container, body, key_pem=pem)
    await assert_refused(client, container, body, headers, param="PAYPAL-TRANSMISSION-SIG")


async def test_a_tampered_body_is_refused(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    _, (body, headers) = await approved(container, paypal, raw)
    tampered = body.replace(b'"APPROVED"', b'"COMPLETED"')
    assert tampered != body
    await assert_refused(client, container, tampered, headers, param="PAYPAL-TRANSMISSION-SIG")


async def test_a_replayed_delivery_with_an_old_timestamp_is_refused(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    _, (body, _) = await approved(container, paypal, raw)
    old = await signed(container, body, now=container.clock.now() - timedelta(minutes=6))
    await assert_refused(
        client,
        container,
        body,
        old,
        code="webhook_timestamp_out_of_tolerance",
        param="PAYPAL-TRANSMISSION-TIME",
    )


async def test_a_delivery_just_inside_the_tolerance_is_accepted(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    _, (body, _) = await approved(container, paypal, raw)
    recent = await signed(container, body, now=container.clock.now() - timedelta(minutes=4))
    r = await client.post(URL, content=body, headers=recent)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example/cert.pem",
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@evil.example/cert.pem",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://evilpaypal.com/cert.pem",
    ],
)
async def test_an_off_domain_cert_url_is_refused_before_any_fetch(
    container: Container,
    client: httpx.AsyncClient,
    paypal: PayPalClient,
    raw: httpx.AsyncClient,
    cert_url: str,
) -> None:
    _, (body, _) = await approved(container, paypal, raw)
    headers = await signed(container, body, url=cert_url)
    await assert_refused(client, container, body, headers, param="PAYPAL-CERT-URL")


async def test_an_unknown_webhook_id_is_refused(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    _, (body, _) = await approved(container, paypal, raw)
    headers = await signed(container, body, webhook_id="WH-SOMEONE-ELSES-LISTENER")
    await assert_refused(client, container, body, headers, param="PAYPAL-TRANSMISSION-SIG")


@pytest.mark.parametrize(
    "header", ["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-SIG", "PAYPAL-CERT-URL"]
)
async def test_a_missing_header_is_refused(
    container: Container,
    client: httpx.AsyncClient,
    paypal: PayPalClient,
    raw: httpx.AsyncClient,
    header: str,
) -> None:
    _, (body, headers) = await approved(container, paypal, raw)
    del headers[header]
    await assert_refused(client, container, body, headers, param=header)


async def test_another_algorithm_is_refused(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    _, (body, headers) = await approved(container, paypal, raw)
    headers["PAYPAL-AUTH-ALGO"] = "SHA1withRSA"
    await assert_refused(client, container, body, headers, param="PAYPAL-AUTH-ALGO")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.paypal.com/v1/notifications/certs/CERT-360caa42", True),
        ("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42", True),
        ("https://api-m.paypal.com/v1/notifications/certs/CERT-1", True),
        ("https://API.PayPal.com/v1/notifications/certs/CERT-1", True),
        ("https://paypal.com.evil.example/c", False),
        ("https://api.paypal.com./c", False),
        ("ftp://api.paypal.com/c", False),
        ("https://user:pw@api.paypal.com/c", False),
        ("https://[::1]/c", False),
        ("not a url", False),
    ],
)
def test_cert_urls_are_restricted_to_paypal(url: str, ok: bool) -> None:
    assert allowed_cert_url(url) is ok


def test_escrowd_s_own_sandbox_url_is_allowed_only_when_given() -> None:
    own = "http://localhost:8000/sandbox/paypal/v1/notifications/certs/CERT-sandbox-webhooks"
    assert allowed_cert_url(own) is False
    assert allowed_cert_url(own, own_sandbox_url=own) is True
    assert allowed_cert_url(own + "x", own_sandbox_url=own) is False


def test_every_paypal_kind_is_reached_by_a_paypal_type_and_only_by_one() -> None:
    paypal_kinds = {k for k in EventKind if k.value.startswith("paypal.")}
    reached = [*paypal_events.KINDS.values(), *paypal_events.PREFIXES.values()]
    assert set(reached) == paypal_kinds
    assert len(set(reached)) == len(reached)
    assert paypal_events.kind_of("PAYMENT.PAYOUTS-ITEM.UNCLAIMED") is EventKind.paypal_payouts_item
    assert paypal_events.kind_of("PAYMENT.PAYOUTSBATCH.SUCCESS") is EventKind.paypal_payouts_batch
    assert paypal_events.kind_of("BILLING.PLAN.CREATED") is EventKind.unknown


async def test_the_stripe_sandbox_neither_lists_nor_delivers_paypal_events(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    from escrowd.config import SANDBOX_SECRET_KEY
    from escrowd.sandbox.stripe.webhooks import deliver as stripe_deliver

    order = await approved_order(paypal, raw, key=f"hook-{uuid4()}")
    sent: list[bytes] = []

    async def capture(path: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(body)
        return 200

    while await stripe_deliver(container, send=capture):
        pass
    assert not [b for b in sent if order.id.encode() in b]
    listed = await client.get(
        "/sandbox/stripe/v1/events",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"},
    )
    assert listed.status_code == 200, listed.text
    assert not [e for e in listed.json()["data"] if e["id"].startswith("WH-")]
    # …while the PayPal side still has the event to deliver
    about(await sandbox_deliveries(container), "CHECKOUT.ORDER.APPROVED", order.id)


async def test_the_processor_asks_the_event_s_own_provider_for_its_objects(
    container: Container, client: httpx.AsyncClient, paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    """A PayPal event's objects are read at PayPal, not at the default (Stripe) provider, which
    has no such order and would make every PayPal event a mismatch."""
    order_id, (body, headers) = await approved(container, paypal, raw)
    r = await client.post(URL, content=body, headers=headers)
    assert r.status_code == 200, r.text
    seen: list[Payment] = []

    async def wants_the_order(session: Any, event: ProviderEvent, clock: Any) -> None:
        assert event.object_id is not None
        seen.append(truth(event, "payment_intent", event.object_id, Payment))

    registry = HandlerRegistry()
    registry.register(EventKind.paypal_order_approved, wants_the_order)
    while await process_pending(container, registry=registry):
        pass
    # (Other tests' stored events may be processed here too: only this order's is checked.)
    (order,) = [p for p in seen if p.id == order_id]
    assert order.status is PaymentStatus.requires_confirmation
    assert order.amount == 10000
    (row,) = await rows(container, json.loads(body)["id"])
    assert row.status == WebhookStatus.processed.value
