"""The certificate checks of PayPal's webhook scheme, with certificates made here (no network)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from escrowd.bootstrap import Container
from escrowd.config import Environment, ProviderMode, Settings
from escrowd.providers.paypal.webhook_signature import (
    CertCache,
    PayPalSignatureError,
    crc32,
    message,
    verify,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
URL = "https://api.paypal.com/v1/notifications/certs/CERT-test"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    key: rsa.RSAPrivateKey,
    *,
    name: str,
    issuer: str | None = None,
    issuer_key: rsa.RSAPrivateKey | None = None,
    start: datetime = NOW - timedelta(days=30),
    end: datetime = NOW + timedelta(days=30),
) -> x509.Certificate:
    def n(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    return (
        x509.CertificateBuilder()
        .subject_name(n(name))
        .issuer_name(n(issuer or name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(issuer_key or key, hashes.SHA256())
    )


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _headers(key: rsa.RSAPrivateKey, body: bytes, webhook_id: str = "WH1") -> dict[str, str]:
    sent = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = key.sign(message("tid-1", sent, webhook_id, body), padding.PKCS1v15(), hashes.SHA256())
    return {
        "paypal-transmission-id": "tid-1",
        "paypal-transmission-time": sent,
        "paypal-transmission-sig": base64.b64encode(sig).decode(),
        "paypal-cert-url": URL,
        "paypal-auth-algo": "SHA256withRSA",
    }


class Fetcher:
    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.calls = 0

    async def __call__(self, url: str) -> bytes:
        assert url == URL
        self.calls += 1
        return self.pem


async def _verify(body: bytes, headers: dict[str, str], cache: CertCache) -> str:
    return await verify(
        body, headers, webhook_ids=["WH0", "WH1"], certs=cache, now=NOW, tolerance=300
    )


def test_crc32_is_the_unsigned_decimal_of_the_body() -> None:
    assert crc32(b"") == 0
    assert crc32(b"hello") == 907060870
    assert message("a", "t", "WH", b"hello") == b"a|t|WH|907060870"


async def test_a_valid_signature_names_its_webhook_id_and_the_cert_is_fetched_once() -> None:
    key = _key()
    fetch = Fetcher(_pem(_cert(key, name="messageverificationcerts.paypal.com")))
    cache = CertCache(fetch)
    body = b'{"id": "WH-1"}'
    assert await _verify(body, _headers(key, body), cache) == "WH1"
    assert await _verify(body, _headers(key, body), cache) == "WH1"
    assert fetch.calls == 1


async def test_an_expired_certificate_is_refused() -> None:
    key = _key()
    old = _cert(key, name="old", start=NOW - timedelta(days=60), end=NOW - timedelta(seconds=1))
    body = b"{}"
    with pytest.raises(PayPalSignatureError) as refused:
        await _verify(body, _headers(key, body), CertCache(Fetcher(_pem(old))))
    assert refused.value.param == "PAYPAL-CERT-URL"
    assert "expired" in refused.value.message


async def test_a_chain_whose_leaf_the_next_certificate_did_not_sign_is_refused() -> None:
    leaf_key, ca_key, other_key = _key(), _key(), _key()
    ca = _cert(ca_key, name="ca")
    signed_by_ca = _cert(leaf_key, name="leaf", issuer="ca", issuer_key=ca_key)
    signed_by_other = _cert(leaf_key, name="leaf", issuer="ca", issuer_key=other_key)
    body = b"{}"
    ok = CertCache(Fetcher(_pem(signed_by_ca, ca)))
    assert await _verify(body, _headers(leaf_key, body), ok) == "WH1"
    with pytest.raises(PayPalSignatureError) as refused:
        await _verify(body, _headers(leaf_key, body), CertCache(Fetcher(_pem(signed_by_other, ca))))
    assert refused.value.param == "PAYPAL-CERT-URL"


async def test_a_url_serving_no_certificate_is_refused() -> None:
    key = _key()
    with pytest.raises(PayPalSignatureError) as refused:
        await _verify(b"{}", _headers(key, b"{}"), CertCache(Fetcher(b"<html>not a cert</html>")))
    assert refused.value.param == "PAYPAL-CERT-URL"


@pytest.mark.parametrize("webhook_id", ["", "WH-LIVE"])
async def test_outside_sandbox_mode_the_sandbox_s_id_and_cert_url_are_not_accepted(
    db_url: str, container: Container, webhook_id: str
) -> None:
    from escrowd.app import create_app
    from escrowd.bootstrap import build
    from escrowd.sandbox.paypal.webhooks import cert_url, sign_headers

    settings = Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        provider=ProviderMode.stripe,
        stripe_secret_key="sk_test_not_used",
        paypal_webhook_id=webhook_id,
    )
    live = build(settings, clock=container.clock)
    key = _key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    body = b'{"id": "WH-NOT-STORED"}'
    headers = sign_headers(body, key_pem=key.decode(), url=cert_url(live), now=live.clock.now())
    try:
        transport = httpx.ASGITransport(app=create_app(live))
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
            r = await c.post("/v1/webhooks/paypal", content=body, headers=headers)
    finally:
        await live.close()
    error = r.json()["error"]
    if webhook_id:
        assert r.status_code == 400
        assert error["param"] == "PAYPAL-CERT-URL"
    else:  # no listener configured: PayPal should retry until the operator sets one
        assert r.status_code == 503
        assert error["code"] == "webhook_secret_not_configured"
