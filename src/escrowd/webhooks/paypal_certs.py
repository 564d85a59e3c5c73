"""Where PayPal's signing certificates come from: one cache per escrowd process.

Real PayPal certificates are fetched over https with no redirects followed (the URL was checked,
a redirect target would not be). In sandbox mode escrowd's own sandbox certificate URL is
answered in process by the mounted PayPal sandbox: no socket, no network; with the sandbox in a
process of its own (``ESCROWD_SANDBOX_URL``) it is fetched from there.
"""

from __future__ import annotations

import weakref
from urllib.parse import urlsplit

import httpx

from escrowd.bootstrap import Container
from escrowd.config import PAYPAL_SANDBOX_CERT_PATH, PAYPAL_SANDBOX_PREFIX, ProviderMode
from escrowd.providers.paypal.webhook_signature import CertCache

#: PayPal's certificates are a few kilobytes.
_MAX_CERT_BYTES = 64 * 1024
_caches: weakref.WeakKeyDictionary[object, CertCache] = weakref.WeakKeyDictionary()


def sandbox_cert_url(container: Container) -> str | None:
    """The one extra certificate URL accepted, in sandbox mode only: where the PayPal sandbox
    serves it (escrowd itself, or the sandbox's own process at ``ESCROWD_SANDBOX_URL``)."""
    if container.settings.provider is not ProviderMode.sandbox:
        return None
    return container.settings.sandbox_public_url + PAYPAL_SANDBOX_PREFIX + PAYPAL_SANDBOX_CERT_PATH


def cache_for(container: Container) -> CertCache:
    # Keyed by the database: each container (and test) has its own sandbox certificate.
    cache = _caches.get(container.db)
    if cache is None:
        # Held weakly: the cache (a value of the weak map) must not keep its own key alive.
        ref = weakref.ref(container)

        async def fetch(url: str) -> bytes:
            owner = ref()
            if owner is None:  # pragma: no cover - the container closed mid-request
                raise RuntimeError("escrowd is shutting down")
            return await _fetch(owner, url)

        cache = CertCache(fetch)
        _caches[container.db] = cache
    return cache


async def _fetch(container: Container, url: str) -> bytes:
    own = sandbox_cert_url(container)
    if own is not None and url == own and container.sandbox is not None:
        from escrowd.sandbox.paypal.app import mounted_paypal_sandbox

        transport = httpx.ASGITransport(app=mounted_paypal_sandbox(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.internal") as c:
            response = await c.get(urlsplit(url).path)
    else:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as c:
            response = await c.get(url)
    response.raise_for_status()
    if len(response.content) > _MAX_CERT_BYTES:
        raise ValueError("certificate response too large")
    return response.content
