"""Stripe webhook signatures: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]``.

The signed message is ``f"{t}."`` followed by the raw request body, HMAC-SHA256 with the
endpoint's secret (``whsec_…``), hex-encoded. Stripe puts one ``v1`` per active secret while a
secret is being rolled, and may add other schemes (``v0`` in test mode) that are ignored here.

The body is signed as bytes, exactly as received: parsing and re-serializing JSON first would
change it. The timestamp is checked in both directions — a replayed old delivery and one dated
in the future (a skewed or forged clock) are both refused — unlike stripe-python, which only
refuses old ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum

DEFAULT_TOLERANCE = 300
SCHEME = "v1"
#: Twelve digits cover unix time until the year 33658; more is garbage, not a timestamp.
_MAX_TIMESTAMP_DIGITS = 12


class SignatureFailure(StrEnum):
    missing_header = "missing_header"
    malformed_header = "malformed_header"
    no_signatures = "no_signatures"
    mismatch = "mismatch"
    timestamp_too_old = "timestamp_too_old"
    timestamp_in_future = "timestamp_in_future"


_MESSAGES = {
    SignatureFailure.missing_header: "No Stripe-Signature header was sent.",
    SignatureFailure.malformed_header: (
        "The Stripe-Signature header could not be parsed; expected t=<timestamp>,v1=<signature>."
    ),
    SignatureFailure.no_signatures: "The Stripe-Signature header carries no v1 signature.",
    SignatureFailure.mismatch: (
        "No v1 signature matches the payload for any configured webhook secret."
    ),
    SignatureFailure.timestamp_too_old: "The signature's timestamp is outside the tolerance.",
    SignatureFailure.timestamp_in_future: "The signature's timestamp is in the future.",
}


class SignatureError(Exception):
    """The delivery is not provably from Stripe (or not recent); ``reason`` says why."""

    def __init__(self, reason: SignatureFailure, detail: str | None = None) -> None:
        message = _MESSAGES[reason] if detail is None else f"{_MESSAGES[reason]} {detail}"
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def is_timestamp(self) -> bool:
        return self.reason in (
            SignatureFailure.timestamp_too_old,
            SignatureFailure.timestamp_in_future,
        )


def compute(payload: bytes, secret: str, t: int) -> str:
    """The hex ``v1`` signature of ``payload`` at time ``t``."""
    return hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, t: int) -> str:
    """A ``Stripe-Signature`` header value, as Stripe would send it (tests and the sandbox)."""
    return f"t={t},{SCHEME}={compute(payload, secret, t)}"


def parse_header(header: str | None) -> tuple[int, list[str]]:
    """The timestamp and every ``v1`` signature of a header; other schemes are dropped."""
    if header is None or not header.strip():
        raise SignatureError(SignatureFailure.missing_header)
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key or not value:
            raise SignatureError(SignatureFailure.malformed_header)
        if key == "t":
            # Two timestamps would let an attacker pick which one is checked.
            if timestamp is not None or not _is_timestamp(value):
                raise SignatureError(SignatureFailure.malformed_header)
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError(SignatureFailure.malformed_header, "The t= timestamp is missing.")
    if not signatures:
        raise SignatureError(SignatureFailure.no_signatures)
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> int:
    """Check a delivery against every configured secret; returns the signed timestamp.

    Raises SignatureError. The signature is checked before the timestamp so that a timestamp
    error is only ever reported for an authentic delivery (a useful hint of clock skew or a
    replay), never to someone guessing.
    """
    if not secrets:
        raise ValueError("no webhook secret configured")
    t, signatures = parse_header(header)
    candidates = [s.encode("utf-8", "surrogateescape") for s in signatures]
    matched = False
    for secret in secrets:
        expected = compute(payload, secret, t).encode()
        # Compare against every candidate without stopping early: timing then reveals nothing
        # about which one (if any) matched.
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(SignatureFailure.mismatch)
    if t < now - tolerance:
        raise SignatureError(
            SignatureFailure.timestamp_too_old,
            f"Signed {now - t} s ago; the limit is {tolerance} s.",
        )
    if t > now + tolerance:
        raise SignatureError(
            SignatureFailure.timestamp_in_future,
            f"Signed {t - now} s ahead of our clock; the limit is {tolerance} s.",
        )
    return t


def _is_timestamp(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= _MAX_TIMESTAMP_DIGITS
