"""The SDK client: where requests go, what carries them, and how often they are retried.

Over the network (Stripe, or the sandbox in a process of its own) requests go through
``StripeAiohttpClient``, the SDK's aiohttp client: per request it costs a fifth of the CPU of
the httpx client below (0.11 ms against 0.53-0.61 ms, measured on loopback), and a server
sends three provider calls per escrow flow. Like the httpx client, it records whether a failed
request may have reached the provider (below).

``StripeHTTPXClient`` is the SDK's ``HTTPXClient`` sending through an ``httpx.AsyncClient`` that
we build, used in process and by tests that script Stripe, for three reasons:

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
import ssl
from collections.abc import AsyncIterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import stripe
from stripe import AIOHTTPClient, APIConnectionError, HTTPXClient, StripeClient

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


def _network_error(exc: BaseException, *, reached: bool) -> NetworkError:
    """Record on the current call that the provider may have acted, and say so."""
    state = _delivery.get()
    if state is not None and reached:
        state.maybe_delivered = True
    # The message names the exception type only: never the URL's query or the headers.
    return NetworkError(
        f"Network error talking to Stripe ({type(exc).__name__}).", may_have_reached=reached
    )


# Raised before any byte of the request was written: no connection (refused, DNS, TLS, proxy),
# a connect that timed out, an address aiohttp cannot use. Anything else -- a read timeout, a
# connection lost while waiting for the answer, the total timeout (whichever phase it cut) --
# may come after the provider received the request.
_AIOHTTP_NOT_SENT: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.InvalidURL,
)
_AIOHTTP_FAILURES: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)


class StripeAiohttpClient(AIOHTTPClient):
    """The SDK's aiohttp client, with its own session (made on first use, inside the event
    loop) and errors that say whether the request may have reached the provider."""

    def __init__(self, *, timeout_seconds: float) -> None:
        # The SDK's own request path (which reads its ``timeout``) is not used: the timeout
        # travels with the session made here.
        super().__init__(timeout=None)
        self._client_timeout = aiohttp.ClientTimeout(
            total=timeout_seconds, sock_connect=timeout_seconds
        )
        self._own: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._own is None or self._own.closed:
            # The system's certificates (SSL_CERT_FILE / SSL_CERT_DIR included: a proxy that
            # inspects TLS has its own CA) and the ones the SDK itself trusts for Stripe.
            tls = ssl.create_default_context()
            tls.load_verify_locations(cafile=stripe.ca_bundle_path)
            self._own = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls),
                timeout=self._client_timeout,
                # HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as httpx (used before) honoured them: a
                # server that reaches Stripe through an egress proxy keeps doing so.
                trust_env=True,
            )
        return self._own

    async def _open(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any
    ) -> aiohttp.ClientResponse:
        try:
            return await self._session_now().request(
                method, url, headers=dict(headers), data=post_data
            )
        except _AIOHTTP_FAILURES as exc:
            raise _network_error(exc, reached=not isinstance(exc, _AIOHTTP_NOT_SENT)) from exc

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        response = await self._open(method, url, headers, post_data)
        try:
            async with response:
                body = await response.read()
        except _AIOHTTP_FAILURES as exc:
            raise _network_error(exc, reached=True) from exc
        return body, response.status, response.headers

    async def request_stream_async(  # type: ignore[override]  # the SDK annotates its own reader
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[AsyncIterable[bytes], int, Mapping[str, str]]:
        response = await self._open(method, url, headers, post_data)
        return response.content.iter_any(), response.status, response.headers

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None

    async def close_async(self) -> None:
        await self.aclose()


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
            raise _network_error(exc, reached=not isinstance(exc, _NOT_SENT)) from exc


def make_stripe_client(
    *,
    api_key: str,
    http: httpx.AsyncClient | StripeAiohttpClient,
    api_base: str | None = None,
    max_network_retries: int = 0,
) -> StripeClient:
    """A ``StripeClient`` sending through ``http`` (an httpx client, wrapped in
    ``StripeHTTPXClient``, or the aiohttp one); every base address set when ``api_base`` is.

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
        http_client=StripeHTTPXClient(http) if isinstance(http, httpx.AsyncClient) else http,
    )
