"""A request id on every response header and every log line of that request."""

from __future__ import annotations

import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from escrowd.ids import Prefix, new_id
from escrowd.logging import get_logger

log = get_logger("escrowd.access")

HEADER = "request-id"
_SAFE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class RequestIdMiddleware:
    """Takes a caller's ``Request-Id`` if it is safe to log, else makes a ``req_`` one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        rid = incoming if _SAFE.match(incoming) else new_id(Prefix.request)
        scope.setdefault("state", {})["request_id"] = rid

        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER.encode()]
                headers.append((b"request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(
            request_id=rid, method=scope["method"], path=scope["path"]
        ):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
