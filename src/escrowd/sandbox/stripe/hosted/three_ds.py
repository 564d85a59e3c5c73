"""The hosted 3-D Secure page: "Complete" or "Fail" the authentication of a PaymentIntent or
SetupIntent in ``requires_action``, then back to the intent's ``return_url``."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import CardError
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.hosted.html import escape, form_fields, page, redirect, safe_url
from escrowd.sandbox.stripe.resources.payment_methods import card_of
from escrowd.sandbox.stripe.store import Obj
from escrowd.sandbox.stripe.unit import run

PATH = "/3ds/{intent}"


@dataclass(frozen=True, slots=True)
class _Seen:
    intent: str
    kind: str
    status: str
    what: str
    brand: str
    last4: str
    client_secret: str
    return_url: str | None


async def _pending(ctx: Ctx, intent_id: str, secret: str) -> tuple[Obj, Obj] | None:
    kind = "setup_intent" if intent_id.startswith("seti_") else "payment_intent"
    intent = await ctx.store.get(intent_id, type=kind, lock=True)
    if intent is None or intent.data["status"] != "requires_action":
        return None
    auth = intent.private.get("auth") or {}
    if not hmac.compare_digest(str(auth.get("token", "")), secret):
        return None
    pm = await ctx.store.get(auth["pm"], type="payment_method", lock=True)
    return (intent, pm) if pm is not None else None


def _seen(intent: Obj, pm: Obj) -> _Seen:
    d = intent.data
    what = f"{d['amount']} {d['currency'].upper()} (minor units)" if "amount" in d else "card setup"
    card = pm.data["card"]
    return _Seen(
        intent.id,
        intent.type,
        d["status"],
        what,
        card["brand"],
        card["last4"],
        d["client_secret"],
        safe_url(intent.private.get("return_url")),
    )


def _gone() -> Response:
    return page(
        "Authentication not available",
        "<p>This 3-D Secure challenge is finished, expired or unknown.</p>",
        status=404,
    )


async def _decide(ctx: Ctx, intent: Obj, pm: Obj, complete: bool) -> bool:
    from escrowd.sandbox.stripe.resources import invoices, payments, setup_intents

    ctx.account = intent.account
    if intent.type == "setup_intent":
        if complete:
            setup_intents.succeed(ctx, intent, pm)
        else:
            setup_intents.fail_authentication(ctx, intent, pm)
        return complete
    if complete:
        try:
            await payments.authorize(ctx, intent, pm, card_of(pm), authenticated=True)
        except CardError:
            return False  # a card that declines after authentication; its state is kept
        return True
    payments.fail_authentication(ctx, intent, pm)
    if intent.data.get("invoice"):
        await invoices.failed(ctx, intent)
    return False


def routes(
    container: Host,
) -> list[tuple[str, Callable[[Request], Awaitable[Any]], list[str]]]:
    async def show(request: Request) -> Response:
        intent_id = request.path_params["intent"]
        secret = request.query_params.get("token", "")

        async def look(ctx: Ctx) -> _Seen | None:
            found = await _pending(ctx, intent_id, secret)
            return _seen(*found) if found else None

        seen = await run(container, look)
        if seen is None:
            return _gone()
        body = (
            f"<p>Authenticate <b>{escape(seen.what)}</b> with the {escape(seen.brand)} card "
            f"ending in {escape(seen.last4)}?</p><form method=post>"
            f"<input type=hidden name=token value='{escape(secret)}'>"
            "<button name=outcome value=complete>Complete authentication</button>"
            "<button name=outcome value=fail>Fail authentication</button></form>"
        )
        return page("3-D Secure test page", body)

    async def submit(request: Request) -> Response:
        intent_id = request.path_params["intent"]
        form = await form_fields(request)
        secret, outcome = str(form.get("token", "")), str(form.get("outcome", ""))

        async def decide(ctx: Ctx) -> tuple[_Seen, bool] | None:
            found = await _pending(ctx, intent_id, secret)
            if found is None:
                return None
            ok = await _decide(ctx, *found, complete=outcome == "complete")
            return _seen(*found), ok

        result = await run(container, decide)
        if result is None:
            return _gone()
        seen, ok = result
        if seen.return_url is None:
            return page(
                "Authentication " + ("completed" if ok else "failed"),
                f"<p><code>{escape(seen.intent)}</code> is now <b>{escape(seen.status)}</b>.</p>",
            )
        name = seen.kind  # payment_intent or setup_intent
        return redirect(
            seen.return_url,
            **{
                name: seen.intent,
                f"{name}_client_secret": seen.client_secret,
                "redirect_status": "succeeded" if ok else "failed",
            },
        )

    return [(PATH, show, ["GET"]), (PATH, submit, ["POST"])]
