"""Fixtures for the PayPal adapter against the PayPal sandbox, in process.

- ``paypal``: a ``PayPalClient`` whose httpx client carries an ASGI transport bound to escrowd's
  own app: the adapter's real HTTP path, with only the far end of the wire in process.
- ``wire``: every exchange that client made. At the end of each test every request body it
  sent and every response body the sandbox returned is validated against the typed shapes
  (``escrowd.providers.paypal.shapes``), independently of what the adapter itself parsed.
- ``raw``: plain httpx to the sandbox, for requests the typed adapter cannot send.
- ``shift(container, days=…)``: move the sandbox clock (put back after the test).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import update

from escrowd.app import create_app
from escrowd.bootstrap import Container
from escrowd.config import (
    PAYPAL_SANDBOX_CLIENT_ID,
    PAYPAL_SANDBOX_CLIENT_SECRET,
    PAYPAL_SANDBOX_PREFIX,
)
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.client import PayPalClient
from escrowd.sandbox.stripe import clock, models

BASE_URL = f"http://escrowd.internal{PAYPAL_SANDBOX_PREFIX}"
RETURN_URL = "https://shop.example/paypal/return"
CANCEL_URL = "https://shop.example/paypal/cancel"

# (method, path pattern) -> (request body model or None, 2xx response model)
_ID = r"[A-Z0-9]+"
SHAPES: list[tuple[str, str, type[BaseModel] | None, type[BaseModel] | None]] = [
    ("POST", r"/v1/oauth2/token", None, shapes.AccessToken),
    ("POST", r"/v2/checkout/orders", shapes.OrderRequest, shapes.Order),
    ("GET", rf"/v2/checkout/orders/{_ID}", None, shapes.Order),
    ("POST", rf"/v2/checkout/orders/{_ID}/(authorize|capture)", None, shapes.Order),
    ("GET", rf"/v2/payments/authorizations/{_ID}", None, shapes.Authorization),
    (
        "POST",
        rf"/v2/payments/authorizations/{_ID}/capture",
        shapes.CaptureAuthorizationRequest,
        shapes.Capture,
    ),
    ("POST", rf"/v2/payments/authorizations/{_ID}/void", None, shapes.Authorization),
    ("GET", rf"/v2/payments/captures/{_ID}", None, shapes.Capture),
    ("POST", rf"/v2/payments/captures/{_ID}/refund", shapes.RefundRequest, shapes.Refund),
    ("GET", rf"/v2/payments/refunds/{_ID}", None, shapes.Refund),
    ("POST", r"/v1/payments/payouts", shapes.PayoutRequest, shapes.PayoutBatch),
    ("GET", rf"/v1/payments/payouts/{_ID}", None, shapes.PayoutBatch),
    ("GET", rf"/v1/payments/payouts-item/{_ID}", None, shapes.PayoutItem),
    ("GET", r"/v1/customer/disputes/[A-Za-z0-9-]+", None, shapes.Dispute),
    (
        "POST",
        r"/v1/customer/disputes/[A-Za-z0-9-]+/adjudicate",
        shapes.AdjudicateRequest,
        shapes.LinksOnly,
    ),
]
MONEY_MOVING = re.compile(
    r"/(authorize|capture|void|refund|adjudicate)$|^/v2/checkout/orders$|payouts$"
)


@dataclass
class Exchange:
    method: str
    path: str
    headers: httpx.Headers
    body: bytes
    status: int
    response: bytes


@dataclass
class Wire(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    seen: list[Exchange] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        path = request.url.path.removeprefix(PAYPAL_SANDBOX_PREFIX)
        self.seen.append(
            Exchange(request.method, path, request.headers, body, response.status_code, content)
        )
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    def to(self, path_part: str) -> list[Exchange]:
        return [e for e in self.seen if path_part in e.path]

    def check_all(self) -> None:
        for e in self.seen:
            check_exchange(e)


def check_exchange(e: Exchange) -> None:
    """One exchange against the published shapes: body sent, body received, headers."""
    found = [s for s in SHAPES if s[0] == e.method and re.fullmatch(s[1], e.path)]
    assert found, f"no shape for {e.method} {e.path}"
    _, _, request_model, response_model = found[0]
    if e.path == "/v1/oauth2/token":
        assert e.body == b"grant_type=client_credentials"
        assert e.headers["authorization"].startswith("Basic ")
    else:
        assert e.headers["authorization"].startswith("Bearer ")
    if e.method == "POST" and MONEY_MOVING.search(e.path):
        assert e.headers.get("paypal-request-id"), f"{e.path} sent no PayPal-Request-Id"
    if request_model is not None:
        request_model.model_validate_json(e.body)
    if 200 <= e.status < 300:
        if e.status != 204:
            assert response_model is not None
            response_model.model_validate_json(e.response)
    elif e.path == "/v1/oauth2/token" or e.status == 401:
        shapes.OAuthError.model_validate_json(e.response)
    else:
        error = shapes.Error.model_validate_json(e.response)
        assert error.debug_id
        assert error.name
        assert error.message
        if (400 <= e.status < 500 and e.status != 404) or error.details:
            assert error.details, e.response
            assert all(d.issue for d in error.details)


@pytest.fixture
async def app_transport(container: Container) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(container))


@pytest.fixture
async def sandbox_clock(container: Container) -> AsyncIterator[None]:
    """Tests move the shared databases' sandbox clock; put it back for the next test."""
    before = (await clock.state(container)).offset_seconds
    yield
    async with container.db.engine.begin() as conn:
        await conn.execute(update(models.clock).values(offset_seconds=before))


@pytest.fixture
async def wire(app_transport: httpx.ASGITransport, sandbox_clock: None) -> AsyncIterator[Wire]:
    recorder = Wire(app_transport)
    yield recorder
    recorder.check_all()


def make_client(
    wire: Wire, container: Container, *, secret: str = PAYPAL_SANDBOX_CLIENT_SECRET
) -> PayPalClient:
    return PayPalClient(
        httpx.AsyncClient(transport=wire),
        client_id=PAYPAL_SANDBOX_CLIENT_ID,
        client_secret=secret,
        clock=container.clock,
        base_url=BASE_URL,
    )


@pytest.fixture
async def paypal(wire: Wire, container: Container) -> AsyncIterator[PayPalClient]:
    client = make_client(wire, container)
    yield client
    await client.aclose()


@pytest.fixture
async def raw(app_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=app_transport, base_url=BASE_URL) as c:
        yield c


async def shift(container: Container, *, days: float) -> None:
    await clock.shift(container, int(days * 86400))


def body_of(r: httpx.Response) -> shapes.Error:
    return shapes.Error.model_validate(json.loads(r.content))
