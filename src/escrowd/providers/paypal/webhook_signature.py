"""PayPal's webhook signature, checked offline with PayPal's certificate (docs/webhooks.md).

PayPal signs ``"<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>"``
with SHA256withRSA; the certificate whose key verifies it is named by ``PAYPAL-CERT-URL``. That
URL comes from the sender, so it is checked before anything is fetched: https, on PayPal's
domain (or, in sandbox mode only, escrowd's own sandbox certificate URL). Certificates are
cached by URL and checked for their validity period and, when a chain is served, that each
certificate is signed by the next one.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "ALGORITHM",
    "CertCache",
    "PayPalSignatureError",
    "allowed_cert_url",
    "crc32",
    "message",
    "verify",
]

ALGORITHM = "SHA256withRSA"
#: PayPal's API hosts, and its domain for anything else it names (PayPal's docs: the cert URL
#: must be on paypal.com).
_PAYPAL_HOSTS = frozenset({"api.paypal.com", "api.sandbox.paypal.com", "api-m.paypal.com"})
_PAYPAL_DOMAIN = ".paypal.com"
H_ID = "PAYPAL-TRANSMISSION-ID"
H_TIME = "PAYPAL-TRANSMISSION-TIME"
H_SIG = "PAYPAL-TRANSMISSION-SIG"
H_CERT = "PAYPAL-CERT-URL"
H_ALGO = "PAYPAL-AUTH-ALGO"
HEADERS = (H_ID, H_TIME, H_SIG, H_CERT, H_ALGO)

Fetch = Callable[[str], Awaitable[bytes]]


class PayPalSignatureError(Exception):
    def __init__(self, message: str, *, param: str, is_timestamp: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.is_timestamp = is_timestamp


def crc32(body: bytes) -> int:
    return zlib.crc32(body) & 0xFFFFFFFF


def message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}".encode()


def allowed_cert_url(url: str, *, own_sandbox_url: str | None = None) -> bool:
    """Only https URLs on PayPal's hosts, default port, no credentials; or escrowd's own."""
    if own_sandbox_url is not None and url == own_sandbox_url:
        return True
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return False
    if "@" in parts.netloc or not host or host.endswith("."):
        return False
    return host in _PAYPAL_HOSTS or host.endswith(_PAYPAL_DOMAIN)


@dataclass(frozen=True, slots=True)
class _Cached:
    chain: tuple[x509.Certificate, ...]


class CertCache:
    """Certificates by URL, fetched once per process (PayPal rotates them under new URLs)."""

    def __init__(self, fetch: Fetch, *, max_entries: int = 32) -> None:
        self._fetch = fetch
        self._max = max_entries
        self._certs: dict[str, _Cached] = {}

    async def chain(self, url: str) -> tuple[x509.Certificate, ...]:
        hit = self._certs.get(url)
        if hit is not None:
            return hit.chain
        try:
            pem = await self._fetch(url)
            chain = tuple(x509.load_pem_x509_certificates(pem))
        except Exception as exc:
            raise PayPalSignatureError(
                f"The certificate at PAYPAL-CERT-URL could not be loaded: {type(exc).__name__}.",
                param=H_CERT,
            ) from None
        _check_chain(chain)
        if len(self._certs) >= self._max:
            self._certs.pop(next(iter(self._certs)))
        self._certs[url] = _Cached(chain)
        return chain


def _check_chain(chain: Sequence[x509.Certificate]) -> None:
    for cert, issuer in itertools.pairwise(chain):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise PayPalSignatureError(
                "The certificate chain at PAYPAL-CERT-URL does not verify.", param=H_CERT
            ) from None


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed


async def verify(
    body: bytes,
    headers: Mapping[str, str],
    *,
    webhook_ids: Sequence[str],
    certs: CertCache,
    now: datetime,
    tolerance: int,
    own_sandbox_url: str | None = None,
) -> str:
    """Check a delivery; returns the webhook id it was signed for, else raises."""
    got = {name: headers.get(name.lower(), "") for name in HEADERS}
    for name in HEADERS:
        if not got[name]:
            raise PayPalSignatureError(f"The {name} header is missing.", param=name)
    if got[H_ALGO] != ALGORITHM:
        raise PayPalSignatureError(f"Only {ALGORITHM} signatures are accepted.", param=H_ALGO)
    try:
        sent = _parse_time(got[H_TIME])
    except ValueError:
        raise PayPalSignatureError(
            "PAYPAL-TRANSMISSION-TIME is not a date-time.", param=H_TIME
        ) from None
    skew = (now - sent).total_seconds()
    if abs(skew) > tolerance:
        raise PayPalSignatureError(
            f"Sent {int(abs(skew))} s {'ago' if skew > 0 else 'ahead of our clock'}; "
            f"the limit is {tolerance} s.",
            param=H_TIME,
            is_timestamp=True,
        )
    if not allowed_cert_url(got[H_CERT], own_sandbox_url=own_sandbox_url):
        raise PayPalSignatureError(
            "PAYPAL-CERT-URL is not an https URL on PayPal's domain.", param=H_CERT
        )
    try:
        signature = base64.b64decode(got[H_SIG], validate=True)
    except (binascii.Error, ValueError):
        raise PayPalSignatureError("PAYPAL-TRANSMISSION-SIG is not base64.", param=H_SIG) from None
    chain = await certs.chain(got[H_CERT])
    leaf = chain[0]
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise PayPalSignatureError(
            "The certificate at PAYPAL-CERT-URL is expired or not yet valid.", param=H_CERT
        )
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise PayPalSignatureError("The certificate's key is not an RSA key.", param=H_CERT)
    for webhook_id in webhook_ids:
        signed = message(got[H_ID], got[H_TIME], webhook_id, body)
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return webhook_id
    raise PayPalSignatureError(
        "No configured webhook id verifies PAYPAL-TRANSMISSION-SIG over this body.", param=H_SIG
    )
