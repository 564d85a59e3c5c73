"""``/v1/tasks``: tasks, bids on them by users and organizations, and the customer's and the
doer's dashboards (docs/marketplaces.md).

Accepting a bid answers with the task and its escrow, which the customer pays through the
escrows API (``POST /v1/escrows/{id}/fund``); completing the task releases that escrow to the
doer. Completing and cancelling move money, so they take an ``Idempotency-Key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Path, Query, Request

from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, money_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.marketplace.tasks import service
from escrowd.marketplace.tasks.domain import TaskStatus
from escrowd.marketplace.tasks.models import Task, TaskBid
from escrowd.marketplace.tasks.schemas import (
    BidCreate,
    BidObject,
    CustomerDashboard,
    DoerDashboard,
    TaskCreate,
    TaskObject,
    bid_json,
)

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskIdPath = Annotated[str, Path(max_length=64, description="A task id (task_…).")]
BidIdPath = Annotated[str, Path(max_length=64, description="A bid id (tbid_…).")]


@router.get(
    "/dashboard/customer",
    summary="Your tasks as a customer, their payments and totals",
    response_model=CustomerDashboard,
    responses=error_responses(401, 403),
)
async def customer_dashboard(session: SessionDep, principal: CurrentPrincipal) -> CustomerDashboard:
    return await service.customer_dashboard(session, actor=principal)


@router.get(
    "/dashboard/doer",
    **retrieve_route(
        "Your tasks as a doer (or an organization's you belong to), payments and totals",
        DoerDashboard,
        400,
        403,
    ),
)
async def doer_dashboard(
    session: SessionDep,
    principal: CurrentPrincipal,
    organization: Annotated[
        str | None,
        Query(max_length=40, description="An organization you belong to (org_…)."),
    ] = None,
) -> DoerDashboard:
    """The `account` part shows an organization's connected account to its admins only."""
    return await service.doer_dashboard(session, actor=principal, organization=organization)


@router.post(
    "",
    **write_route("Post a task (customers)", TaskObject, 400, 401, 403),
)
async def create_task(
    body: TaskCreate, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> TaskObject:
    row = await service.create_task(session, clock=container.clock, actor=principal, body=body)
    return await service.show(session, row, principal)


@router.get(
    "", **list_route("List open tasks and yours (as customer or doer), newest first", TaskObject)
)
async def list_tasks(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this state.")] = None,
) -> ListResponse[TaskObject]:
    stmt = await service.list_query(session, actor=principal, status=status)

    async def render(rows: Sequence[Task]) -> list[TaskObject]:
        return await service.show_many(session, rows, principal)

    return await page_of(session, stmt, Task.id, page, url="/v1/tasks", render=render)


@router.get("/{task_id}", **retrieve_route("Retrieve a task", TaskObject))
async def retrieve_task(
    task_id: TaskIdPath, session: SessionDep, principal: CurrentPrincipal
) -> TaskObject:
    row = await service.get_visible(session, task_id=task_id, actor=principal)
    return await service.show(session, row, principal)


@router.post(
    "/{task_id}/bids",
    **write_route(
        "Bid on an open task, for yourself or for an organization you belong to",
        BidObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def place_bid(
    task_id: TaskIdPath,
    body: BidCreate,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
) -> BidObject:
    bid = await service.place_bid(
        session, clock=container.clock, actor=principal, task_id=task_id, body=body
    )
    return bid_json(bid)


@router.get(
    "/{task_id}/bids",
    **list_route(
        "List a task's bids: all of them for its customer and admins, else your own", BidObject, 404
    ),
)
async def list_bids(
    task_id: TaskIdPath, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> ListResponse[BidObject]:
    stmt = await service.bids_query(session, task_id=task_id, actor=principal)
    return await page_of(
        session, stmt, TaskBid.id, page, url=f"/v1/tasks/{task_id}/bids", of=bid_json
    )


@router.post(
    "/{task_id}/bids/{bid_id}/accept",
    **write_route(
        "Accept a bid (the customer): the task's escrow is created for you to pay",
        TaskObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def accept_bid(
    task_id: TaskIdPath, bid_id: BidIdPath, container: ContainerDep, caller: Caller
) -> TaskObject:
    """The doer needs a verified connected account: otherwise 409 with the KYC gate's code
    (`payee_account_missing`, `payee_account_pending`, `payee_account_restricted`,
    `payee_account_deauthorized`, …) and nothing changes."""
    return await service.accept_bid(container, actor=caller, task_id=task_id, bid_id=bid_id)


@router.post(
    "/{task_id}/complete",
    **money_route(
        "Complete a paid task (the customer): its escrow is released to the doer",
        TaskObject,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def complete_task(
    task_id: TaskIdPath, container: ContainerDep, caller: Caller, request: Request
) -> TaskObject:
    return await service.complete(
        container,
        actor=caller,
        task_id=task_id,
        idempotency_key=request.headers.get("idempotency-key"),
    )


@router.post(
    "/{task_id}/cancel",
    **money_route(
        "Cancel a task not paid yet (the customer; admins also refund a paid one)",
        TaskObject,
        400,
        403,
        404,
        502,
    ),
)
async def cancel_task(task_id: TaskIdPath, container: ContainerDep, caller: Caller) -> TaskObject:
    return await service.cancel(container, actor=caller, task_id=task_id)


routers = [router]
