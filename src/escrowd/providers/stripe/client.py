"""The SDK client: where requests go, what carries them, and how often they are retried.

``StripeHTTPXClient`` is the SDK's ``HTTPXClient`` sending through an ``httpx.AsyncClient`` that
we build, for three reasons:

- in sandbox mode the client carries an ``httpx.ASGITransport`` bound to escrowd's own app, so
  the adapter reaches the in-process sandbox with no socket (a blocking or socket call there
  would deadlock against the server it runs in);
- a network failure must say whether the request may have reached the provider: a connect
  error means nothing happened, a read timeout means the money may have moved. The SDK turns
  both into the same ``APIConnectionError``; we record the difference (``track_delivery``);
- the SDK's own ``HTTPXClient`` hands the encoded form body to httpx as ``data=<str>``, which
  httpx deprecates (a warning on every POST); we pass it as ``content=``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from stripe import APIConnectionError, HTTPXClient, StripeClient

from escrowd.config import SANDBOX_PREFIX, SANDBOX_SECRET_KEY

if TYPE_CHECKING:
    from stripe._base_address import BaseAddresses

# The SDK logs every request's URL and every error's message at INFO (Stripe's message for a
# bad key quotes part of the key) and whole response bodies at DEBUG (emails, card details) to
# the standard "stripe" logger. escrowd logs what it needs itself, without those; the SDK's own
# stay quiet unless an operator lowers this level on purpose.
logging.getLogger("stripe").setLevel(logging.WARNING)

#: The key the sandbox checks (escrowd.config.SANDBOX_SECRET_KEY).
SANDBOX_API_KEY = SANDBOX_SECRET_KEY
#: The host is never resolved: the ASGI transport hands the request to the app in process.
SANDBOX_BASE_URL = f"http://escrowd.internal{SANDBOX_PREFIX}"

# Raised before any byte of the request left this process: the provider cannot have acted on it.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


@dataclass
class Delivery:
    """Whether any attempt of the current call may have reached the provider."""

    maybe_delivered: bool = False


_delivery: ContextVar[Delivery | None] = ContextVar("escrowd_stripe_delivery", default=None)


@contextmanager
def track_delivery() -> Iterator[Delivery]:
    """Follow one SDK call across its retries.

    The SDK retries inside one call and raises only the last failure. If the first attempt
    timed out after sending and the retry could not connect, the last error alone would say
    "never sent" -- wrong: the first attempt may have moved money. So every attempt reports here.
    """
    state = Delivery()
    token = _delivery.set(state)
    try:
        yield state
    finally:
        _delivery.reset(token)


class NetworkError(APIConnectionError):
    """An ``APIConnectionError`` that knows whether the request may have reached the provider."""

    def __init__(self, message: str, *, may_have_reached: bool) -> None:
        # Retrying is safe either way: every POST carries an Idempotency-Key.
        super().__init__(message, should_retry=True)  # type: ignore[no-untyped-call]
        self.may_have_reached = may_have_reached


class StripeHTTPXClient(HTTPXClient):
    """The SDK's httpx client, sending through an ``httpx.AsyncClient`` we own (async only)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        # The parent builds an httpx client of its own that stays unused (closed in close_async);
        # sync requests are refused, as they should be inside an async server.
        super().__init__()
        self._http = http

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        response = await self._send(method, url, headers, post_data, stream=False)
        return response.content, response.status_code, response.headers

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[AsyncIterable[bytes], int, Mapping[str, str]]:
        response = await self._send(method, url, headers, post_data, stream=True)
        return response.aiter_bytes(), response.status_code, response.headers

    async def close_async(self) -> None:
        await super().close_async()  # type: ignore[no-untyped-call]  # unannotated in the SDK
        await self._http.aclose()

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any, *, stream: bool
    ) -> httpx.Response:
        request = self._http.build_request(method, url, headers=headers, content=post_data)
        try:
            return await self._http.send(request, stream=stream)
        except httpx.RequestError as exc:
            reached = not isinstance(exc, _NOT_SENT)
            state = _delivery.get()
            if state is not None and reached:
                state.maybe_delivered = True
            # The message names the exception type only: never the URL's query or the headers.
            raise NetworkError(
                f"Network error talking to Stripe ({type(exc).__name__}).",
                may_have_reached=reached,
            ) from exc


def make_stripe_client(
    *,
    api_key: str,
    http: httpx.AsyncClient,
    api_base: str | None = None,
    max_network_retries: int = 0,
) -> StripeClient:
    """A ``StripeClient`` sending through ``http``; every base address set when ``api_base`` is.

    Leaving out any of the four base addresses would send those calls to Stripe's real hosts,
    so an override always sets all of them.
    """
    base_addresses: BaseAddresses | None = None
    if api_base:
        base = api_base.rstrip("/")
        base_addresses = {"api": base, "connect": base, "files": base, "meter_events": base}
    return StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=max_network_retries,
        http_client=StripeHTTPXClient(http),
    )
