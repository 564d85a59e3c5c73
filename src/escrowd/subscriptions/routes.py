"""``/v1/plans`` and ``/v1/subscriptions`` (and the routers of ``limits/``).

Subscribing, changing plan and cancelling call the provider (and move money, or set it to
move), so each demands an ``Idempotency-Key`` and resolves its caller in a short transaction of
its own (``Caller``), holding none across the call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from escrowd.api.auth import AdminPrincipal, Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, money_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.subscriptions import service
from escrowd.subscriptions.domain import SubscriptionStatus
from escrowd.subscriptions.limits.routes import router as limits_router
from escrowd.subscriptions.models import Subscription
from escrowd.subscriptions.schemas import (
    PlanChange,
    PlanCreate,
    PlanObject,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionObject,
)

SubscriptionIdPath = Annotated[
    str,
    Path(pattern=r"^subs_[0-9A-HJKMNP-TV-Z]{26}$", description="The subscription's id (subs_…)."),
]

plans = APIRouter(prefix="/plans", tags=["subscriptions"])
router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])


@plans.get(
    "",
    summary="List the membership plans, cheapest first (no credentials needed)",
    response_model=ListResponse[PlanObject],
)
async def list_plans(session: SessionDep) -> ListResponse[PlanObject]:
    rows = await service.plans(session)
    return ListResponse(url="/v1/plans", has_more=False, data=[PlanObject.of(r) for r in rows])


@plans.post(
    "",
    **write_route("Create a plan (admins)", PlanObject, 400, 401, 403, 404, 409),
)
async def create_plan(
    body: PlanCreate, session: SessionDep, container: ContainerDep, principal: AdminPrincipal
) -> PlanObject:
    row = await service.create_plan(
        session,
        clock=container.clock,
        code=body.code,
        name=body.name,
        amount=body.amount,
        currency=body.currency,
        interval=body.interval,
        limits=body.limits,
        audience=body.audience,
        upgrade_to=body.upgrade_to,
    )
    return PlanObject.of(row)


@router.post(
    "",
    **money_route(
        "Subscribe to a paid plan (incomplete until the first payment is confirmed)",
        SubscriptionCreated,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def create_subscription(
    body: SubscriptionCreate, container: ContainerDep, caller: Caller
) -> SubscriptionCreated:
    """Answers with `client_secret`: the payer confirms the first invoice's payment with it
    (3-D Secure when the card asks). The subscription turns `active` when the provider
    reports the invoice paid."""
    row, secret = await service.subscribe(
        container,
        actor=caller,
        plan_code=body.plan,
        payment_method=body.payment_method,
        organization=body.organization,
    )
    shown = SubscriptionObject.of(row)
    return SubscriptionCreated(**shown.model_dump(), client_secret=secret)


@router.get(
    "",
    **list_route(
        "List subscriptions: your own and your organizations' (admins: all)", SubscriptionObject
    ),
)
async def list_subscriptions(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[
        SubscriptionStatus | None, Query(description="Only subscriptions in this status.")
    ] = None,
) -> ListResponse[SubscriptionObject]:
    parties = await service.parties_of(session, actor=principal)
    stmt = service.visible_query(actor=principal, parties=parties, status=status)
    return await page_of(
        session, stmt, Subscription.id, page, url="/v1/subscriptions", of=SubscriptionObject.of
    )


@router.get("/{subscription_id}", **retrieve_route("Retrieve a subscription", SubscriptionObject))
async def get_subscription(
    subscription_id: SubscriptionIdPath, session: SessionDep, principal: CurrentPrincipal
) -> SubscriptionObject:
    row = await service.get_visible(session, actor=principal, subscription_id=subscription_id)
    return SubscriptionObject.of(row)


@router.post(
    "/{subscription_id}/change_plan",
    **money_route(
        "Upgrade or downgrade: limits change now, the price from the next invoice",
        SubscriptionObject,
        400,
        403,
        404,
        502,
    ),
)
async def change_plan(
    subscription_id: SubscriptionIdPath, body: PlanChange, container: ContainerDep, caller: Caller
) -> SubscriptionObject:
    row = await service.change_plan(
        container, actor=caller, subscription_id=subscription_id, plan_code=body.plan
    )
    return SubscriptionObject.of(row)


@router.post(
    "/{subscription_id}/cancel",
    **money_route(
        "Cancel at the end of the paid period (nothing is refunded)",
        SubscriptionObject,
        403,
        404,
        502,
    ),
)
async def cancel_subscription(
    subscription_id: SubscriptionIdPath, container: ContainerDep, caller: Caller
) -> SubscriptionObject:
    row = await service.cancel(container, actor=caller, subscription_id=subscription_id)
    return SubscriptionObject.of(row)


routers = (plans, router, limits_router)
