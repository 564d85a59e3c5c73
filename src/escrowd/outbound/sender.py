"""One HTTP POST to a webhook endpoint, to an address escrowd has checked.

The host name is resolved here, every address it gives is checked (``domain.address_refusal``)
and the request goes to the checked IP itself, with the name in ``Host`` and, for https, as the
TLS server name (so the certificate is still verified against the name). A name that resolves
to a public address when checked and to 127.0.0.1 a moment later (DNS rebinding) cannot get a
connection to 127.0.0.1: there is no second lookup. Proxies from the environment are not used.

Redirects are not followed: the target of a ``Location`` is an address nobody checked (a
public receiver could answer ``302 Location: http://169.254.169.254/…``). A 3xx is a failed
attempt whose error says where it pointed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from escrowd.outbound.domain import MAX_RESPONSE_CHARS, TIMEOUT, address_refusal

#: ``async (host, port) -> [address, …]``: the system resolver, unless a test gives another.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    out: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]  # an IPv6 scope id is not part of the IP
        if address not in out:
            out.append(address)
    return out


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got: a status code, or an error saying why there was none."""

    status_code: int | None
    error: str | None
    response_body: str | None
    duration_ms: int


class AddressRefusedError(Exception):
    pass


async def _address(url: httpx.URL, *, allow_private: bool, resolver: Resolver) -> str:
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise ConnectionError(f"could not resolve {host}: {exc}") from exc
    if not addresses:
        raise ConnectionError(f"{host} resolves to no address")
    if allow_private:
        return addresses[0]
    refusals = []
    for address in addresses:
        reason = address_refusal(address)
        if reason is None:
            return address
        refusals.append(reason)
    raise AddressRefusedError(
        f"address_not_allowed: {host} resolves to {'; '.join(refusals)} "
        "(ESCROWD_WEBHOOKS_ALLOW_PRIVATE is off)"
    )


async def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    allow_private: bool,
    resolver: Resolver = system_resolver,
    seconds: float = TIMEOUT.total_seconds(),
) -> Answer:
    """POST ``body`` to ``url`` once; never raises for what the network or receiver does."""
    started = time.monotonic()

    def done(
        status: int | None = None, error: str | None = None, text: str | None = None
    ) -> Answer:
        return Answer(status, error, text, int((time.monotonic() - started) * 1000))

    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        return done(error=f"invalid_url: {exc}")
    try:
        address = await asyncio.wait_for(
            _address(target, allow_private=allow_private, resolver=resolver), seconds
        )
    except AddressRefusedError as exc:
        return done(error=str(exc))
    except (ConnectionError, TimeoutError) as exc:
        return done(error=f"dns_error: {exc or 'timed out'}")
    request_headers = {**headers, "Host": target.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    pinned = target.copy_with(host=address)
    try:
        async with httpx.AsyncClient(
            trust_env=False, follow_redirects=False, timeout=seconds
        ) as client:
            request = client.build_request(
                "POST", pinned, content=body, headers=request_headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                text = await _start_of(response)
            finally:
                await response.aclose()
            return done(status=response.status_code, error=_redirect(response), text=text)
    except httpx.TimeoutException:
        return done(error=f"timeout: no answer within {seconds:g} s")
    except httpx.HTTPError as exc:
        return done(error=f"connection_error: {type(exc).__name__}: {exc}"[:500])


def _redirect(response: httpx.Response) -> str | None:
    if not 300 <= response.status_code < 400:
        return None
    location = response.headers.get("location")
    where = f" to {location[:300]}" if location else ""
    return f"redirect_not_followed: HTTP {response.status_code}{where}"


async def _start_of(response: httpx.Response) -> str:
    """The first bytes of the answer, decoded leniently: the log keeps no more."""
    limit = MAX_RESPONSE_CHARS * 4
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks.extend(chunk)
        if len(chunks) >= limit:
            break
    return chunks[:limit].decode("utf-8", "replace")[:MAX_RESPONSE_CHARS]
