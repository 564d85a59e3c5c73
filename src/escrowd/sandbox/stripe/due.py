"""What the sandbox clock makes happen: authorizations expire, payouts arrive, subscriptions
renew (or end), incomplete subscriptions expire.

Objects carry ``due_at`` (sandbox time); ``run_due`` handles every object whose moment has
come, oldest first, each in its own transaction (or savepoint, inside a caller's
transaction). A handler that fails is logged and retried an hour later (sandbox time), so one
bad object cannot stall the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.logging import get_logger
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.store import Obj
from escrowd.sandbox.stripe.unit import run

log = get_logger(__name__)

#: Per call: how many objects at most (a long clock jump is worked off over several calls).
MAX_ITEMS = 500
RETRY_SECONDS = 3600


async def _expire_authorization(ctx: Ctx, pi: Obj) -> None:
    from escrowd.sandbox.stripe.resources import payments

    if pi.data["status"] != "requires_capture":
        pi.due_at = None
        ctx.store.save(pi)
        return
    ch = await ctx.store.get(pi.data["latest_charge"], type="charge", lock=True)
    payments.release(ctx, pi, ch, reason="automatic")


async def _settle_payout(ctx: Ctx, po: Obj) -> None:
    from escrowd.sandbox.stripe.resources import payouts

    payouts.settle(ctx, po)


async def _renew(ctx: Ctx, sub: Obj) -> None:
    from escrowd.sandbox.stripe.resources import billing_cycle

    await billing_cycle.renew(ctx, sub)


HANDLERS: dict[str, Callable[[Ctx, Obj], Awaitable[None]]] = {
    "payment_intent": _expire_authorization,
    "payout": _settle_payout,
    "subscription": _renew,
}


async def run_due(container: Host, *, conn: AsyncConnection | None = None) -> int:
    """Handle what is due on the sandbox clock now; returns how many objects were handled."""

    async def due(ctx: Ctx) -> list[str]:
        return await ctx.store.due_ids(ctx.now, 50)

    handled = 0
    while handled < MAX_ITEMS:
        done = 0
        for obj_id in await run(container, due, conn=conn, read_only=True):
            done += await _one(container, obj_id, conn)
        if not done:
            break
        handled += done
    return handled


async def _one(container: Host, obj_id: str, conn: AsyncConnection | None) -> int:
    joined = conn is not None

    async def work(ctx: Ctx) -> int:
        if joined:
            await ctx.store.sql.run("SAVEPOINT sandbox_due")
        try:
            handled = await _handle(ctx, obj_id)
            await ctx.store.flush()
        except BaseException:
            if joined:
                await ctx.store.sql.run("ROLLBACK TO SAVEPOINT sandbox_due")
            raise
        if joined:
            await ctx.store.sql.run("RELEASE SAVEPOINT sandbox_due")
        return handled

    try:
        return await run(container, work, conn=conn)
    except Exception:  # logged; retried later so one object cannot block the queue
        log.exception("sandbox_due_failed", object=obj_id)

        async def later(ctx: Ctx) -> None:
            await ctx.store.sql.run(
                "UPDATE sandbox_stripe_objects SET due_at = ? WHERE id = ?",
                ctx.now + RETRY_SECONDS,
                obj_id,
            )

        await run(container, later, conn=conn)
        return 0


async def _handle(ctx: Ctx, obj_id: str) -> int:
    obj = await ctx.store.get(obj_id, lock=True)
    if obj is None or obj.due_at is None or obj.due_at > ctx.now:
        return 0  # another worker got it first
    handler = HANDLERS.get(obj.type)
    if handler is None:
        obj.due_at = None
        ctx.store.save(obj)
        return 0
    ctx.account = obj.account
    await handler(ctx, obj)
    return 1
