"""The pure rules of outbound webhooks: signing, the retry schedule, which URLs and addresses
may receive deliveries, and what an answer means.

Signing follows Standard Webhooks (https://www.standardwebhooks.com): the secret is ``whsec_``
plus base64 of random bytes; the signature is ``v1,`` plus base64 of HMAC-SHA256, keyed with the
decoded bytes, over ``"{webhook-id}.{webhook-timestamp}.{body}"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from escrowd.errors import InvalidRequestError
from escrowd.events.domain import ALL_TYPES, EventType, matching

SECRET_PREFIX: Final = "whsec_"  # noqa: S105  (a prefix, not a secret)
#: 32 random bytes: inside the 24–64 the scheme asks for.
SECRET_BYTES: Final = 32

#: The wait before each attempt: Svix's proven schedule (immediately, 5 s, 5 min, 30 min, 2 h,
#: 5 h, 10 h, 10 h), then every 10 hours until about three days have passed (the last attempt is
#: 77 h 35 min after the first): a receiver down over a long weekend still gets its events.
SCHEDULE: Final[tuple[timedelta, ...]] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *(timedelta(hours=10),) * 7,
)
MAX_ATTEMPTS: Final = len(SCHEDULE)
#: How long one attempt may take, connecting included.
TIMEOUT: Final = timedelta(seconds=15)
#: How much of a receiver's answer the delivery log keeps.
MAX_RESPONSE_CHARS: Final = 1000
MAX_URL: Final = 2048
MAX_EVENT_FILTERS: Final = 50
ALL_EVENTS: Final = "*"


class EndpointStatus(StrEnum):
    enabled = "enabled"
    disabled = "disabled"


class DeliveryStatus(StrEnum):
    #: An attempt is due (the first, a retry, or an admin's redelivery).
    pending = "pending"
    #: The endpoint answered 2xx.
    delivered = "delivered"
    #: Out of attempts, the endpoint answered 410, or it was disabled meanwhile.
    failed = "failed"


class Outcome(StrEnum):
    delivered = "delivered"
    #: 410 Gone: the receiver says the endpoint is no more; it is disabled.
    gone = "gone"
    retry = "retry"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value for one message."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def outcome(status_code: int | None) -> Outcome:
    """What an attempt's answer means; ``None``: no answer (refused, timed out, unreachable)."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome.delivered
    if status_code == 410:
        return Outcome.gone
    return Outcome.retry


def wait_before(attempt: int) -> timedelta:
    """The wait before scheduled attempt number ``attempt`` (from 1)."""
    return SCHEDULE[attempt - 1]


# ---- addresses ------------------------------------------------------------------------------


def address_refusal(address: str) -> str | None:
    """Why escrowd will not connect to this IP address, or None when it is a public one.

    Loopback, private, link-local (cloud metadata at 169.254.169.254), shared, multicast,
    reserved and unspecified addresses are all refused: a webhook URL must not let whoever
    sets it reach the operator's own network.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for label, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return f"{address} is a {label} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


# ---- what an endpoint may be set to ---------------------------------------------------------


def check_url(url: str, *, require_https: bool, allow_private: bool) -> str:
    """The URL, if it may receive webhooks; otherwise 400 with ``param="url"``.

    A host name is not resolved here: what it resolves to is checked each time escrowd
    connects (a name can point elsewhere later). An IP address is checked now as well.
    """

    def refuse(message: str, code: str = "url_invalid") -> InvalidRequestError:
        return InvalidRequestError(message, code=code, param="url")

    if len(url) > MAX_URL:
        raise refuse(f"The URL is longer than {MAX_URL} characters.")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise refuse("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise refuse(f"Invalid URL: {exc}.") from None
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed:
        raise refuse(
            "The URL must start with https://"
            + ("" if require_https else " (or http:// outside production)")
            + f"; got '{parts.scheme or url}'."
        )
    host = parts.hostname
    if not host:
        raise refuse("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise refuse("Put no credentials in the URL; verify escrowd's signature instead.")
    if parts.fragment:
        raise refuse("The URL may not have a #fragment.")
    if port == 0:
        raise refuse("The URL's port must be 1 to 65535.")
    literal = _ip_literal(host)
    if literal is not None and not allow_private:
        reason = address_refusal(literal)
        if reason is not None:
            raise refuse(
                f"Webhooks are not delivered to {reason}. Use a public address (an operator "
                "may allow private ones with ESCROWD_WEBHOOKS_ALLOW_PRIVATE=true).",
                code="url_not_allowed",
            )
    return url


def check_filters(filters: Sequence[str]) -> list[str]:
    """The endpoint's event filter: ``*``, types, or prefixes ending in ``*``; 400 otherwise."""
    if not filters:
        raise InvalidRequestError(
            "Name at least one event type, or ['*'] for all of them.",
            param="enabled_events",
        )
    if len(filters) > MAX_EVENT_FILTERS:
        raise InvalidRequestError(
            f"enabled_events may name at most {MAX_EVENT_FILTERS} entries.",
            param="enabled_events",
        )
    out: list[str] = []
    for name in filters:
        if name != ALL_EVENTS and not matching(name):
            raise InvalidRequestError(
                f"No event type matches '{name}'. Give '*', a type such as escrow.funded or "
                f"a prefix such as escrow.*; known types: {', '.join(ALL_TYPES)}.",
                code="event_type_unknown",
                param="enabled_events",
            )
        if name not in out:
            out.append(name)
    return out


def wants(filters: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint with these filters receives events of this type."""
    try:
        kind = EventType(event_type)
    except ValueError:
        return False
    return any(f == ALL_EVENTS or kind in matching(f) for f in filters)
