"""Seed 003's pages: tasks with their bids. Doers bid (typed like ``80.00``), the customer
accepts one (the task's escrow is made for them to pay on its escrow page) and completes the
paid task (the escrow is released to the doer); a doer sees the tasks it bid on or does. The
tasks service does everything, exactly as ``/v1/tasks`` calls it; docs/webapp.md."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.errors import validated
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.errors import EscrowdError, InvalidRequestError, NotFoundError
from escrowd.marketplace.tasks import domain
from escrowd.marketplace.tasks import service as tasks
from escrowd.marketplace.tasks.domain import PaymentStatus
from escrowd.marketplace.tasks.schemas import BidCreate, TaskCreate, bid_json
from escrowd.money import normalize_currency
from escrowd.web.once import once
from escrowd.web.routes import (
    LIVE_TYPES,
    SHOWN,
    FormDep,
    Refused,
    Viewer,
    act,
    form_key,
    live_stream,
    render,
    see_other,
)
from escrowd.web.service import PageMissing, parse_amount

#: Served only when ESCROWD_MARKETPLACES runs the tasks flow (``mount.install``).
router = APIRouter(prefix="/app", include_in_schema=False)

NOTICES = {
    "posted": "Task posted: it is open, and doers may bid on it now.",
    "cancelled": "Task cancelled: its bids are turned down and an unpaid escrow is called off.",
    "bid": "Bid placed: the customer decides.",
    "accepted": "Bid accepted: pay the task's escrow; the money is held until you complete it.",
    "completed": "Completed: the escrow is released to the doer.",
}


async def _list_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    """Open tasks and the viewer's own (as customer or doer), newest first."""
    async with container.db.transaction() as session:
        stmt = await tasks.list_query(session, actor=viewer, status=None)
        rows = (await session.scalars(stmt.limit(SHOWN))).all()
        shown = await tasks.show_many(session, rows, viewer)
    return render(
        request,
        container,
        "tasks.html",
        viewer,
        status=status,
        tasks=shown,
        error=error,
        # Next to the form when the viewer has it (a client), else at the top of the page.
        failed="post" if error and viewer.role == "client" else None,
        form=form or {"currency": "usd"},
    )


@router.get("/tasks")
async def task_list(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    return await _list_page(request, container, viewer)


@router.post("/tasks")
async def post_task(
    request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """Post a task as ``POST /v1/tasks`` does (customers only: the service's rule); it is
    open, taking bids, at once."""
    typed = {
        "title": form.get("title", "")[:300],
        "description": form.get("description", "")[:3000],
        "currency": form.get("currency", "usd")[:3],
    }
    try:
        fields = {
            "title": typed["title"].strip(),
            "description": typed["description"].strip() or None,
            "currency": normalize_currency(typed["currency"]),
        }
        body = validated(TaskCreate, fields)
        async with container.db.transaction() as session:
            row = await tasks.create_task(session, clock=container.clock, actor=viewer, body=body)
            task_id = row.id
    except EscrowdError as exc:
        return await _list_page(
            request, container, viewer, error=exc.message, status=exc.http_status, form=typed
        )
    return see_other(_back(task_id, "posted"))


async def _task_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    task_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    amount: str = "",
) -> Response:
    async with container.db.transaction() as session:
        try:
            row = await tasks.get_visible(session, task_id=task_id, actor=viewer)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
        task = await tasks.show(session, row, viewer)
        stmt = await tasks.bids_query(session, task_id=task_id, actor=viewer)
        bids = [bid_json(b) for b in (await session.scalars(stmt.limit(SHOWN))).all()]
        stream = await live_stream(session, viewer, task.escrow) if task.escrow else None
    customer = viewer.is_admin or viewer.user_id == task.customer
    return render(
        request,
        container,
        "task.html",
        viewer,
        status=status,
        task=task,
        stream=stream,
        event_types=LIVE_TYPES,
        bids=bids,
        customer=customer,
        can_bid=task.status.value == "open" and viewer.role == "worker",
        # The service's rule: a paid task is refunded by an admin only (else a dispute).
        can_cancel=customer
        and domain.cancellable(task.status)
        and (viewer.is_admin or task.payment_status is not PaymentStatus.payment_in_escrow),
        error=error,
        notice=notice,
        amount=amount,
    )


@router.get("/tasks/{task_id}")
async def task_page(
    task_id: str, request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    return await _task_page(request, container, viewer, task_id, notice=NOTICES.get(done))


def _refused(
    request: Request, container: ContainerDep, viewer: Principal, task_id: str, amount: str = ""
) -> Refused:
    async def page(message: str, status: int) -> Response:
        return await _task_page(
            request, container, viewer, task_id, error=message, status=status, amount=amount
        )

    return page


def _back(task_id: str, done: str) -> str:
    return f"/app/tasks/{quote(task_id)}?done={done}"


@router.post("/tasks/{task_id}/bids")
async def place_bid(
    task_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    typed = form.get("amount", "")[:40]

    async def bid() -> None:
        async with container.db.transaction() as session:
            row = await tasks.get_visible(session, task_id=task_id, actor=viewer)
            currency = row.currency
        amount = parse_amount(typed, currency, field="bid")
        if amount <= 0:
            raise InvalidRequestError("Bid an amount above zero.", param="amount")
        async with container.db.transaction() as session:
            await tasks.place_bid(
                session,
                clock=container.clock,
                actor=viewer,
                task_id=task_id,
                body=BidCreate(amount=amount, currency=currency),
            )

    return await act(
        bid(),
        refused=_refused(request, container, viewer, task_id, amount=typed),
        done=_back(task_id, "bid"),
    )


@router.post("/tasks/{task_id}/bids/{bid_id}/accept")
async def accept_bid(
    task_id: str,
    bid_id: str,
    request: Request,
    container: ContainerDep,
    _form: FormDep,
    viewer: Viewer,
) -> Response:
    return await act(
        tasks.accept_bid(container, actor=viewer, task_id=task_id, bid_id=bid_id),
        refused=_refused(request, container, viewer, task_id),
        done=_back(task_id, "accepted"),
    )


@router.post("/tasks/{task_id}/complete")
async def complete(
    task_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    return await act(
        tasks.complete(container, actor=viewer, task_id=task_id, idempotency_key=form_key(form)),
        refused=_refused(request, container, viewer, task_id),
        done=_back(task_id, "completed"),
    )


@router.post("/tasks/{task_id}/cancel")
async def cancel(
    task_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """Cancel as ``POST /v1/tasks/{id}/cancel`` does (an unpaid escrow is cancelled, a paid one
    refunded by an admin); once per form key."""

    async def call_off() -> str:
        await tasks.cancel(container, actor=viewer, task_id=task_id)
        return task_id

    return await act(
        once(
            container,
            viewer,
            form_key(form),
            path=f"/app/tasks/{quote(task_id)}/cancel",
            values=task_id,
            run=call_off,
        ),
        refused=_refused(request, container, viewer, task_id),
        done=_back(task_id, "cancelled"),
    )
