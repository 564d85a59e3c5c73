"""A subscription's life on the sandbox clock: billing periods, renewals, and what paying (or
failing to pay) an invoice does to it.

A renewal bills the next period off-session with the subscription's (or the customer's
default) payment method: invoice.paid, or invoice.payment_failed and ``past_due``; a
subscription still ``past_due`` at the next renewal is canceled. ``incomplete`` ones expire
after 23 hours (``incomplete_expired``).
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.resources import invoices
from escrowd.sandbox.stripe.resources.common import DAY
from escrowd.sandbox.stripe.store import Obj as Doc

KIND = "subscription"
INCOMPLETE_SECONDS = 23 * 3600


def period_end(anchor: int, interval: str, count: int, cycles: int) -> int:
    """The end of the ``cycles``-th period after ``anchor`` (months keep the anchor's day)."""
    if interval == "day":
        return anchor + cycles * count * DAY
    if interval == "week":
        return anchor + cycles * count * 7 * DAY
    months = cycles * count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    years, month0 = divmod(start.month - 1 + months, 12)
    year = start.year + years
    day = min(start.day, monthrange(year, month0 + 1)[1])
    return int(start.replace(year=year, month=month0 + 1, day=day).timestamp())


def next_end(sub: Doc) -> int:
    rec = sub.data["items"]["data"][0]["price"]["recurring"]
    cycle = int(sub.private.get("cycle", 0)) + 1
    sub.private["cycle"] = cycle
    return period_end(
        sub.data["billing_cycle_anchor"], rec["interval"], rec["interval_count"], cycle
    )


def set_period(sub: Doc, start: int, end: int) -> None:
    d = sub.data
    d["current_period_start"], d["current_period_end"] = start, end
    items = [
        {**i, "current_period_start": start, "current_period_end": end} for i in d["items"]["data"]
    ]
    d["items"] = {**d["items"], "data": items}
    sub.due_at = end


async def default_pm(ctx: Ctx, sub: Doc) -> str | None:
    pm = sub.data["default_payment_method"]
    if pm:
        return str(pm)
    cus = await ctx.store.require(sub.data["customer"], "customer")
    found = cus.data["invoice_settings"]["default_payment_method"]
    return str(found) if found else None


async def invoice_paid(ctx: Ctx, inv: Doc, pi: Doc) -> None:
    sub = await ctx.store.require(inv.data["subscription"], KIND, lock=True)
    d = sub.data
    previous = {"status": d["status"]}
    if sub.private.get("save_default") == "on_subscription" and pi.data["payment_method"]:
        d["default_payment_method"] = pi.data["payment_method"]
    if d["status"] in ("incomplete", "past_due"):
        d["status"] = "active"
        sub.due_at = d["current_period_end"]
        ctx.store.save(sub)
        ctx.emit("customer.subscription.updated", sub, previous=previous)
    ctx.store.save(sub)


async def invoice_failed(ctx: Ctx, inv: Doc) -> None:
    sub = await ctx.store.require(inv.data["subscription"], KIND, lock=True)
    if sub.data["status"] in ("active", "trialing"):
        previous = {"status": sub.data["status"]}
        sub.data["status"] = "past_due"
        ctx.store.save(sub)
        ctx.emit("customer.subscription.updated", sub, previous=previous)


def end(ctx: Ctx, sub: Doc, status: str, *, at: int) -> None:
    d = sub.data
    previous = {"status": d["status"]}
    d.update(status=status, ended_at=at, canceled_at=d["canceled_at"] or ctx.now)
    sub.due_at = None
    ctx.store.save(sub)
    ctx.emit("customer.subscription.deleted", sub, previous=previous)


async def renew(ctx: Ctx, sub: Doc) -> None:
    """The clock passed the period end (or the 23 hours of an incomplete subscription)."""
    d = sub.data
    if d["status"] == "incomplete":
        previous = {"status": "incomplete"}
        d["status"] = "incomplete_expired"
        sub.due_at = None
        ctx.store.save(sub)
        ctx.emit("customer.subscription.updated", sub, previous=previous)
        return
    if d["status"] in ("canceled", "incomplete_expired"):
        sub.due_at = None
        ctx.store.save(sub)
        return
    if d["cancel_at_period_end"] or d["status"] == "past_due":
        end(ctx, sub, "canceled", at=d["current_period_end"])
        return
    previous = {
        "current_period_start": d["current_period_start"],
        "current_period_end": d["current_period_end"],
        "status": d["status"],
    }
    start = d["current_period_end"]
    set_period(sub, start, next_end(sub))
    if d["status"] == "trialing":
        d["status"] = "active"
    inv, pi = await invoices.create_for(
        ctx, sub, reason="subscription_cycle", start=start, end=d["current_period_end"]
    )
    d["latest_invoice"] = inv.id
    ctx.store.save(sub)
    ctx.emit("customer.subscription.updated", sub, previous=previous)
    if pi is not None:
        await invoices.attempt(ctx, pi, await default_pm(ctx, sub), off_session=True)
