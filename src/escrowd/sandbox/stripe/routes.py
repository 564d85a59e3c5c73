"""The route table: ``@api("POST", "/v1/payment_intents/{intent}/capture", {...})``, and
``retrievable("/v1/charges/{charge}", "charge")`` for a resource's plain retrieve.

Resource modules register their handlers at import. A handler gets the context, the
validated parameters and the path arguments, and returns an ``Obj`` (rendered and expanded
by the dispatcher) or a ready body (lists, balance, deleted objects).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.ids import PLATFORM
from escrowd.sandbox.stripe.params import EXPAND, LIST_PARAMS, P
from escrowd.sandbox.stripe.store import Obj

Result = Obj | dict[str, Any]
Handler = Callable[[Ctx, dict[str, Any], dict[str, str]], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    schema: Mapping[str, P]
    handler: Handler
    #: Safe to run without a write transaction (GET): no state changes, no idempotency.
    read_only: bool


#: (method, number of path segments) → routes, so a request tries only a few patterns.
_TABLE: dict[tuple[str, int], list[Route]] = {}
ROUTES: list[Route] = []


def api(
    method: str, template: str, schema: Mapping[str, P] | None = None, *, paged: bool = False
) -> Callable[[Handler], Handler]:
    full: dict[str, P] = {"expand": EXPAND, **(schema or {})}
    if paged:
        full.update(LIST_PARAMS)
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    regex = re.compile(f"^{pattern}$")

    def register(handler: Handler) -> Handler:
        route = Route(method, template, regex, full, handler, method == "GET")
        ROUTES.append(route)
        _TABLE.setdefault((method, template.count("/")), []).append(route)
        # Literal routes first: /v1/accounts/{id}/login_links before /v1/accounts/{id}/{x}.
        _TABLE[(method, template.count("/"))].sort(key=lambda r: r.template.count("{"))
        return handler

    return register


def retrievable(
    template: str, type: str, schema: Mapping[str, P] | None = None, *, platform: bool = False
) -> Handler:
    """Registers ``GET template``, the plain retrieve: the ``type`` object named by the
    template's last path argument, as the acting account sees it (or, with ``platform``, as
    the platform does: transfers and application fees live there). A 404 otherwise."""
    name = re.findall(r"\{(\w+)\}", template)[-1]

    async def retrieve(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> Result:
        return await ctx.store.require(a[name], type, account=PLATFORM if platform else ctx.account)

    return api("GET", template, schema)(retrieve)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in _TABLE.get((method, path.count("/")), ()):
        m = route.regex.match(path)
        if m is not None:
            return route, m.groupdict()
    return None


def list_body(url: str, items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": has_more, "url": url}
