"""``GET /``: what this server is, where its API docs are, and how to try it.

This small page is what a browser finds at escrowd's address; it links to the web app. The demo
logins appear outside production only (they are created in development databases only), and the
test cards only with the sandbox provider; both lists come from the code that makes them true.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse

from escrowd import __version__
from escrowd.api.deps import ContainerDep
from escrowd.api.strict_json import APIRouter
from escrowd.config import ProviderMode
from escrowd.demo import DEMO_USERS
from escrowd.sandbox.stripe.cards import CARDS

router = APIRouter()

#: The sandbox's test cards worth knowing first, in the order a tester needs them.
SHOWN_CARDS = (
    "4242424242424242",
    "4000000000000002",
    "4000000000009995",
    "4000000000000069",
    "4000000000000127",
    "4000002500003155",
    "4000000000000259",
)

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;"
    "color:#222;line-height:1.45}h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;"
    "text-align:left;font-size:.9rem}code{font-size:.9rem}"
)


def _grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
async def home(request: Request, container: ContainerDep) -> HTMLResponse:
    settings = container.settings
    root = escape(request.scope.get("root_path", ""))
    parts = [
        f"<h1>escrowd {escape(__version__)}</h1>",
        "<p>Escrow and payouts for two-sided marketplaces: a client pays into escrow, the money "
        "is held, then released to payees minus a platform fee, refunded or disputed. This "
        "server speaks its HTTP API, and serves a web app for payers, payees and admins.</p>",
        f"<p><a href='{root}/app'><strong>Open the web app</strong></a> (sign in or sign up) · "
        f"<a href='{root}/docs'>API docs</a> (try every endpoint) · "
        f"<a href='{root}/redoc'>API reference</a> · "
        f"<a href='{root}/openapi.json'>OpenAPI document</a> · "
        f"<a href='{root}/healthz'>health</a></p>",
    ]
    if settings.is_dev:
        rows = [
            (escape(role), f"<code>{escape(email)}</code>", f"<code>{escape(password)}</code>")
            for email, password, _, role in DEMO_USERS
        ]
        parts += [
            "<h2>Demo logins</h2>",
            "<p>Development only: <code>escrowd serve</code> creates them in an empty database "
            "(<code>escrowd demo</code> too). Sign in to the web app with them, or log in with "
            "<code>POST /v1/auth/tokens</code> "
            '<code>{"email": …, "password": …}</code> and send the access token as '
            "<code>Authorization: Bearer …</code> (the <em>Authorize</em> button in the API "
            "docs takes it).</p>",
            _table(("role", "email", "password"), rows),
        ]
    if settings.provider is ProviderMode.sandbox:
        cards = [CARDS[number] for number in SHOWN_CARDS]
        card_rows = [(f"<code>{_grouped(c.number)}</code>", escape(c.outcome)) for c in cards]
        parts += [
            "<h2>Test cards</h2>",
            "<p>Payments go to escrowd's built-in Stripe sandbox: no money moves. Any future "
            "expiry date and any CVC work; the number decides what happens. The sandbox knows "
            "Stripe's other test cards and <code>pm_card_…</code> shortcuts too (see "
            "docs/sandbox.md).</p>",
            _table(("card number", "what it does"), card_rows),
        ]
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>escrowd</title>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    return HTMLResponse(html)
