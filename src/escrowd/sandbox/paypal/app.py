"""The PayPal sandbox as an ASGI app, mounted by escrowd at ``/sandbox/paypal`` in sandbox mode.

``create_paypal_sandbox(host)`` serves PayPal's REST paths (``/v1/oauth2/token``,
``/v2/checkout/orders…``, ``/v2/payments/…``, ``/v1/payments/payouts…``,
``/v1/customer/disputes/…``), the hosted approval page (``/checkoutnow?token=<order id>``) and
the buyer's dispute page (``/resolutioncenter/<capture id>``, ``disputes.py``), and
``POST /resolutioncenter/<capture id>/reverse`` (PayPal taking a capture back with no
dispute, ``orders.reverse_capture``). It has no
OpenAPI document and is not in escrowd's. Each API request is one database transaction: a
refusal writes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from escrowd.config import (
    PAYPAL_SANDBOX_CERT_PATH,
    PAYPAL_SANDBOX_CLIENT_ID,
    PAYPAL_SANDBOX_CLIENT_SECRET,
    PAYPAL_SANDBOX_PREFIX,
)
from escrowd.providers.paypal import shapes
from escrowd.sandbox.paypal import disputes, orders, payouts, webhooks
from escrowd.sandbox.paypal.faults import PayPalError
from escrowd.sandbox.paypal.store import Unit, debug_id, new_id
from escrowd.sandbox.stripe.app import Mounted
from escrowd.sandbox.stripe.db import is_unique_violation
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.hosted.html import escape, form_fields, page, redirect, safe_url

#: PayPal's access tokens live nine hours.
TOKEN_SECONDS = 32400
Handler = Callable[..., Awaitable[orders.Reply]]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    body: type[BaseModel] | None = None


def _r(method: str, path: str, handler: Handler, body: type[BaseModel] | None = None) -> _Route:
    regex = "^" + re.sub(r"\{id\}", r"(?P<id>[A-Za-z0-9-]{1,64})", path) + "$"
    return _Route(method, re.compile(regex), handler, body)


_ROUTES = (
    _r("POST", "/v2/checkout/orders", orders.create_order, shapes.OrderRequest),
    _r("GET", "/v2/checkout/orders/{id}", orders.get_order),
    _r("POST", "/v2/checkout/orders/{id}/authorize", orders.authorize_order),
    _r("POST", "/v2/checkout/orders/{id}/capture", orders.capture_order),
    _r("GET", "/v2/payments/authorizations/{id}", orders.get_authorization),
    _r(
        "POST",
        "/v2/payments/authorizations/{id}/capture",
        orders.capture_authorization,
        shapes.CaptureAuthorizationRequest,
    ),
    _r("POST", "/v2/payments/authorizations/{id}/void", orders.void_authorization),
    _r("GET", "/v2/payments/captures/{id}", orders.get_capture),
    _r("POST", "/v2/payments/captures/{id}/refund", orders.refund_capture, shapes.RefundRequest),
    _r("GET", "/v2/payments/refunds/{id}", orders.get_refund),
    _r("POST", "/v1/payments/payouts", payouts.create_batch, shapes.PayoutRequest),
    _r("GET", "/v1/payments/payouts/{id}", payouts.get_batch),
    _r("GET", "/v1/payments/payouts-item/{id}", payouts.get_item),
    _r("GET", "/v1/customer/disputes/{id}", disputes.get_dispute),
    _r(
        "POST",
        "/v1/customer/disputes/{id}/adjudicate",
        disputes.adjudicate,
        shapes.AdjudicateRequest,
    ),
)


def _json(status: int, body: dict[str, Any] | None, **headers: str) -> Response:
    content = b"" if body is None else json.dumps(body).encode()
    media = None if body is None else "application/json"
    return Response(content, status_code=status, media_type=media, headers=headers)


def _error(exc: PayPalError) -> Response:
    return _json(exc.status, exc.body, **{"Paypal-Debug-Id": str(exc.body.get("debug_id", ""))})


def _oauth_error(status: int, error: str, description: str) -> PayPalError:
    return PayPalError(status, body={"error": error, "error_description": description})


def _pointer(loc: tuple[int | str, ...]) -> str:
    return "/" + "/".join(str(part) for part in loc)


def _parse(model: type[BaseModel], raw: bytes) -> BaseModel:
    try:
        payload = json.loads(raw or b"{}")
    except ValueError as exc:
        raise PayPalError(
            400, "MALFORMED_REQUEST_JSON", "The request JSON is not well formed."
        ) from exc
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        kind = first["type"]
        issue = {
            "missing": "MISSING_REQUIRED_PARAMETER",
            "extra_forbidden": "UNKNOWN_PARAMETER",
        }.get(kind, "INVALID_PARAMETER_VALUE" if "literal" in kind else "INVALID_PARAMETER_SYNTAX")
        raise PayPalError(400, issue, first["msg"], field=_pointer(first["loc"])) from exc


class PayPalSandbox:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.base_url = host.settings.public_url.rstrip("/") + PAYPAL_SANDBOX_PREFIX

    async def api(self, request: Request, path: str) -> Response:
        raw = await request.body()
        for attempt in (1, 2):
            try:
                return await self._once(request, path, raw)
            except PayPalError as exc:
                return _error(exc)
            except Exception as exc:
                # Two first requests with one PayPal-Request-Id raced: the loser replays.
                raced = isinstance(exc, IntegrityError) or is_unique_violation(exc)
                if attempt == 2 or not raced:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, request: Request, path: str, raw: bytes) -> Response:
        method = request.method
        if path == "/v1/oauth2/token" and method == "POST":
            return await self._token(request, raw)
        route, match = self._route(method, path)
        body = _parse(route.body, raw) if route.body is not None else None
        request_id = request.headers.get("paypal-request-id") if method == "POST" else None
        fingerprint = hashlib.sha256(f"{method} {path} ".encode() + raw).hexdigest()
        representation = "return=representation" in request.headers.get("prefer", "")
        async with self.host.db.engine.begin() as conn:
            u = await Unit.open(conn, self.host, self.base_url)
            await self._authenticate(u, request.headers.get("authorization", ""))
            if request_id:
                stored = await u.replay(request_id)
                if stored is not None:
                    return self._replayed(stored, fingerprint)
            args: list[Any] = [match["id"]] if "id" in match else []
            if body is not None:
                args.append(body)
            status, reply = await route.handler(u, *args)
            if route.handler is orders.void_authorization and not representation:
                status, reply = 204, None
            if request_id:
                text = "" if reply is None else json.dumps(reply)
                await u.remember(request_id, fingerprint, status, text)
        return _json(status, reply, **{"Paypal-Debug-Id": debug_id()})

    def _replayed(self, stored: tuple[str, int, str], fingerprint: str) -> Response:
        seen, status, text = stored
        if seen != fingerprint:
            raise PayPalError(
                422,
                "DUPLICATE_REQUEST_ID",
                "The PayPal-Request-Id was already used for a different request.",
                field="PayPal-Request-Id",
                location="header",
            )
        return _json(status, json.loads(text) if text else None, **{"Paypal-Debug-Id": debug_id()})

    @staticmethod
    def _route(method: str, path: str) -> tuple[_Route, dict[str, str]]:
        known_path = False
        for route in _ROUTES:
            match = route.pattern.match(path)
            if match is None:
                continue
            known_path = True
            if route.method == method:
                return route, match.groupdict()
        if known_path:
            raise PayPalError(
                405,
                name="METHOD_NOT_SUPPORTED",
                message="The server does not implement the requested HTTP method.",
            )
        raise PayPalError(
            404, name="RESOURCE_NOT_FOUND", message="The specified resource does not exist."
        )

    async def _authenticate(self, u: Unit, header: str) -> None:
        scheme, _, token = header.partition(" ")
        found = await u.get(token, "token") if scheme.lower() == "bearer" and token else None
        if found is None:
            raise _oauth_error(401, "invalid_token", "Token signature verification failed")
        if u.now >= found.created + TOKEN_SECONDS:
            raise _oauth_error(401, "invalid_token", "Access Token not found in cache")

    async def _token(self, request: Request, raw: bytes) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, secret = "", ""
        known = hmac.compare_digest(user, PAYPAL_SANDBOX_CLIENT_ID) and hmac.compare_digest(
            secret, PAYPAL_SANDBOX_CLIENT_SECRET
        )
        if scheme.lower() != "basic" or not known:
            return _error(_oauth_error(401, "invalid_client", "Client Authentication failed"))
        form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials":
            return _error(_oauth_error(400, "unsupported_grant_type", "Grant Type is NULL"))
        token = "A21AA" + secrets.token_urlsafe(45)
        async with self.host.db.engine.begin() as conn:
            u = await Unit.open(conn, self.host, self.base_url)
            await u.save(u.create("token", token, {}))
        return _json(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-SANDBOX",
                "expires_in": TOKEN_SECONDS,
                "nonce": debug_id(),
            },
        )

    # --- the hosted approval page ------------------------------------------------------------

    async def checkout_page(self, request: Request) -> Response:
        order_id = request.query_params.get("token", "")
        async with self.host.db.engine.connect() as conn:
            u = await Unit.open(conn, self.host, self.base_url)
            order = await u.get(order_id, "order") if order_id.isalnum() else None
        if order is None:
            return page("PayPal checkout", "<p class=err>No such order.</p>", status=404)
        pu = order.data["purchase_units"][0]["amount"]
        action = f"{PAYPAL_SANDBOX_PREFIX}/checkoutnow/{escape(order.id)}"
        body = (
            f"<p>Order <code>{escape(order.id)}</code>: {escape(pu['value'])} "
            f"{escape(pu['currency_code'])} ({escape(order.data['intent'])}), status "
            f"{escape(order.data['status'])}.</p>"
            f"<form method=post action='{action}'><label for=funding>Pay with</label>"
            "<select id=funding name=funding><option value=balance>PayPal balance</option>"
            "<option value=declined>A card that will be declined</option>"
            "<option value=echeck>An eCheck (the capture stays pending)</option></select>"
            "<button name=action value=approve>Approve</button>"
            "<button name=action value=cancel>Cancel and return</button></form>"
        )
        return page("PayPal checkout", body)

    async def checkout_submit(self, request: Request, order_id: str) -> Response:
        fields = await form_fields(request)
        async with self.host.db.engine.begin() as conn:
            u = await Unit.open(conn, self.host, self.base_url)
            order = await u.get(order_id, "order") if order_id.isalnum() else None
            if order is None:
                return page("PayPal checkout", "<p class=err>No such order.</p>", status=404)
            if fields.get("action") == "cancel":
                target = safe_url(order.private.get("cancel_url"))
                if target is None:
                    return page("PayPal checkout", "<p>Cancelled.</p>")
                return redirect(target, token=order.id)
            chosen = fields.get("funding")
            funding = chosen if chosen in ("declined", "echeck") else "balance"
            try:
                payer = new_id(13)
                await orders.approve(u, order, funding=funding, payer_id=payer)
            except PayPalError as exc:
                detail = exc.body.get("details", [{}])[0].get("description", "")
                return page("PayPal checkout", f"<p class=err>{escape(detail)}</p>", status=422)
        target = safe_url(order.private.get("return_url"))
        if target is None:
            return page("PayPal checkout", "<p>Approved. You may close this page.</p>")
        return redirect(target, token=order.id, PayerID=payer)

    # --- the buyer's dispute pages ------------------------------------------------------------

    async def dispute_page(self, capture_id: str) -> Response:
        async with self.host.db.engine.connect() as conn:
            u = await Unit.open(conn, self.host, self.base_url)
            capture = await u.get(capture_id, "capture") if capture_id.isalnum() else None
            found = None
            if capture is not None and capture.private.get("dispute"):
                found = await u.get(str(capture.private["dispute"]), "dispute")
        if capture is None:
            return page("PayPal Resolution Center", "<p class=err>No such payment.</p>", status=404)
        if found is not None:
            return page("PayPal Resolution Center", _dispute_html(found.data))
        amount = capture.data["amount"]
        reasons = "".join(f"<option>{escape(r)}</option>" for r in disputes.REASONS)
        action = f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/{escape(capture_id)}"
        body = (
            f"<p>Payment <code>{escape(capture_id)}</code>: {escape(amount['value'])} "
            f"{escape(amount['currency_code'])}.</p>"
            f"<form method=post action='{action}'><label for=reason>Reason</label>"
            f"<select id=reason name=reason>{reasons}</select>"
            "<label for=amount>Amount disputed (empty: all of it)</label>"
            "<input id=amount name=amount inputmode=decimal>"
            "<button>Open a dispute</button></form>"
        )
        return page("PayPal Resolution Center", body)

    async def dispute_open(self, request: Request, capture_id: str) -> Response:
        fields = await form_fields(request)
        try:
            async with self.host.db.engine.begin() as conn:
                u = await Unit.open(conn, self.host, self.base_url)
                capture = await u.get(capture_id, "capture") if capture_id.isalnum() else None
                if capture is None:
                    return page(
                        "PayPal Resolution Center", "<p class=err>No such payment.</p>", status=404
                    )
                value = fields.get("amount", "").strip()
                currency = str(capture.private["currency"])
                amount = disputes.amount_of(value, currency) if value else None
                dispute = await disputes.open_dispute(
                    u, capture_id, amount=amount, reason=fields.get("reason") or "OTHER"
                )
        except PayPalError as exc:
            detail = exc.body.get("details", [{}])[0].get("description", "")
            return page(
                "PayPal Resolution Center", f"<p class=err>{escape(detail)}</p>", status=422
            )
        return page("PayPal Resolution Center", _dispute_html(dispute.data), status=201)

    async def capture_reverse(self, capture_id: str) -> Response:
        """PayPal takes the capture's money back with no dispute (``orders.reverse_capture``)."""
        try:
            async with self.host.db.engine.begin() as conn:
                u = await Unit.open(conn, self.host, self.base_url)
                capture = await u.get(capture_id, "capture") if capture_id.isalnum() else None
                if capture is None:
                    return page(
                        "PayPal Resolution Center", "<p class=err>No such payment.</p>", status=404
                    )
                data = await orders.reverse_capture(u, capture_id)
        except PayPalError as exc:
            detail = exc.body.get("details", [{}])[0].get("description", "")
            return page(
                "PayPal Resolution Center", f"<p class=err>{escape(detail)}</p>", status=422
            )
        body = (
            f"<p>Payment <code id=capture>{escape(capture_id)}</code> is "
            f"<b id=status>{escape(str(data['status']))}</b>.</p>"
        )
        return page("PayPal Resolution Center", body)

    async def dispute_settle(self, request: Request, dispute_id: str) -> Response:
        fields = await form_fields(request)
        try:
            req = shapes.AdjudicateRequest.model_validate(
                {"adjudication_outcome": fields.get("outcome", "")}
            )
        except ValidationError:
            return page("PayPal Resolution Center", "<p class=err>Pick an outcome.</p>", status=400)
        try:
            async with self.host.db.engine.begin() as conn:
                u = await Unit.open(conn, self.host, self.base_url)
                await disputes.adjudicate(u, dispute_id, req)
                found = await disputes.load_dispute(u, dispute_id)
        except PayPalError as exc:
            detail = exc.body.get("details", [{}])[0].get("description", "")
            return page(
                "PayPal Resolution Center", f"<p class=err>{escape(detail)}</p>", status=422
            )
        return page("PayPal Resolution Center", _dispute_html(found.data))


def _dispute_html(d: dict[str, Any]) -> str:
    amount = d["dispute_amount"]
    outcome = d.get("dispute_outcome", {}).get("outcome_code", "")
    html = (
        f"<p>Dispute <code id=dispute>{escape(d['dispute_id'])}</code> of payment "
        f"<code>{escape(d['disputed_transactions'][0]['seller_transaction_id'])}</code>: "
        f"{escape(amount['value'])} {escape(amount['currency_code'])}, "
        f"{escape(d['reason'])}. Status <b id=status>{escape(d['status'])}</b>"
        f"{' ' + escape(outcome) if outcome else ''}.</p>"
    )
    if d["status"] == "UNDER_REVIEW":
        action = f"{PAYPAL_SANDBOX_PREFIX}/resolutioncenter/disputes/{escape(d['dispute_id'])}"
        html += (
            f"<form method=post action='{action}'><p>Settle it as PayPal would:</p>"
            "<button name=outcome value=SELLER_FAVOR>In the seller's favour</button>"
            "<button name=outcome value=BUYER_FAVOR>In the buyer's favour</button></form>"
        )
    return html


def create_paypal_sandbox(host: Host) -> FastAPI:
    # No OpenTelemetry for a stand-in of PayPal (as escrowd.api.telemetry sets it for the API).
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    sandbox = PayPalSandbox(host)

    @app.get("/checkoutnow")
    async def checkout_page(request: Request) -> Response:
        return await sandbox.checkout_page(request)

    @app.post("/checkoutnow/{order_id}")
    async def checkout_submit(request: Request, order_id: str) -> Response:
        return await sandbox.checkout_submit(request, order_id)

    @app.get("/resolutioncenter/{capture_id}")
    async def dispute_page(capture_id: str) -> Response:
        return await sandbox.dispute_page(capture_id)

    @app.post("/resolutioncenter/disputes/{dispute_id}")
    async def dispute_settle(request: Request, dispute_id: str) -> Response:
        return await sandbox.dispute_settle(request, dispute_id)

    @app.post("/resolutioncenter/{capture_id}/reverse")
    async def capture_reverse(capture_id: str) -> Response:
        return await sandbox.capture_reverse(capture_id)

    @app.post("/resolutioncenter/{capture_id}")
    async def dispute_open(request: Request, capture_id: str) -> Response:
        return await sandbox.dispute_open(request, capture_id)

    @app.get(PAYPAL_SANDBOX_CERT_PATH)
    async def webhook_certificate() -> Response:
        cert_pem, _ = await webhooks.credentials(host)
        return Response(cert_pem, media_type="application/x-pem-file")

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def api(request: Request, path: str) -> Response:
        return await sandbox.api(request, "/" + path)

    return app


def mounted_paypal_sandbox(host: Host) -> ASGIApp:
    return Mounted(create_paypal_sandbox(host), PAYPAL_SANDBOX_PREFIX)
