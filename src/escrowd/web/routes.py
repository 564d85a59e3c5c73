"""The web app's pages under ``/app``: server-rendered HTML for people in a browser.

Pages call escrowd's services with the signed-in user as the actor, exactly as the API routes
do, so every rule (who sees what, what a state allows, how money moves) is the API's own. None
of these routes is in the OpenAPI document: they answer HTML and redirects, not the API's
JSON. docs/webapp.md describes the pages, sign-in and CSRF.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from escrowd import __version__
from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.config import ProviderMode
from escrowd.customers import service as customers
from escrowd.customers.models import PaymentMethod
from escrowd.disputes import service as disputes
from escrowd.disputes.domain import OPEN, Outcome
from escrowd.disputes.models import Dispute
from escrowd.disputes.schemas import DisputeCreate, dispute_json
from escrowd.errors import CardError, EscrowdError, InvalidRequestError, NotFoundError
from escrowd.escrows import funding
from escrowd.escrows import service as escrows
from escrowd.escrows.models import Escrow
from escrowd.escrows.states import State
from escrowd.events import service as events
from escrowd.events import stream as event_stream
from escrowd.events.domain import EventType
from escrowd.events.models import Event as EventRow
from escrowd.events.schemas import Event
from escrowd.money import Money
from escrowd.payouts import service as payouts
from escrowd.payouts.domain import PayoutStatus
from escrowd.payouts.models import Payout
from escrowd.payouts.schemas import PayoutObject
from escrowd.providers.errors import ProviderError
from escrowd.sandbox.stripe.cards import CARDS
from escrowd.users import passwords, tokens
from escrowd.users import service as users
from escrowd.web.checkout import (
    NO_PUBLISHABLE_KEY,
    STRIPE_JS_URL,
    Checkout,
    publishable_key,
    uses_stripe_js,
)
from escrowd.web.once import once
from escrowd.web.service import (
    CSRF_FIELD,
    PageForbidden,
    PageMissing,
    SignInRequired,
    check_csrf,
    check_return_token,
    clear_session,
    csrf_token,
    form_fields,
    parse_amount,
    return_token,
    safe_next,
    secure_cookies,
    set_csrf,
    set_session,
    signed_in,
)

HERE = Path(__file__).parent
#: How many rows a list page shows (the newest); paging comes with a later slice.
SHOWN = 50
#: The escrow states a dispute may be opened in with money still free to dispute (the
#: disputes service refuses the rest: not paid yet, or everything released or refunded).
DISPUTABLE = (State.held, State.partially_released, State.partially_refunded)
#: ``POST /v1/disputes``'s reasons, in its order.
DISPUTE_REASONS: tuple[str, ...] = get_args(DisputeCreate.model_fields["reason"].annotation)
#: The sandbox's test cards the escrow page lists, in the order a tester needs them.
TEST_CARDS = ("4242424242424242", "4000002500003155", "4000000000000002", "4000000000009995")

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


templates.filters["money"] = _money
templates.globals["stripe_js_url"] = STRIPE_JS_URL

router = APIRouter(prefix="/app", include_in_schema=False)


# --- who is here -------------------------------------------------------------------------------


async def _viewer(request: Request, container: ContainerDep) -> Principal:
    principal = await signed_in(request, container)
    if principal is None:
        where = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(where)
    return principal


Viewer = Annotated[Principal, Depends(_viewer)]


def _role(viewer: Principal, *roles: str) -> None:
    if viewer.role not in roles:
        names = {"client": "payers", "worker": "payees", "admin": "admins"}
        raise PageForbidden(
            "This page is for " + " and ".join(names[r] for r in roles) + "; you are signed "
            f"in as a {names.get(viewer.role, viewer.role)[:-1]}."
        )


async def _checked_form(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matched (else a 403 page, before anything runs)."""
    fields = await form_fields(request)
    check_csrf(request, fields.get(CSRF_FIELD))
    return fields


#: A page form's fields; declaring it is what subjects a route to the CSRF check.
FormDep = Annotated[dict[str, str], Depends(_checked_form)]


# --- rendering ---------------------------------------------------------------------------------


def render(
    request: Request,
    container: ContainerDep,
    name: str,
    viewer: Principal | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    token, new = csrf_token(request)
    html = templates.get_template(name).render(
        viewer=viewer,
        csrf_field=CSRF_FIELD,
        csrf=token,
        version=__version__,
        sandbox=container.settings.provider is ProviderMode.sandbox,
        path=request.url.path,
        flows_on=getattr(request.app.state, "web_flows", frozenset()),
        new_key=new_form_key,
        **{"all_events": ALL_EVENTS, "live_types": LIVE_TYPES, **context},
    )
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
    if new:
        set_csrf(response, token, secure=secure_cookies(request, container))
    return response


#: Every event type, for ``data-types`` on a page's ``#live`` (app.js listens to each by name).
LIVE_TYPES = [t.value for t in EventType]
#: The stream of every event the viewer may see: a list page's ``#live`` follows it.
ALL_EVENTS = "/v1/events/stream?seconds=3600"


async def live_stream(
    session: AsyncSession, viewer: Principal, object_id: str | None
) -> str | None:
    """The event stream a page's ``#live`` part follows: ``object_id``'s (an escrow) when the
    viewer may watch it -- else None, as the stream would answer 404 and the browser retry
    forever. Without an ``object_id``: every event the viewer may see (a list of escrows)."""
    if object_id is None:
        return ALL_EVENTS
    if not await event_stream.may_watch(session, actor=viewer, object_id=object_id):
        return None
    return f"/v1/events/stream?object_id={quote(object_id)}&seconds=3600"


def new_form_key() -> str:
    """A fresh idempotency key for one form on one rendered page (``{{ new_key() }}`` in a
    hidden ``idempotency_key`` field): the form sent twice carries the same key, so the
    services treat the second as the API treats a retry with the same Idempotency-Key."""
    return "web_" + secrets.token_urlsafe(24)


def form_key(form: Mapping[str, str]) -> str | None:
    """The form's idempotency key, if it carries a well-formed one."""
    key = form.get("idempotency_key", "")
    return key if key.startswith("web_") and 10 <= len(key) <= 100 and key.isprintable() else None


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


#: Renders a page again with a refusal's message and status.
Refused = Callable[[str, int], Awaitable[Response]]


async def act(action: Awaitable[object], *, refused: Refused, done: str) -> Response:
    """A page's form action: what the service refuses is shown on the page (its message and
    status, nothing changed); an object the viewer may not see is the 404 page; success
    redirects to ``done``, so a reload does not send the form again."""
    try:
        await action
    except NotFoundError as exc:
        raise PageMissing(exc.message) from exc
    except EscrowdError as exc:
        return await refused(exc.message, exc.http_status)
    return see_other(done)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# --- home, sign in, sign up, sign out ----------------------------------------------------------


def _home_of(viewer: Principal) -> str:
    return {"worker": "/app/balance", "admin": "/app/admin/payouts"}.get(
        viewer.role, "/app/escrows"
    )


@router.get("")
async def app_home(viewer: Viewer) -> RedirectResponse:
    return see_other(_home_of(viewer))


@router.get("/sign-in")
async def sign_in_page(
    request: Request, container: ContainerDep, next: str | None = None
) -> Response:
    viewer = await signed_in(request, container)
    if viewer is not None:
        return see_other(safe_next(next) if next else _home_of(viewer))
    return render(request, container, "sign_in.html", None, next=safe_next(next), email="")


async def _start_session(
    request: Request, container: ContainerDep, user_id: str, role: str, to: str
) -> RedirectResponse:
    issued = tokens.issue(
        settings=container.settings, clock=container.clock, user_id=user_id, role=role
    )
    response = see_other(to)
    set_session(
        response,
        token=issued.token,
        max_age=issued.expires_in,
        secure=secure_cookies(request, container),
    )
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    container: ContainerDep,
    form: FormDep,
) -> Response:
    email = form.get("email", "")[:320]
    password = form.get("password", "")
    next = form.get("next", "/app")[:2000]
    try:
        async with container.db.transaction() as session:
            user = await users.authenticate(
                session,
                clock=container.clock,
                passwords=passwords.for_settings(container.settings),
                email=email,
                password=password,
            )
            user_id, role = user.id, user.role
    except EscrowdError as exc:
        return render(
            request,
            container,
            "sign_in.html",
            None,
            status=exc.http_status,
            error=exc.message,
            next=safe_next(next),
            email=email,
        )
    to = safe_next(next) if next != "/app" else {"worker": "/app/balance"}.get(role, "/app")
    return await _start_session(request, container, user_id, role, to)


@router.get("/sign-up")
async def sign_up_page(request: Request, container: ContainerDep) -> Response:
    return render(request, container, "sign_up.html", None, form={})


@router.post("/sign-up")
async def sign_up(
    request: Request,
    container: ContainerDep,
    form: FormDep,
) -> Response:
    email = form.get("email", "")[:320]
    password = form.get("password", "")
    name = form.get("name", "")[:200]
    role = form.get("role", "client")[:20]
    form = {"email": email, "name": name, "role": role}
    try:
        if role not in ("client", "worker"):
            raise InvalidRequestError(
                "Choose whether you pay (payer) or get paid (payee).", param="role"
            )
        if not name.strip():
            raise InvalidRequestError("Enter your name.", param="name")
        async with container.db.transaction() as session:
            user = await users.create(
                session,
                clock=container.clock,
                passwords=passwords.for_settings(container.settings),
                email=email,
                password=password,
                name=name.strip(),
                role="worker" if role == "worker" else "client",
            )
            user_id, user_role = user.id, user.role
    except EscrowdError as exc:
        return render(
            request,
            container,
            "sign_up.html",
            None,
            status=exc.http_status,
            error=exc.message,
            form=form,
        )
    to = "/app/balance" if user_role == "worker" else "/app/escrows"
    return await _start_session(request, container, user_id, user_role, to)


@router.post("/sign-out")
async def sign_out(_form: FormDep) -> RedirectResponse:
    response = see_other("/app/sign-in")
    clear_session(response)
    return response


# --- escrows (payers; payees and admins read them too) -----------------------------------------


@router.get("/escrows")
async def escrow_list(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    stmt = escrows.list_query(actor=viewer, filters=escrows.ListFilters())
    async with container.db.transaction() as session:
        rows = list((await session.scalars(stmt.order_by(Escrow.id.desc()).limit(SHOWN))).all())
        shown = await escrows.page_json(session, rows)
    return render(request, container, "escrows.html", viewer, escrows=shown)


async def _escrow_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    escrow_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    notice: str | None = None,
    failed: str | None = None,
    dispute_form: Mapping[str, str] | None = None,
) -> Response:
    async with container.db.transaction() as session:
        try:
            escrow = await escrows.retrieve(session, escrow_id=escrow_id, actor=viewer)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
        stmt = events.list_query(actor=viewer, object_id=escrow_id)
        rows = (await session.scalars(stmt.order_by(None).order_by(EventRow.id).limit(SHOWN))).all()
        trail = [Event.of(row).to_json() for row in rows]
        of_escrow = await disputes.list_query(session, actor=viewer, escrow=escrow_id)
        dispute_rows = await session.scalars(of_escrow.order_by(Dispute.id.desc()).limit(SHOWN))
        escrow_disputes = [dispute_json(row) for row in dispute_rows.all()]
    cards = [CARDS[n] for n in TEST_CARDS]
    can_pay = viewer.user_id == escrow["payer"] and escrow["status"] in (
        State.requires_payment,
        State.requires_action,
    )
    # The payer's form; the disputes service decides (a payee may open one through the API).
    can_dispute = (
        viewer.user_id == escrow["payer"]
        and escrow["status"] in DISPUTABLE
        and not any(d["status"] in OPEN for d in escrow_disputes)
    )
    checkout: Checkout | None = None
    checkout_error: str | None = None
    # A PayPal escrow is paid on PayPal's page, in every mode: Pay starts it.
    stripe_js = uses_stripe_js(container) and escrow["payment_provider"] != "paypal"
    if (
        can_pay
        and stripe_js
        and not (escrow["status"] == State.requires_action and escrow.get("next_action"))
    ):
        checkout, checkout_error = await _checkout(request, container, viewer, escrow_id)
    saved: list[PaymentMethod] = []
    default: str | None = None
    if can_pay and escrow["status"] == State.requires_payment:
        async with container.db.transaction() as session:
            cards_q = customers.list_query(user_id=viewer.user_id or "").order_by(PaymentMethod.id)
            saved = list((await session.scalars(cards_q)).all())
            default = await customers.default_payment_method(
                session, user_id=viewer.user_id or "", provider=container.provider.name
            )
    return render(
        request,
        container,
        "escrow.html",
        viewer,
        saved=saved,
        default=default,
        status=status,
        escrow=escrow,
        trail=trail,
        cards=cards,
        can_pay=can_pay,
        checkout=checkout,
        checkout_error=checkout_error,
        stripe_js=stripe_js,
        error=error,
        notice=notice,
        failed=failed,
        disputes=escrow_disputes,
        can_dispute=can_dispute,
        dispute_reasons=DISPUTE_REASONS,
        dispute_form=dispute_form or {},
        event_types=[t.value for t in EventType],
    )


async def _checkout(
    request: Request, container: ContainerDep, viewer: Principal, escrow_id: str
) -> tuple[Checkout | None, str | None]:
    """The escrow's Payment Element for its payer (the real Stripe), or why there is none."""
    key = publishable_key(container)
    if key is None:
        return None, NO_PUBLISHABLE_KEY
    try:
        intent = await funding.browser_payment(container, escrow_id=escrow_id, actor=viewer)
    except EscrowdError as exc:
        return None, exc.message
    if intent is None:
        return None, None
    back = f"{_base(request)}/app/escrows/{quote(escrow_id)}/stripe-return"
    return Checkout("payment", key, intent.client_secret, back), None


@router.get("/escrows/{escrow_id}")
async def escrow_page(
    escrow_id: str, request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    notice = {
        "disputed": "Dispute opened: the escrow is frozen until an admin decides it.",
    }.get(done)
    return await _escrow_page(request, container, viewer, escrow_id, notice=notice)


@router.post("/escrows/{escrow_id}/pay")
async def pay(
    escrow_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    """Pay with a saved card (the form's ``payment_method``), once per form key; without one,
    send the payer to the hosted card form, which comes back to ``card-return``."""
    chosen = _form.get("payment_method", "")[:255]
    if chosen:
        return await _pay_saved(request, container, viewer, escrow_id, chosen, form_key(_form))
    csrf, _ = csrf_token(request)
    back = (
        f"{_base(request)}/app/escrows/{quote(escrow_id)}/card-return"
        f"?t={return_token(container, csrf, escrow_id)}"
    )
    try:
        escrow = await funding.fund(container, escrow_id=escrow_id, actor=viewer, return_url=back)
    except EscrowdError as exc:
        return await _escrow_page(
            request, container, viewer, escrow_id, error=exc.message, status=exc.http_status
        )
    return see_other(_next_action(escrow) or f"/app/escrows/{quote(escrow_id)}")


async def _pay_saved(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    escrow_id: str,
    payment_method: str,
    key: str | None,
) -> Response:
    """``funding.fund`` with a saved card, as ``POST /v1/escrows/{id}/fund`` does, once per
    form key (``once``: claimed before the card is charged, so a twin sent at once is refused
    while this one runs; let go when the payment is refused, so the corrected form may be
    sent again with it)."""
    page = f"/app/escrows/{quote(escrow_id)}"

    async def pay() -> str:
        escrow = await funding.fund(
            container,
            escrow_id=escrow_id,
            actor=viewer,
            payment_method=payment_method,
            return_url=f"{_base(request)}{page}",
        )
        return _next_action(escrow) or page

    try:
        to = await once(
            container, viewer, key, path=f"{page}/pay", values=f"{escrow_id}:{payment_method}",
            run=pay,
        )  # fmt: skip
    except EscrowdError as exc:
        return await _escrow_page(
            request, container, viewer, escrow_id, error=exc.message, status=exc.http_status
        )
    return see_other(to or page)


def _next_action(escrow: Mapping[str, Any]) -> str | None:
    action = escrow.get("next_action")
    return str(action["url"]) if isinstance(action, dict) and action.get("url") else None


@router.get("/escrows/{escrow_id}/card-return")
async def card_return(
    escrow_id: str,
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    t: str = "",
    payment_method: str = "",
) -> Response:
    """Back from the card form with a ``pm_…``: fund with it. 3-D Secure sends the payer on to
    its page, which returns to the escrow page; a decline is shown on the escrow page."""
    check_return_token(container, request, escrow_id, t)
    if not payment_method.startswith("pm_") or len(payment_method) > 255:
        return await _escrow_page(
            request, container, viewer, escrow_id, error="No card came back from the card form.",
            status=400,
        )  # fmt: skip
    try:
        escrow = await funding.fund(
            container,
            escrow_id=escrow_id,
            actor=viewer,
            payment_method=payment_method,
            return_url=f"{_base(request)}/app/escrows/{quote(escrow_id)}",
        )
    except CardError:
        # The escrow records the decline and its page shows it; redirecting there keeps a
        # reload from paying again.
        return see_other(f"/app/escrows/{quote(escrow_id)}")
    except EscrowdError as exc:
        return await _escrow_page(
            request, container, viewer, escrow_id, error=exc.message, status=exc.http_status
        )
    return see_other(_next_action(escrow) or f"/app/escrows/{quote(escrow_id)}")


@router.get("/escrows/{escrow_id}/stripe-return")
async def stripe_return(
    escrow_id: str, request: Request, container: ContainerDep, viewer: Viewer
) -> Response:
    """Where Stripe.js sends the payer after confirming the escrow's PaymentIntent (paid,
    declined, or 3-D Secure left unfinished). The PaymentIntent is read from the provider
    and applied, as its webhook would be; the query Stripe.js adds (``redirect_status``, the
    intent's id) is ignored. Reading changes nothing the provider did not say, so this
    needs no token: the escrow's page then shows how it went."""
    async with container.db.transaction() as session:
        try:
            await escrows.retrieve(session, escrow_id=escrow_id, actor=viewer)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
    try:
        await funding.read_back(container, escrow_id)
    except ProviderError as exc:
        failed = exc.to_api_error()
        return await _escrow_page(
            request, container, viewer, escrow_id, error=failed.message, status=failed.http_status
        )
    return see_other(f"/app/escrows/{quote(escrow_id)}")


# --- admins: payouts to review, disputes to resolve -------------------------------------------


async def _payouts_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    async with container.db.transaction() as session:
        waiting = await payouts.visible(session, actor=viewer, status=PayoutStatus.requested)
        rows = (await session.scalars(waiting.order_by(Payout.id).limit(SHOWN))).all()
        pending = [PayoutObject.of(row) for row in rows]
        recent_stmt = await payouts.visible(session, actor=viewer)
        recent_rows = (
            await session.scalars(
                recent_stmt.where(Payout.status != PayoutStatus.requested.value)
                .order_by(Payout.updated_at.desc())
                .limit(20)
            )
        ).all()
        recent = [PayoutObject.of(row) for row in recent_rows]
        names = await users.party_names(session, {p.party for p in [*pending, *recent]})
    return render(
        request,
        container,
        "admin_payouts.html",
        viewer,
        status=status,
        pending=pending,
        recent=recent,
        names=names,
        error=error,
        notice=notice,
    )


@router.get("/admin/payouts")
async def admin_payouts(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    _role(viewer, "admin")
    return await _payouts_page(request, container, viewer)


@router.post("/admin/payouts/{payout_id}/approve")
async def approve_payout(
    payout_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    _role(viewer, "admin")
    try:
        done = await payouts.approve(container, actor=viewer, payout_id=payout_id)
    except EscrowdError as exc:
        return await _payouts_page(
            request, container, viewer, error=exc.message, status=exc.http_status
        )
    if done.status is PayoutStatus.failed:
        # Approved, but the provider refused it: the money is available to the payee again.
        failed = f"Payout {done.id} failed at the provider: {done.failure_message}"
        return await _payouts_page(request, container, viewer, error=failed)
    notice = f"Payout {done.id} approved: {done.status.replace('_', ' ')}."
    return await _payouts_page(request, container, viewer, notice=notice)


@router.post("/admin/payouts/{payout_id}/reject")
async def reject_payout(
    payout_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    reason = form.get("reason", "")[:500]
    _role(viewer, "admin")
    try:
        if not reason.strip():
            raise InvalidRequestError("Say why the payout is rejected.", param="reason")
        async with container.db.transaction() as session:
            row = await payouts.reject(
                session,
                clock=container.clock,
                actor=viewer,
                payout_id=payout_id,
                reason=reason.strip(),
            )
            notice = f"Payout {row.id} rejected: the money is available to the payee again."
    except EscrowdError as exc:
        return await _payouts_page(
            request, container, viewer, error=exc.message, status=exc.http_status
        )
    return await _payouts_page(request, container, viewer, notice=notice)


async def _disputes_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    failed: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    async with container.db.transaction() as session:
        stmt = await disputes.list_query(session, actor=viewer, kind="internal")
        rows = (
            await session.scalars(
                stmt.where(Dispute.status.in_([s.value for s in OPEN]))
                .order_by(Dispute.id)
                .limit(SHOWN)
            )
        ).all()
        queue = [dispute_json(row) for row in rows]
    return render(
        request,
        container,
        "admin_disputes.html",
        viewer,
        status=status,
        queue=queue,
        error=error,
        failed=failed,
        notice=notice,
    )


@router.get("/admin/disputes")
async def admin_disputes(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    _role(viewer, "admin")
    return await _disputes_page(request, container, viewer)


@router.post("/admin/disputes/{dispute_id}/resolve")
async def resolve_dispute(
    dispute_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    outcome = form.get("outcome", "")[:20]
    release_amount = form.get("release_amount", "")[:40]
    refund_amount = form.get("refund_amount", "")[:40]
    notes = form.get("notes", "")[:2000]
    _role(viewer, "admin")
    try:
        if outcome not in (Outcome.release, Outcome.refund, Outcome.split_amounts):
            raise InvalidRequestError("Choose release, refund or split.", param="outcome")
        release = refund = None
        if outcome == Outcome.split_amounts:
            async with container.db.transaction() as session:
                found = await disputes.get_visible(session, actor=viewer, dispute_id=dispute_id)
                currency = found.currency
            release = parse_amount(release_amount, currency, field="amount to release")
            refund = parse_amount(refund_amount, currency, field="amount to refund")
        done = await disputes.resolve(
            container,
            actor=viewer,
            dispute_id=dispute_id,
            outcome=outcome,
            release_amount=release,
            refund_amount=refund,
            notes=notes.strip() or None,
        )
    except EscrowdError as exc:
        return await _disputes_page(
            request,
            container,
            viewer,
            error=exc.message,
            failed=dispute_id,
            status=exc.http_status,
        )
    notice = (
        f"Dispute {done['id']} resolved: {_money(done['amount_released'], done['currency'])} "
        f"released, {_money(done['amount_refunded'], done['currency'])} refunded."
    )
    return await _disputes_page(request, container, viewer, notice=notice)


__all__ = ["router"]
