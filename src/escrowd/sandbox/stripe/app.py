"""The sandbox as an ASGI app, mounted by escrowd at ``/sandbox/stripe`` in sandbox mode.

- ``create_sandbox_app(core)``: Stripe's API under ``/v1/...`` plus the hosted test pages;
  ``mounted_sandbox(core)`` the same, answering under ``/sandbox/stripe`` (what the composition
  root hands the provider and ``create_app`` serves).
- ``deliver_pending(container)``: a background step: runs what the sandbox clock made due, then
  sends pending webhooks to escrowd's endpoint; returns how many items it handled.

API requests skip the framework's routing and middleware: they go straight from the ASGI
call to the dispatcher (the emulator's speed is a design target, DESIGN §8). The hosted HTML
pages are ordinary routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from escrowd.config import SANDBOX_PREFIX
from escrowd.sandbox.stripe import resources
from escrowd.sandbox.stripe.dispatch import Dispatcher, Incoming
from escrowd.sandbox.stripe.due import run_due
from escrowd.sandbox.stripe.host import DeliveringHost, Host
from escrowd.sandbox.stripe.hosted import install as install_hosted
from escrowd.sandbox.stripe.webhooks import Sender, deliver

__all__ = [
    "SandboxApp",
    "create_sandbox_app",
    "deliver_pending",
    "mounted_sandbox",
    "run_due",
]


resources.load()
_METHODS = frozenset({"GET", "POST", "DELETE"})


class SandboxApp(FastAPI):
    """FastAPI for the hosted pages, a direct path for ``/v1/…`` API calls."""

    def __init__(self, container: Host, **kwargs: Any) -> None:
        super().__init__(docs_url=None, redoc_url=None, openapi_url=None, **kwargs)
        self.dispatcher = Dispatcher(container)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path.startswith("/v1/"):
                await self._api(scope, path, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _api(self, scope: Scope, path: str, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = b""
        if method == "POST":
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
        if method not in _METHODS:
            method = "UNSUPPORTED"
        state = scope.get("state") or {}
        reply = await self.dispatcher.handle(
            Incoming(
                method=method,
                path=path,
                query=scope.get("query_string", b"").decode("latin-1"),
                body=body,
                authorization=headers.get("authorization"),
                account=headers.get("stripe-account"),
                idempotency_key=headers.get("idempotency-key"),
                # escrowd's request-id middleware names the request; keep one id for both.
                request_id=state.get("request_id"),
            )
        )
        payload = reply.body.encode()
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
        start: Message = {"type": "http.response.start", "status": reply.status, "headers": raw}
        await send(start)
        await send({"type": "http.response.body", "body": payload})


def create_sandbox_app(container: Host) -> FastAPI:
    app = SandboxApp(container)
    install_hosted(app, container)
    return app


class Mounted:
    """The sandbox under ``/sandbox/stripe``: the scope a ``Mount`` would give it (full path,
    ``root_path`` extended by the prefix), without a router in front."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            scope = {**scope, "root_path": root + self.prefix, "app_root_path": root}
        await self.app(scope, receive, send)


def mounted_sandbox(container: Host) -> ASGIApp:
    """The sandbox app, for requests whose path starts with :data:`SANDBOX_PREFIX`."""
    return Mounted(create_sandbox_app(container), SANDBOX_PREFIX)


async def deliver_pending(container: DeliveringHost, *, send: Sender | None = None) -> int:
    """Run what came due on the sandbox clock, then deliver pending webhooks (bounded batch)
    to escrowd's webhook endpoint in process (or with ``send``)."""
    from escrowd.sandbox.paypal import webhooks as paypal_webhooks  # it builds on this package

    handled = await run_due(container)
    handled += await deliver(container, to=container.webhook_intake, send=send)
    if send is None:  # a custom sender is a Stripe test's: it sees Stripe's events only
        handled += await paypal_webhooks.deliver(container, to=container.webhook_intake)
    return handled
