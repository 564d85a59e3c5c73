"""The hosted card form: the only place a card number is typed. It makes a ``pm_…`` and
sends the browser back to ``return_url?payment_method=pm_…``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from escrowd.sandbox.stripe.cards import CARDS, luhn_ok
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.hosted.html import escape, form_fields, page, redirect, safe_url
from escrowd.sandbox.stripe.resources.payment_methods import build
from escrowd.sandbox.stripe.unit import run

PATH = "/checkout/card-form"
_HINTS = [
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0025 0000 3155", "asks for 3-D Secure"),
    ("4000 0000 0000 0002", "declined (generic_decline)"),
    ("4000 0000 0000 9995", "declined (insufficient_funds)"),
    ("4000 0000 0000 0069", "expired_card"),
    ("4000 0000 0000 0127", "incorrect_cvc"),
    ("4000 0000 0000 0259", "succeeds, then disputed"),
    ("4000 0000 0000 0077", "funds available at once"),
]


def _form(q: dict[str, str], error: str = "", status: int = 200) -> Response:
    hidden = "".join(
        f"<input type=hidden name={k} value='{escape(v)}'>"
        for k, v in q.items()
        if k in ("return_url", "state") and v
    )
    hints = "".join(f"<tr><td><code>{n}</code></td><td>{escape(w)}</td></tr>" for n, w in _HINTS)
    err = f"<p class=err role=alert>{escape(error)}</p>" if error else ""
    body = (
        f"{err}<form method=post>{hidden}"
        "<label for=number>Card number</label><input id=number name=number "
        "inputmode=numeric autocomplete=cc-number required>"
        "<label for=exp>Expiry (MM/YY)</label><input id=exp name=exp placeholder=12/34 required>"
        "<label for=cvc>CVC</label><input id=cvc name=cvc inputmode=numeric required>"
        "<label for=name>Name on card</label><input id=name name=name autocomplete=cc-name>"
        "<button type=submit>Save card</button></form>"
        f"<h2>Test cards</h2><table>{hints}</table><p>Any future expiry and any CVC work. See "
        "docs/sandbox.md for every test card.</p>"
    )
    return page("Enter a test card", body, status=status)


def _expiry(text: str) -> tuple[int, int] | None:
    month, _, year = text.replace(" ", "").partition("/")
    if not (month.isdigit() and year.isdigit()) or not 1 <= int(month) <= 12:
        return None
    y = int(year)
    return int(month), y + 2000 if y < 100 else y


def routes(
    container: Host,
) -> list[tuple[str, Callable[[Request], Awaitable[Any]], list[str]]]:
    async def show(request: Request) -> Response:
        return _form(dict(request.query_params))

    async def submit(request: Request) -> Response:
        form = await form_fields(request)
        number = "".join(ch for ch in form.get("number", "") if ch.isdigit())
        exp = _expiry(form.get("exp", ""))
        if not number or not luhn_ok(number):
            return _form(form, "Your card number is incorrect.", 400)
        card = CARDS.get(number)
        if card is None:
            return _form(
                form,
                "Your card was declined. Your request was in test mode, but used a non test "
                "card. For a list of valid test cards, see below.",
                402,
            )
        if exp is None:
            return _form(form, "Your card's expiration date is incomplete.", 400)
        cvc = form.get("cvc", "")
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            return _form(form, "Your card's security code is incomplete.", 400)

        async def save(ctx: Ctx) -> str | None:
            if (exp[1], exp[0]) < _year_month(ctx.now):
                return None
            pm = build(
                ctx,
                card,
                exp_month=exp[0],
                exp_year=exp[1],
                billing={"name": form.get("name") or None},
            )
            return pm.id

        pm_id = await run(container, save)
        if pm_id is None:
            return _form(form, "Your card's expiration date is in the past.", 400)
        target = safe_url(form.get("return_url"))
        if target is None:
            body = f"<p>Saved. PaymentMethod: <code>{escape(pm_id)}</code></p>"
            return page("Card saved", body)
        params = {"payment_method": pm_id}
        if form.get("state"):
            params["state"] = form["state"]
        return redirect(target, **params)

    return [(PATH, show, ["GET"]), (PATH, submit, ["POST"])]


def _year_month(ts: int) -> tuple[int, int]:
    from datetime import UTC, datetime

    dt = datetime.fromtimestamp(ts, UTC)
    return dt.year, dt.month
