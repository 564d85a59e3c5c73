"""Helpers for webhook tests: Stripe-shaped events, signed deliveries, stored rows.

- ``event(type, obj=..., created=...)`` → a minimal Stripe event dict with a unique id.
- ``await deliver(client, body, secret=..., t=...)`` → the endpoint's response to a delivery
  signed as Stripe signs it (``header=`` overrides the Stripe-Signature header entirely).
- ``await stored(container, event_id)`` → the inbound_webhook_events row, or None;
  ``await status_of(container, event_id)`` → its (status, attempts).
- ``fixtures()`` → Stripe's example objects (``resources``), or a skip when the file is absent.
- The ``settings`` fixture configures two endpoint secrets, ``whsec_a`` and ``whsec_b``.
- The ``registry`` fixture is an empty HandlerRegistry; ``Recorder`` records what handlers saw.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from escrowd.bootstrap import Container
from escrowd.clock import Clock, unix
from escrowd.config import Environment, Settings
from escrowd.providers.stripe.signature import sign
from escrowd.providers.types import ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.models import InboundWebhookEvent

SECRET_A = "whsec_a"
SECRET_B = "whsec_b"
URL = "/v1/webhooks/stripe"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        stripe_webhook_secrets=f"{SECRET_A},{SECRET_B}",
    )


@pytest.fixture
def registry() -> HandlerRegistry:
    return HandlerRegistry()


@dataclass
class Recorder:
    """A handler that remembers every event it ran for (and can be told to fail some)."""

    seen: list[ProviderEvent] = field(default_factory=list)
    fail_ids: set[str] = field(default_factory=set)

    async def __call__(self, session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
        if event.id in self.fail_ids:
            raise RuntimeError(f"handler refused {event.id}")
        self.seen.append(event)

    def count(self, event_id: str) -> int:
        return sum(1 for e in self.seen if e.id == event_id)


def new_event_id() -> str:
    return f"evt_{ULID()}"


def event(
    stripe_type: str,
    *,
    obj: dict[str, Any] | None = None,
    created: int = 1_767_225_600,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Stripe event envelope around ``obj`` (a bare payment intent when not given)."""
    body: dict[str, Any] = {
        "id": event_id or new_event_id(),
        "object": "event",
        "api_version": "2023-08-16",
        "created": created,
        "data": {"object": obj or {"id": f"pi_{ULID()}", "object": "payment_intent"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": stripe_type,
    }
    body.update(extra)
    return body


def encode(body: dict[str, Any] | bytes) -> bytes:
    # Stripe pretty-prints its bodies; signing must hold for whatever bytes were sent.
    return body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()


async def deliver(
    client: httpx.AsyncClient,
    container: Container,
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET_A,
    t: int | None = None,
    header: str | None = None,
    signed_body: bytes | None = None,
) -> httpx.Response:
    """POST a delivery signed with ``secret`` at ``t`` (default: the container's now)."""
    raw = encode(body)
    stamp = unix(container.clock.now()) if t is None else t
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0"}
    sig = header if header is not None else sign(signed_body or raw, secret, stamp)
    if sig:
        headers["Stripe-Signature"] = sig
    return await client.post(URL, content=raw, headers=headers)


async def stored(container: Container, event_id: str) -> InboundWebhookEvent | None:
    async with container.db.transaction() as s:
        q = select(InboundWebhookEvent).where(
            InboundWebhookEvent.provider == "stripe", InboundWebhookEvent.event_id == event_id
        )
        return (await s.scalars(q)).one_or_none()


async def status_of(container: Container, event_id: str) -> tuple[str, int] | None:
    """(status, attempts) of a stored event."""
    row = await stored(container, event_id)
    return None if row is None else (row.status, row.attempts)


async def count_stored(container: Container, event_id: str) -> int:
    async with container.db.transaction() as s:
        q = select(InboundWebhookEvent.id).where(InboundWebhookEvent.event_id == event_id)
        return len((await s.scalars(q)).all())


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error["param"] == "Stripe-Signature"


def fixtures_path() -> Path | None:
    explicit = os.environ.get("ESCROWD_STRIPE_FIXTURES")
    if explicit:
        return Path(explicit)
    spec = os.environ.get("ESCROWD_STRIPE_OPENAPI")
    if spec:
        return Path(spec).with_name("fixtures3.json")
    return None


@cache
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())["resources"]
    return data


def fixtures() -> dict[str, Any]:
    """Stripe's example objects by resource name; skips the test when the file is absent."""
    path = fixtures_path()
    if path is None or not path.is_file():
        pytest.skip(
            "Stripe's fixtures3.json not found: set ESCROWD_STRIPE_FIXTURES (or "
            "ESCROWD_STRIPE_OPENAPI to spec3.json beside it); Stripe publishes both in its "
            "stripe/openapi repository."
        )
    return _load(path)
