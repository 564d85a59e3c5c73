"""``/v1/limits/check`` and ``/v1/usage``: what the marketplace asks before it publishes."""

from __future__ import annotations

from escrowd.api.auth import CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import write_route
from escrowd.api.strict_json import APIRouter
from escrowd.subscriptions.limits import service
from escrowd.subscriptions.limits.schemas import LimitCheck, LimitObject, UsageCreate, UsageObject

router = APIRouter(tags=["subscriptions"])


@router.post(
    "/limits/check",
    **write_route(
        "How much of a plan limit is used this month, and whether one more use fits",
        LimitObject,
        400,
        401,
        404,
    ),
)
async def check_limit(
    body: LimitCheck, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> LimitObject:
    owner, _, usage = await service.check(
        session, clock=container.clock, actor=principal, limit=body.limit, owner=body.owner
    )
    return LimitObject.of(owner, usage)


@router.post(
    "/usage",
    **write_route(
        "Record one use of a plan limit, refused (409 plan_limit_reached) when it is used up",
        UsageObject,
        400,
        401,
        404,
        409,
    ),
)
async def record_usage(
    body: UsageCreate, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> UsageObject:
    """The marketplace calls this before it publishes a job, with the job's id as `key`:
    the check and the count happen together, and a retried publish counts once."""
    row, usage = await service.record_use(
        session,
        clock=container.clock,
        actor=principal,
        limit=body.limit,
        owner=body.owner,
        key=body.key,
    )
    return UsageObject.of(row, usage)
