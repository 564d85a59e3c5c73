"""``GET /v1/events`` and ``/v1/events/{id}``: every event the sandbox recorded, newest first."""

from __future__ import annotations

import json
from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import no_such
from escrowd.sandbox.stripe.params import Bool, List, Range, Str
from escrowd.sandbox.stripe.routes import api, list_body
from escrowd.sandbox.stripe.store import RANGE_OPS

#: The PayPal sandbox queues its events in this table too (account 'paypal'): not Stripe's.
_STRIPE_ONLY = "(account IS NULL OR account <> 'paypal')"
_SELECT = "SELECT seq, data, state FROM sandbox_stripe_events"


def _body(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(row[1])
    body["pending_webhooks"] = 0 if row[2] == "delivered" else 1
    return body


@api("GET", "/v1/events/{id}")
async def retrieve(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    row = await ctx.store.sql.row(f"{_SELECT} WHERE id = ? AND {_STRIPE_ONLY}", a["id"])
    if row is None:
        raise no_such("event", a["id"])
    return _body(row)


@api(
    "GET",
    "/v1/events",
    {"type": Str(), "types": List(Str()), "created": Range(), "delivery_success": Bool()},
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    limit = p.get("limit") or 10
    where: list[str] = [_STRIPE_ONLY]
    args: list[Any] = []
    kinds = p.get("types") or ([p["type"]] if p.get("type") else [])
    if kinds:
        # Stripe's wildcard: "charge.*" matches every charge event.
        where.append(
            "(" + " OR ".join("type LIKE ?" if k.endswith("*") else "type = ?" for k in kinds) + ")"
        )
        args += [k[:-1] + "%" if k.endswith("*") else k for k in kinds]
    if "delivery_success" in p:
        where.append("state = 'delivered'" if p["delivery_success"] else "state <> 'delivered'")
    for op, value in (p.get("created") or {}).items():
        where.append(f"created {RANGE_OPS[op]} ?")
        args.append(value)
    after, before = p.get("starting_after"), p.get("ending_before")
    cursor = after or before
    if cursor:
        found = await ctx.store.sql.row(
            "SELECT seq FROM sandbox_stripe_events WHERE id = ?", cursor
        )
        if found is None:
            raise no_such("event", cursor, param="starting_after" if after else "ending_before")
        where.append("seq < ?" if after else "seq > ?")
        args.append(found[0])
    backwards = not after and bool(before)
    stmt = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    stmt += f" ORDER BY seq {'ASC' if backwards else 'DESC'} LIMIT ?"
    rows = await ctx.store.sql.rows(stmt, *args, limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return list_body("/v1/events", [_body(r) for r in rows], has_more)
