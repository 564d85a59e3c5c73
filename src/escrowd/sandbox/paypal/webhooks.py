"""Signed PayPal webhooks from the sandbox to escrowd's ``/v1/webhooks/paypal``.

Events are queued in the Stripe sandbox's event table (``account = 'paypal'``) in the same
transaction as the state change they tell of, and delivered in process like the Stripe
sandbox's, with its retry schedule. Each delivery is signed the way PayPal signs: SHA256withRSA
over ``"<transmission id>|<time>|<webhook id>|<CRC32 of the body>"`` with
``PAYPAL_SANDBOX_WEBHOOK_ID``, by a self-signed certificate made once per database, kept in the
sandbox's objects and served at ``PAYPAL_SANDBOX_CERT_PATH``.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp

from escrowd.config import (
    PAYPAL_SANDBOX_CERT_PATH,
    PAYPAL_SANDBOX_PREFIX,
    PAYPAL_SANDBOX_WEBHOOK_ID,
)
from escrowd.providers.paypal.webhook_signature import ALGORITHM, message
from escrowd.sandbox.paypal.store import ACCOUNT, Unit, new_id, stamp
from escrowd.sandbox.stripe import models as m
from escrowd.sandbox.stripe.db import is_unique_violation
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.webhooks import Sender, claim_due, send_and_record

WEBHOOK_PATH = "/v1/webhooks/paypal"
_CERT_ID = "sandbox-webhooks"


def event_id() -> str:
    """PayPal's shape: ``WH-58D329510W468432D-8HN650336L201105X``."""
    return f"WH-{new_id(17)}-{new_id(17)}"


async def emit(
    u: Unit, event_type: str, resource_type: str, resource: dict[str, Any], summary: str
) -> None:
    """Queue one event, in the caller's transaction: it exists only if the change commits."""
    envelope = {
        "id": event_id(),
        "event_version": "1.0",
        "create_time": stamp(u.now),
        "resource_type": resource_type,
        "resource_version": "2.0",
        "event_type": event_type,
        "summary": summary,
        "resource": resource,
        "links": [],
    }
    await u.conn.execute(
        insert(m.events).values(
            id=envelope["id"],
            type=event_type,
            account=ACCOUNT,
            created=u.now,
            data=json.dumps(envelope),
            state="pending",
            attempts=0,
            next_attempt_at=0,
            last_error=None,
        )
    )


# --- the signing certificate ----------------------------------------------------------------


def _make_certificate(now: datetime) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "escrowd PayPal sandbox webhooks")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


async def credentials(host: Host) -> tuple[str, str]:
    """(certificate PEM, private key PEM), made on first use and kept in the sandbox tables."""
    base = host.settings.public_url.rstrip("/") + PAYPAL_SANDBOX_PREFIX
    async with host.db.engine.connect() as conn:
        found = await (await Unit.open(conn, host, base)).get(_CERT_ID, "cert")
    if found is not None:
        return str(found.data["pem"]), str(found.private["key"])
    cert_pem, key_pem = _make_certificate(host.clock.now())
    try:
        async with host.db.engine.begin() as conn:
            u = await Unit.open(conn, host, base)
            await u.save(u.create("cert", _CERT_ID, {"pem": cert_pem}, key=key_pem))
    except Exception as exc:
        if not (isinstance(exc, IntegrityError) or is_unique_violation(exc)):
            raise
        return await credentials(host)  # another request made it first: use theirs
    return cert_pem, key_pem


def cert_url(host: Host) -> str:
    return host.settings.public_url.rstrip("/") + PAYPAL_SANDBOX_PREFIX + PAYPAL_SANDBOX_CERT_PATH


def sign_headers(
    body: bytes,
    *,
    key_pem: str,
    url: str,
    now: datetime,
    webhook_id: str = PAYPAL_SANDBOX_WEBHOOK_ID,
    transmission_id: str | None = None,
) -> dict[str, str]:
    """PayPal's delivery headers for ``body``, signed with ``key_pem``."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    tid = transmission_id or str(uuid.uuid4())
    sent = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = key.sign(message(tid, sent, webhook_id, body), padding.PKCS1v15(), hashes.SHA256())
    return {
        "Content-Type": "application/json",
        "User-Agent": "PayPal/AUHD-214.0-58843958",
        "PAYPAL-TRANSMISSION-ID": tid,
        "PAYPAL-TRANSMISSION-TIME": sent,
        "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
        "PAYPAL-CERT-URL": url,
        "PAYPAL-AUTH-ALGO": ALGORITHM,
    }


# --- delivery ---------------------------------------------------------------------------------


async def deliver(container: Host, *, to: ASGIApp | None = None, send: Sender | None = None) -> int:
    """Send one batch of due PayPal events; returns how many were attempted."""
    if send is None and to is None:
        return 0
    rows = await claim_due(container, m.events.c.account == ACCOUNT)
    if not rows:
        return 0
    _, key_pem = await credentials(container)
    url = cert_url(container)

    def headers(body: bytes) -> dict[str, str]:
        return sign_headers(body, key_pem=key_pem, url=url, now=container.clock.now())

    return await send_and_record(
        container, rows, path=WEBHOOK_PATH, headers=headers, to=to, send=send
    )
