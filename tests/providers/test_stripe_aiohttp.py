"""The aiohttp client that carries the adapter's calls over the network, against real sockets
on loopback: Stripe's answers come through, and a failed request says whether it may have
reached Stripe (a POST that may have: outcome unknown; one that never left: retry it)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.stripe.client import StripeAiohttpClient, make_stripe_client
from escrowd.providers.types import PaymentRequest

PAYMENT = PaymentRequest(idempotency_key="k-1", amount=5000, currency="usd")
INTENT = {
    "id": "pi_1",
    "object": "payment_intent",
    "status": "requires_payment_method",
    "amount": 5000,
    "currency": "usd",
}

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]


def _adapter(api_base: str, *, timeout: float = 0.5) -> StripeProvider:
    http = StripeAiohttpClient(timeout_seconds=timeout)
    client = make_stripe_client(api_key="sk_test_x", http=http, api_base=api_base)
    return StripeProvider(client, http=http)


@asynccontextmanager
async def stripe_at(
    serve: Serve, *, proxy: pytest.MonkeyPatch | None = None
) -> AsyncIterator[tuple[StripeProvider, list[bytes]]]:
    """An adapter whose calls go over aiohttp to a server on loopback running ``serve``;
    yields it and the first line of each request the server read (one per connection).
    With ``proxy``, the server is the HTTP proxy the environment names, and the adapter's
    calls are for a host that does not resolve: only the proxy can answer them."""
    lines: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer, lines)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    if proxy is not None:
        proxy.setenv("HTTP_PROXY", base)
        proxy.delenv("NO_PROXY", raising=False)
        proxy.delenv("no_proxy", raising=False)
    provider = _adapter("http://stripe.invalid" if proxy is not None else base)
    try:
        yield provider, lines
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader, lines: list[bytes]) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines.append(head.split(b"\r\n", 1)[0])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


async def _intent(writer: asyncio.StreamWriter) -> None:
    """Answer with the PaymentIntent, and close the connection after it."""
    payload = json.dumps(INTENT).encode()
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lines: list[bytes]
) -> None:
    head, body = await _read_request(reader, lines)
    assert head.startswith(b"POST /v1/payment_intents ")
    assert b"idempotency-key: k-1" in head.lower()
    assert b"amount=5000" in body
    await _intent(writer)


async def _hang(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lines: list[bytes]
) -> None:
    await _read_request(reader, lines)
    await asyncio.sleep(5)  # past the client's timeout: the request arrived, no answer


async def _drop(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lines: list[bytes]
) -> None:
    await _read_request(reader, lines)  # then the connection closes without an answer


async def test_a_call_goes_over_the_network_and_comes_back_mapped() -> None:
    async with stripe_at(_answer) as (provider, lines):
        payment = await provider.create_payment(PAYMENT)
        again = await provider.create_payment(PAYMENT)
    assert (payment.id, payment.amount, payment.currency) == ("pi_1", 5000, "usd")
    assert again == payment
    assert len(lines) == 2  # the server closes each connection ("Connection: close")


@pytest.mark.parametrize("serve", [_hang, _drop], ids=["no-answer", "dropped"])
async def test_a_post_that_reached_the_server_has_an_unknown_outcome(serve: Serve) -> None:
    async with stripe_at(serve) as (provider, _):
        with pytest.raises(ProviderError) as caught:
            await provider.create_payment(PAYMENT)
    assert caught.value.kind is ProviderErrorKind.unknown_outcome
    assert not caught.value.retryable
    assert "127.0.0.1" not in caught.value.message


async def test_a_post_to_a_port_nobody_listens_on_never_left_and_may_be_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        # Bound, never listening: connections are refused.
        provider = _adapter(f"http://127.0.0.1:{s.getsockname()[1]}")
        try:
            with pytest.raises(ProviderError) as caught:
                await provider.create_payment(PAYMENT)
        finally:
            await provider.aclose()
    assert (caught.value.kind, caught.value.code, caught.value.retryable) == (
        ProviderErrorKind.api,
        "api_connection_error",
        True,
    )


async def test_calls_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def proxy(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lines: list[bytes]
    ) -> None:
        await _read_request(reader, lines)
        await _intent(writer)

    async with stripe_at(proxy, proxy=monkeypatch) as (provider, lines):
        payment = await provider.create_payment(PAYMENT)
    assert payment.id == "pi_1"
    assert lines == [b"POST http://stripe.invalid/v1/payment_intents HTTP/1.1"]
