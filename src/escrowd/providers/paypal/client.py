"""``PayPalClient``: PayPal's REST API on an ``httpx.AsyncClient``, typed both ways.

- OAuth2 client credentials, the token cached until shortly before it expires (by the injected
  clock) and fetched again once if PayPal answers 401 to a cached token (PayPal may revoke it
  early, and the sandbox's clock can run ahead of escrowd's).
- Every money-moving POST carries ``PayPal-Request-Id``: the caller's idempotency key, so a
  retry after a timeout returns the first answer instead of moving money twice.
- ``Prefer: return=representation`` so every call answers with the full object.
- Requests are built from the models in ``shapes``; responses are validated into them, and a
  response that does not fit is a provider error, not a crash further down.
- Failures become ``ProviderError`` (``errors.from_response``); a timeout after the request was
  sent is ``unknown_outcome``, never "failed".

In sandbox mode the ``httpx.AsyncClient`` carries an ASGI transport bound to escrowd's app, and
the base URL is ``/sandbox/paypal`` on it: the same code path as production, in process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from escrowd.clock import Clock
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal import errors, shapes

T = TypeVar("T", bound=BaseModel)

LIVE_BASE_URL = "https://api-m.paypal.com"
SANDBOX_BASE_URL = "https://api-m.sandbox.paypal.com"
#: Fetch a new token this long before the cached one expires, so a call never starts with a
#: token that dies in flight.
TOKEN_MARGIN = timedelta(minutes=5)

_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: datetime


class PayPalClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        clock: Clock,
        base_url: str = SANDBOX_BASE_URL,
    ) -> None:
        self._http = http
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._clock = clock
        self._base = base_url.rstrip("/")
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    # --- OAuth ---------------------------------------------------------------------------

    async def access_token(self) -> str:
        """The cached token, or a new one when it is missing or about to expire."""
        async with self._token_lock:
            token = self._token
            if token is None or self._clock.now() >= token.refresh_at:
                token = await self._fetch_token()
                self._token = token
            return token.value

    async def _fetch_token(self) -> _Token:
        response = await self._send(
            "POST",
            "/v1/oauth2/token",
            content=b"grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=self._auth,
        )
        if response.status_code != 200:
            raise errors.from_response(response)
        token = self._parse(shapes.AccessToken, response, "token response")
        lifetime = timedelta(seconds=token.expires_in)
        refresh_at = self._clock.now() + max(lifetime - TOKEN_MARGIN, lifetime / 2)
        return _Token(token.access_token, refresh_at)

    # --- Orders v2 -----------------------------------------------------------------------

    async def create_order(self, req: shapes.OrderRequest, *, request_id: str) -> shapes.Order:
        return await self._call(
            "POST", "/v2/checkout/orders", shapes.Order, body=req, request_id=request_id
        )

    async def get_order(self, order_id: str) -> shapes.Order:
        return await self._call("GET", f"/v2/checkout/orders/{_seg(order_id)}", shapes.Order)

    async def authorize_order(self, order_id: str, *, request_id: str) -> shapes.Order:
        path = f"/v2/checkout/orders/{_seg(order_id)}/authorize"
        return await self._call("POST", path, shapes.Order, request_id=request_id, empty=True)

    async def capture_order(self, order_id: str, *, request_id: str) -> shapes.Order:
        path = f"/v2/checkout/orders/{_seg(order_id)}/capture"
        return await self._call("POST", path, shapes.Order, request_id=request_id, empty=True)

    # --- Payments v2 ---------------------------------------------------------------------

    async def get_authorization(self, authorization_id: str) -> shapes.Authorization:
        path = f"/v2/payments/authorizations/{_seg(authorization_id)}"
        return await self._call("GET", path, shapes.Authorization)

    async def capture_authorization(
        self,
        authorization_id: str,
        req: shapes.CaptureAuthorizationRequest,
        *,
        request_id: str,
    ) -> shapes.Capture:
        path = f"/v2/payments/authorizations/{_seg(authorization_id)}/capture"
        return await self._call("POST", path, shapes.Capture, body=req, request_id=request_id)

    async def void_authorization(
        self, authorization_id: str, *, request_id: str
    ) -> shapes.Authorization:
        path = f"/v2/payments/authorizations/{_seg(authorization_id)}/void"
        return await self._call(
            "POST", path, shapes.Authorization, request_id=request_id, empty=True
        )

    async def get_capture(self, capture_id: str) -> shapes.Capture:
        return await self._call("GET", f"/v2/payments/captures/{_seg(capture_id)}", shapes.Capture)

    async def refund_capture(
        self, capture_id: str, req: shapes.RefundRequest, *, request_id: str
    ) -> shapes.Refund:
        path = f"/v2/payments/captures/{_seg(capture_id)}/refund"
        return await self._call("POST", path, shapes.Refund, body=req, request_id=request_id)

    async def get_refund(self, refund_id: str) -> shapes.Refund:
        return await self._call("GET", f"/v2/payments/refunds/{_seg(refund_id)}", shapes.Refund)

    # --- Payouts v1 ----------------------------------------------------------------------

    async def create_payout(self, req: shapes.PayoutRequest) -> shapes.PayoutBatch:
        """Create a batch; ``sender_batch_id`` is its idempotency key (PayPal refuses a reused
        one for 30 days). A retry whose first attempt did get through finds the original batch
        through the link PayPal's refusal carries, so the caller sees one batch either way."""
        try:
            return await self._call(
                "POST",
                "/v1/payments/payouts",
                shapes.PayoutBatch,
                body=req,
                request_id=req.sender_batch_header.sender_batch_id,
            )
        except errors.DuplicateBatchError as dup:
            return await self.get_payout_batch(dup.payout_batch_id)

    async def get_payout_batch(self, payout_batch_id: str) -> shapes.PayoutBatch:
        path = f"/v1/payments/payouts/{_seg(payout_batch_id)}"
        return await self._call("GET", path, shapes.PayoutBatch)

    async def get_payout_item(self, payout_item_id: str) -> shapes.PayoutItem:
        path = f"/v1/payments/payouts-item/{_seg(payout_item_id)}"
        return await self._call("GET", path, shapes.PayoutItem)

    # --- Disputes v1 ---------------------------------------------------------------------

    async def get_dispute(self, dispute_id: str) -> shapes.Dispute:
        path = f"/v1/customer/disputes/{_seg(dispute_id)}"
        return await self._call("GET", path, shapes.Dispute)

    async def adjudicate_dispute(
        self, dispute_id: str, req: shapes.AdjudicateRequest, *, request_id: str
    ) -> None:
        """PayPal's sandbox-only settlement of a dispute (tests and tools; never in live)."""
        path = f"/v1/customer/disputes/{_seg(dispute_id)}/adjudicate"
        await self._call("POST", path, shapes.LinksOnly, body=req, request_id=request_id)

    # --- plumbing ------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        model: type[T],
        *,
        body: BaseModel | None = None,
        request_id: str | None = None,
        empty: bool = False,
    ) -> T:
        content: bytes | None = None
        if body is not None:
            content = body.model_dump_json(exclude_none=True).encode()
        elif empty:
            content = b"{}"
        for attempt in (1, 2):
            token = await self.access_token()
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Prefer": "return=representation",
            }
            if content is not None:
                headers["Content-Type"] = "application/json"
            if request_id is not None:
                headers["PayPal-Request-Id"] = request_id
            response = await self._send(method, path, content=content, headers=headers)
            if response.status_code == 401 and attempt == 1:
                # The cached token was refused: drop it and try once with a fresh one.
                await self._forget(token)
                continue
            if response.status_code >= 400:
                raise errors.from_response(response)
            return self._parse(model, response, f"{method} {path} response")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _forget(self, token: str) -> None:
        async with self._token_lock:
            if self._token is not None and self._token.value == token:
                self._token = None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None,
        headers: dict[str, str],
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        request = self._http.build_request(
            method, self._base + path, content=content, headers=headers
        )
        try:
            if auth is not None:
                return await self._http.send(request, auth=auth)
            return await self._http.send(request)
        except httpx.RequestError as exc:
            raise errors.network(exc, may_have_reached=not isinstance(exc, _NOT_SENT)) from exc

    @staticmethod
    def _parse(model: type[T], response: httpx.Response, what: str) -> T:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise errors.malformed(what, exc) from exc

    async def aclose(self) -> None:
        await self._http.aclose()


def _seg(value: str) -> str:
    """An id as one path segment: PayPal ids are [A-Z0-9-]; anything else cannot be one."""
    if not value or not all(c.isalnum() or c in "-_" for c in value):
        raise ProviderError(
            ProviderErrorKind.invalid_request,
            f"{value!r} is not a PayPal id.",
            http_status=404,
            provider=errors.PROVIDER,
        )
    return value
