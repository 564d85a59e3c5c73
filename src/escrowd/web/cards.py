"""A payer's saved cards: the list (brand, last 4, expiry, the default), saving one (through
the sandbox's hosted card form, or Stripe's Payment Element with the real Stripe), choosing
the default, removing one. Each action goes through the customers service exactly as its /v1
route does (``POST /v1/customers/me/setup``, ``POST /v1/payment_methods/attach``, ``POST
/v1/customers/me``, ``POST /v1/payment_methods/{id}/detach``); no card number reaches
escrowd."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.customers import service as customers
from escrowd.customers.models import PaymentMethod
from escrowd.errors import EscrowdError, InvalidRequestError
from escrowd.users.models import User
from escrowd.web.checkout import NO_PUBLISHABLE_KEY, Checkout, publishable_key
from escrowd.web.routes import FormDep, Viewer, _base, _role, act, render, router, see_other
from escrowd.web.service import check_return_token, csrf_token, return_token

#: The subject the card form's return token is made for (an escrow's id for Pay).
SAVE = "payment-methods"


async def saved_cards(
    container: ContainerDep, viewer: Principal
) -> tuple[list[PaymentMethod], str | None]:
    """The viewer's saved cards, oldest first, and the default's id."""
    async with container.db.transaction() as session:
        stmt = customers.list_query(user_id=viewer.user_id or "")
        rows = list((await session.scalars(stmt.order_by(PaymentMethod.id))).all())
        default = await customers.default_payment_method(
            session, user_id=viewer.user_id or "", provider=container.provider.name
        )
    return rows, default


async def _user(container: ContainerDep, viewer: Principal) -> User:
    async with container.db.transaction() as session:
        user = await session.get(User, viewer.user_id)
    if user is None:  # pragma: no cover - a session's user is never deleted
        raise InvalidRequestError("You are not signed in.")
    return user


async def _page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    checkout: Checkout | None = None,
) -> Response:
    cards, default = await saved_cards(container, viewer)
    return render(
        request,
        container,
        "payment_methods.html",
        viewer,
        status=status,
        cards=cards,
        default=default,
        error=error,
        notice=notice,
        checkout=checkout,
    )


@router.get("/payment-methods")
async def payment_methods(
    request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    _role(viewer, "client")
    notice = {
        "saved": "Card saved.",
        "default": "Default card changed.",
        "removed": "Card removed.",
    }.get(done)
    return await _page(request, container, viewer, notice=notice)


@router.post("/payment-methods/setup")
async def start_setup(
    request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    """Off to the hosted card form, which comes back to ``card-return`` with a ``pm_…``."""
    _role(viewer, "client")
    csrf, _ = csrf_token(request)
    back = (
        f"{_base(request)}/app/payment-methods/card-return?t={return_token(container, csrf, SAVE)}"
    )
    try:
        started = await customers.start_setup(
            container, user=await _user(container, viewer), return_url=back
        )
    except EscrowdError as exc:
        return await _page(request, container, viewer, error=exc.message, status=exc.http_status)
    if started.card_form_url is not None:
        return see_other(started.card_form_url)
    # The real Stripe: the page again, with Stripe's Payment Element for this SetupIntent.
    key, secret = publishable_key(container), started.setup_intent.client_secret
    if key is None or secret is None:
        return await _page(request, container, viewer, status=400, error=NO_PUBLISHABLE_KEY)
    intent = started.setup_intent.id
    back = (
        f"{_base(request)}/app/payment-methods/setup-return?si={quote(intent)}"
        f"&t={return_token(container, csrf, f'{SAVE}:{intent}')}"
    )
    return await _page(request, container, viewer, checkout=Checkout("setup", key, secret, back))


@router.get("/payment-methods/setup-return")
async def setup_return(
    request: Request, container: ContainerDep, viewer: Viewer, si: str = "", t: str = ""
) -> Response:
    """Where Stripe.js sends the payer after ``confirmSetup``: the SetupIntent named in the
    link escrowd made (its token binds it to this browser) is read from the provider, and
    its card saved only if the provider says it succeeded for this payer's customer."""
    _role(viewer, "client")
    check_return_token(container, request, f"{SAVE}:{si[:255]}", t)
    try:
        await customers.finish_setup(
            container, user=await _user(container, viewer), setup_intent=si[:255]
        )
    except EscrowdError as exc:
        return await _page(request, container, viewer, error=exc.message, status=exc.http_status)
    return see_other("/app/payment-methods?done=saved")


@router.get("/payment-methods/card-return")
async def card_return(
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    t: str = "",
    payment_method: str = "",
) -> Response:
    """Back from the card form: attach the ``pm_…`` (a declining card is refused here)."""
    _role(viewer, "client")
    check_return_token(container, request, SAVE, t)
    if not payment_method.startswith("pm_") or len(payment_method) > 255:
        return await _page(
            request, container, viewer, error="No card came back from the card form.", status=400
        )
    try:
        await customers.attach_payment_method(
            container, user=await _user(container, viewer), payment_method=payment_method
        )
    except EscrowdError as exc:
        return await _page(request, container, viewer, error=exc.message, status=exc.http_status)
    return see_other("/app/payment-methods?done=saved")


@router.post("/payment-methods/{payment_method}/default")
async def make_default(
    payment_method: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    _role(viewer, "client")
    try:
        await customers.set_default_payment_method(
            container, user=await _user(container, viewer), payment_method=payment_method[:255]
        )
    except EscrowdError as exc:
        return await _page(request, container, viewer, error=exc.message, status=exc.http_status)
    return see_other(f"/app/payment-methods?done={quote('default')}")


@router.post("/payment-methods/{payment_method}/remove")
async def remove(
    payment_method: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    """Detach the card as ``POST /v1/payment_methods/{id}/detach`` does; another payer's card
    is the 404 page, nothing changed."""
    _role(viewer, "client")

    async def refused(message: str, status: int) -> Response:
        return await _page(request, container, viewer, error=message, status=status)

    detached = customers.detach_payment_method(
        container, user=await _user(container, viewer), payment_method=payment_method[:255]
    )
    return await act(detached, refused=refused, done="/app/payment-methods?done=removed")
