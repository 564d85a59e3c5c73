"""The Stripe and PayPal sandboxes in a process of their own (``escrowd sandbox serve``).

By default escrowd runs its sandbox in its own process. Real Stripe is remote, though: its
CPU is not escrowd's, and its webhooks arrive over the network. ``create_server_app(host,
deliver_to=…)`` serves the same two apps (the API and the hosted pages, under
``/sandbox/stripe`` and ``/sandbox/paypal``) on their own, and runs the sandbox's background
work itself: what comes due on the sandbox clock, and webhook deliveries POSTed over HTTP to
escrowd (``deliver_to``), with the same signing, batches, leases (``SKIP LOCKED``) and retry
schedule as in process. escrowd, started with ``ESCROWD_SANDBOX_URL``, calls it over HTTP and
does none of that work.

Both processes share the database: the sandbox's tables are escrowd's migrations'.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from escrowd.config import PAYPAL_SANDBOX_PREFIX, SANDBOX_PREFIX
from escrowd.logging import get_logger
from escrowd.sandbox.paypal import webhooks as paypal_webhooks
from escrowd.sandbox.paypal.app import mounted_paypal_sandbox
from escrowd.sandbox.stripe import webhooks as stripe_webhooks
from escrowd.sandbox.stripe.app import mounted_sandbox
from escrowd.sandbox.stripe.due import run_due
from escrowd.sandbox.stripe.host import Host, Standalone

log = get_logger(__name__)

#: How long one webhook POST to escrowd may take before it counts as failed (and is retried).
DELIVERY_TIMEOUT_SECONDS = 30.0
#: The pause of the background loop when a round found nothing to do.
IDLE_SECONDS = 0.2


class HttpSender:
    """Posts a delivery to escrowd over HTTP (a ``Sender``); one session, kept alive.

    aiohttp rather than httpx: a fifth of the CPU per request (escrowd's Stripe client made the
    same change), and a flow makes about five deliveries."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def __call__(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.session.post(self.base_url + path, data=body, headers=headers) as r:
            await r.read()
            return r.status


async def run_and_deliver(host: Host, send: stripe_webhooks.Sender) -> int:
    """One round of the sandbox's background work: what came due on its clock, then a batch
    of Stripe and one of PayPal webhooks; returns how many items it handled."""
    handled = await run_due(host)
    handled += await stripe_webhooks.deliver(host, send=send)
    handled += await paypal_webhooks.deliver(host, send=send)
    return handled


async def _background(host: Host, send: stripe_webhooks.Sender) -> None:
    while True:
        try:
            busy = await run_and_deliver(host, send)
        except Exception:  # a failing round must not stop the next; it is logged
            log.exception("sandbox_background_failed")
            busy = 0
        await asyncio.sleep(0 if busy else IDLE_SECONDS)


class _Prefixes:
    """Requests under a sandbox's prefix go to that sandbox (it answers under the prefix
    itself, as when escrowd mounts it); the rest, and the lifespan, to ``app``."""

    def __init__(self, app: ASGIApp, by_prefix: dict[str, ASGIApp]) -> None:
        self.app = app
        self.by_prefix = by_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            for prefix, sandbox in self.by_prefix.items():
                if path.startswith(prefix + "/"):
                    await sandbox(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _due_only(host: Host) -> None:
    """The background loop without a place to deliver to: the clock's due work only."""
    while True:
        try:
            busy = await run_due(host)
        except Exception:  # a failing round must not stop the next; it is logged
            log.exception("sandbox_background_failed")
            busy = 0
        await asyncio.sleep(0 if busy else IDLE_SECONDS)


def create_server_app(
    host: Standalone, *, deliver_to: str | None, background: bool = True
) -> ASGIApp:
    """The two sandboxes on ``host`` (whose public URL is this server's own), with the
    background loop delivering to escrowd at ``deliver_to`` while the app runs (with
    ``deliver_to=None`` the webhooks stay queued and only the clock's due work runs)."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS)
        # trust_env: proxy variables apply as they did with httpx (NO_PROXY covers loopback).
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
            task: asyncio.Task[None] | None = None
            if background and deliver_to:
                task = asyncio.create_task(_background(host, HttpSender(session, deliver_to)))
            elif background:
                task = asyncio.create_task(_due_only(host))
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
                await host.close()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def index(_: Request) -> Response:
        base = host.settings.public_url.rstrip("/")
        return PlainTextResponse(
            "escrowd sandbox (test mode, no money moves)\n"
            f"Stripe: {base}{SANDBOX_PREFIX}/v1/...\n"
            f"PayPal: {base}{PAYPAL_SANDBOX_PREFIX}/v2/...\n"
            + (
                f"webhooks go to {deliver_to.rstrip('/')}/v1/webhooks/stripe and /paypal\n"
                if deliver_to
                else "webhooks stay queued (no --deliver-to)\n"
            )
        )

    app = Starlette(routes=[Route("/healthz", healthz), Route("/", index)], lifespan=lifespan)
    return _Prefixes(
        app,
        {
            SANDBOX_PREFIX: mounted_sandbox(host),
            PAYPAL_SANDBOX_PREFIX: mounted_paypal_sandbox(host),
        },
    )
