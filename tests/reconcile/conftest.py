"""Fixtures for reconciliation: the escrow tests' app and sandbox, plus ways to make drift.

Each test moves escrowd's clock to a day of its own (``own_day``), far from other tests', so
a range reconciled over that day sees that test's objects only, though the databases are
shared. Drift is made where it happens in real life: on the provider's side through the
sandbox's own API (a dashboard refund, a reversal whose webhook never arrives), or by
editing a stored record (a payment id that the provider does not know).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from ulid import ULID

from escrowd.clock import FrozenClock
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.reconcile.service import day_start
from escrowd.sandbox.stripe import models
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    create_escrow,
)
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import Account

_SANDBOX = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


def own_day(clock: FrozenClock, n: int) -> datetime:
    """Move the clock to 01:00 UTC of a day ``n`` steps past the others' (returns its start)."""
    start = day_start(clock.now().date() + timedelta(days=400 + 5 * n))
    clock.advance(start + timedelta(hours=1) - clock.now())
    return start


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(ULID())}


async def call(ctx: Ctx, who: Account, path: str, body: dict[str, Any] | None = None) -> Any:
    r = await ctx.client.post(path, json=body or {}, headers={**who.headers, **key()})
    assert r.status_code == 200, r.text
    return r.json()


async def funded(ctx: Ctx, who: Account, allocations: list[tuple[str | None, int]]) -> Any:
    escrow = await create_escrow(ctx, who, allocations)
    body = {"payment_method": "pm_card_visa"}
    return await call(ctx, who, f"/v1/escrows/{escrow['id']}/fund", body)


async def on_sandbox(ctx: Ctx, path: str, data: dict[str, str]) -> Any:
    """A call made at the provider directly (its dashboard), not through escrowd."""
    r = await ctx.client.post(f"/sandbox/stripe/v1/{path}", data=data, headers=_SANDBOX)
    assert r.status_code == 200, r.text
    return r.json()


async def sandbox_get(ctx: Ctx, path: str, params: dict[str, str] | None = None) -> Any:
    r = await ctx.client.get(f"/sandbox/stripe/v1/{path}", params=params, headers=_SANDBOX)
    assert r.status_code == 200, r.text
    return r.json()


async def edit_sandbox_object(ctx: Ctx, object_id: str, **fields: Any) -> None:
    """Change a stored provider object (what a provider-side bug would look like)."""
    o = models.objects
    async with ctx.container.db.transaction() as s:
        data = json.loads(
            (await s.execute(select(o.c.data).where(o.c.id == object_id))).scalar_one()
        )
        data.update(fields)
        await s.execute(update(o).where(o.c.id == object_id).values(data=json.dumps(data)))
