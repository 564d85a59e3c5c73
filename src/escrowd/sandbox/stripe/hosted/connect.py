"""Connect's hosted pages: onboarding (from an account link: the tester chooses ``verified``
or ``restricted`` and a bank account) and the Express dashboard (from a login link), where the
tester may also disconnect the account from the platform (``account.application.deauthorized``).

Account links are single use and expire 300 s after creation on the sandbox clock: an expired
or already opened link sends the browser to its ``refresh_url``, as Stripe does.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.hosted.html import escape, form_fields, page, redirect, safe_url
from escrowd.sandbox.stripe.ids import token
from escrowd.sandbox.stripe.resources.accounts import deauthorize, onboard
from escrowd.sandbox.stripe.resources.balance import balance_of
from escrowd.sandbox.stripe.resources.bank_accounts import FAILURES, SUCCESS, add_bank_account
from escrowd.sandbox.stripe.store import Obj
from escrowd.sandbox.stripe.unit import run

ONBOARDING = "/connect/onboarding/{secret}"
DASHBOARD = "/connect/dashboard/{secret}"


def _unknown() -> Response:
    return page("Link not found", "<p>This link is unknown.</p>", status=404)


def _bank_options() -> str:
    options = [f"<option value={SUCCESS}>{SUCCESS} — payouts are paid</option>"]
    options += [
        f"<option value={n}>{n} — payouts fail ({escape(code)})</option>"
        for n, (code, _) in FAILURES.items()
    ]
    return "".join(options)


def routes(
    container: Host,
) -> list[tuple[str, Callable[[Request], Awaitable[Any]], list[str]]]:
    async def show(request: Request) -> Response:
        secret = request.path_params["secret"]

        async def open_link(ctx: Ctx) -> Response | tuple[Obj, str]:
            link = await ctx.store.get(f"link_{secret}", type="account_link", lock=True)
            if link is None:
                return _unknown()
            state = link.private
            if state["state"] != "new" or link.data["expires_at"] <= ctx.now:
                return redirect(safe_url(state["refresh_url"]) or "/")
            session = token(24)
            state.update(state="opened", session=session)
            ctx.store.save(link)
            return await ctx.store.require(state["account"], "account"), session

        opened = await run(container, open_link)
        if isinstance(opened, Response):
            return opened
        acct, session = opened
        d = acct.data
        kind = d.get("business_type") or "individual"
        body = (
            f"<p>Account <code>{escape(acct.id)}</code> ({escape(kind)}, "
            f"{escape(d.get('email') or 'no email')}). Choose how verification ends:</p>"
            f"<form method=post><input type=hidden name=session value='{session}'>"
            "<label for=bank>Bank account for payouts (routing 110000000)</label>"
            f"<select id=bank name=bank>{_bank_options()}</select>"
            "<button name=outcome value=verified>Verified: enable charges and payouts</button>"
            "<button name=outcome value=restricted>Restricted: identity document past due"
            "</button></form>"
            "<p class=note>This link works once, as Stripe's do: reloading this page or opening "
            "the link again sends you to the platform's refresh page for a new link, and the "
            "account stays pending until a link's form is sent.</p>"
        )
        return page("Connect onboarding (test)", body)

    async def submit(request: Request) -> Response:
        secret = request.path_params["secret"]
        form = await form_fields(request)
        outcome, bank = str(form.get("outcome", "")), str(form.get("bank", SUCCESS))

        async def finish(ctx: Ctx) -> Response:
            link = await ctx.store.get(f"link_{secret}", type="account_link", lock=True)
            if link is None:
                return _unknown()
            state = link.private
            given = str(form.get("session", ""))
            if state["state"] != "opened" or not hmac.compare_digest(
                str(state.get("session", "")), given
            ):
                return redirect(safe_url(state["refresh_url"]) or "/")
            if outcome not in ("verified", "restricted"):
                return page("Choose an outcome", "<p>Pick verified or restricted.</p>", status=400)
            acct = await ctx.store.require(state["account"], "account", lock=True)
            if outcome == "verified" and not acct.data["external_accounts"]["data"]:
                add_bank_account(ctx, acct, number=bank if bank.isdigit() else SUCCESS)
            onboard(ctx, acct, outcome)
            state["state"] = "used"
            ctx.store.save(link)
            return redirect(safe_url(state["return_url"]) or "/")

        return await run(container, finish)

    async def dashboard(request: Request) -> Response:
        secret = request.path_params["secret"]

        async def look(ctx: Ctx) -> tuple[Obj, dict[str, Any], list[Obj]] | None:
            login = await ctx.store.get(f"login_{secret}", type="login_link")
            if login is None:
                return None
            acct = await ctx.store.require(login.private["account"], "account")
            money = await balance_of(ctx, acct.id)
            payouts, _ = await ctx.store.page("payout", account=acct.id, limit=10)
            return acct, money, payouts

        found = await run(container, look)
        if found is None:
            return _unknown()
        acct, money, payouts = found
        d = acct.data
        rows = "".join(
            f"<tr><td>{escape(p.data['id'])}</td><td>{p.data['amount']}</td>"
            f"<td>{escape(p.data['currency'])}</td><td>{escape(p.data['status'])}</td></tr>"
            for p in payouts
        )
        amounts = "".join(
            f"<tr><td>{escape(a['currency'])}</td><td>{a['amount']}</td><td>{p['amount']}</td></tr>"
            for a, p in zip(money["available"], money["pending"], strict=True)
        )
        due = ", ".join(d["requirements"]["currently_due"]) or "nothing"
        body = (
            f"<p>Account <code>{escape(acct.id)}</code> — charges "
            f"{'enabled' if d['charges_enabled'] else 'disabled'}, payouts "
            f"{'enabled' if d['payouts_enabled'] else 'disabled'}. Currently due: "
            f"{escape(due)}.</p><h2>Balance (minor units)</h2><table><tr><th>Currency</th>"
            f"<th>Available</th><th>Pending</th></tr>{amounts}</table><h2>Recent payouts</h2>"
            f"<table><tr><th>Payout</th><th>Amount</th><th>Currency</th><th>Status</th></tr>"
            f"{rows}</table>"
        )
        if acct.private.get("deauthorized"):
            body += "<p>This account is disconnected from the platform.</p>"
        else:
            body += (
                "<form method=post><button name=action value=deauthorize>Disconnect from the "
                "platform</button></form><p class=note>Sends the platform "
                "<code>account.application.deauthorized</code>; the platform's key no longer "
                "reaches this account.</p>"
            )
        return page("Express dashboard (test)", body)

    async def disconnect(request: Request) -> Response:
        secret = request.path_params["secret"]
        form = await form_fields(request)
        if str(form.get("action", "")) != "deauthorize":
            return page("Choose an action", "<p>Nothing to do.</p>", status=400)

        async def act(ctx: Ctx) -> bool:
            login = await ctx.store.get(f"login_{secret}", type="login_link")
            if login is None:
                return False
            acct = await ctx.store.require(login.private["account"], "account", lock=True)
            deauthorize(ctx, acct)
            return True

        if not await run(container, act):
            return _unknown()
        return page("Disconnected", "<p>The account is disconnected from the platform.</p>")

    return [
        (ONBOARDING, show, ["GET"]),
        (ONBOARDING, submit, ["POST"]),
        (DASHBOARD, dashboard, ["GET"]),
        (DASHBOARD, disconnect, ["POST"]),
    ]
