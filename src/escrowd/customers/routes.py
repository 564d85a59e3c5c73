"""HTTP routes for the payer's customer and saved payment methods; ``routers`` for ``/v1``.

All of them act for the person calling (a user token; API keys get 403). Routes that call the
provider resolve the caller outside the request-wide session (see escrowd.accounts.routes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from escrowd.api.auth import Caller, CurrentUser, get_current_user
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import found, list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.customers import service
from escrowd.customers.models import PaymentMethod as PaymentMethodRow
from escrowd.customers.schemas import (
    Customer,
    CustomerUpdate,
    PaymentMethod,
    PaymentMethodAttach,
    Setup,
    SetupCreate,
)
from escrowd.errors import NotFoundError
from escrowd.users.models import User


async def get_caller_user(caller: Caller) -> User:
    return await get_current_user(caller)


CallerUser = Annotated[User, Depends(get_caller_user)]

customers_router = APIRouter(prefix="/customers", tags=["customers"])
payment_methods_router = APIRouter(prefix="/payment_methods", tags=["payment methods"])


@customers_router.get(
    "/me",
    **retrieve_route(
        "Your customer at the payment provider, with your default payment method", Customer, 403
    ),
)
async def get_me(session: SessionDep, container: ContainerDep, user: CurrentUser) -> Customer:
    name = container.provider.name
    row = await service.find_customer(session, user_id=user.id, provider=name)
    missing = NotFoundError(
        "You have no customer yet: it is made when you first save a card "
        "(POST /v1/customers/me/setup, then POST /v1/payment_methods/attach).",
        code="customer_missing",
    )
    return Customer.of(found(row, missing))


@customers_router.post(
    "/me",
    **write_route("Change your default payment method", Customer, 400, 401, 403, 404),
)
async def update_me(body: CustomerUpdate, container: ContainerDep, user: CallerUser) -> Customer:
    row = await service.set_default_payment_method(
        container, user=user, payment_method=body.default_payment_method
    )
    return Customer.of(row)


@customers_router.post(
    "/me/setup",
    **write_route(
        "Start saving a card: a SetupIntent client secret, or the sandbox's card form",
        Setup,
        400,
        401,
        403,
    ),
)
async def setup(body: SetupCreate, container: ContainerDep, user: CallerUser) -> Setup:
    """With Stripe, hand `client_secret` to Stripe.js, which collects the card in the browser.
    In sandbox mode, send the browser to `card_form_url`: the test card form returns a
    `pm_…`. Either way, finish with `POST /v1/payment_methods/attach`."""
    started = await service.start_setup(
        container, user=user, return_url=body.return_url, state=body.state
    )
    return Setup(
        customer=started.customer.provider_customer_id,
        setup_intent=started.setup_intent.id,
        client_secret=started.setup_intent.client_secret,
        card_form_url=started.card_form_url,
    )


@payment_methods_router.post(
    "/attach",
    **write_route(
        "Save a payment method (pm_…) to your customer", PaymentMethod, 400, 401, 402, 403
    ),
)
async def attach(
    body: PaymentMethodAttach, container: ContainerDep, user: CallerUser
) -> PaymentMethod:
    row, customer = await service.attach_payment_method(
        container, user=user, payment_method=body.payment_method, make_default=body.default
    )
    return PaymentMethod.of(row, default_id=customer.default_payment_method)


@payment_methods_router.post(
    "/{payment_method}/detach",
    **write_route("Remove a saved payment method", PaymentMethod, 400, 401, 403, 404),
)
async def detach(payment_method: str, container: ContainerDep, user: CallerUser) -> PaymentMethod:
    """Detach one of your saved cards from your customer at the provider (Stripe's own
    `POST /v1/payment_methods/{id}/detach`) and forget it: escrows no longer offer it and
    cannot be paid with it. If it was your default, the most recently saved of your other
    cards becomes the default (none left: no default). Answers the removed card, `default`
    false. The same card removed again (another Idempotency-Key) answers 404: it is gone.
    Another user's card answers 404 and stays as it is."""
    row, _ = await service.detach_payment_method(
        container, user=user, payment_method=payment_method[:255]
    )
    return PaymentMethod.of(row, default_id=None)


@payment_methods_router.get("", **list_route("List your saved payment methods", PaymentMethod, 403))
async def list_payment_methods(
    session: SessionDep, container: ContainerDep, user: CurrentUser, page: PageDep
) -> ListResponse[PaymentMethod]:
    name = container.provider.name
    default_id = await service.default_payment_method(session, user_id=user.id, provider=name)
    return await page_of(
        session,
        service.list_query(user_id=user.id),
        PaymentMethodRow.id,
        page,
        url="/v1/payment_methods",
        of=lambda pm: PaymentMethod.of(pm, default_id=default_id),
    )


routers = [customers_router, payment_methods_router]
