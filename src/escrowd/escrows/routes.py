"""HTTP routes for escrows; ``routers`` is what create_app mounts under ``/v1``.

Routes that change an escrow resolve the caller in a short transaction of their own
(``Caller``) instead of the request-wide ``SessionDep``: the use cases run their own short
transactions around provider calls, and none stays open across one (on SQLite the in-process
sandbox could not write otherwise). Reads use the request's session.

The routes that move money (fund, capture, release, refund) take ``RequireIdempotencyKey``:
without an ``Idempotency-Key`` they are refused before anything happens.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Path, Query, Request
from fastapi.responses import JSONResponse

from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, money_route, page_json, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.strict_json import APIRouter
from escrowd.escrows import funding, refund, release, service
from escrowd.escrows.models import Escrow
from escrowd.escrows.schemas import (
    AssignRequest,
    CancelRequest,
    EscrowCreate,
    EscrowObject,
    FundRequest,
    RefundRequest,
    ReleaseObject,
    ReleaseRequest,
)
from escrowd.escrows.states import State

MAX_CREATED = 9_999_999_999

EscrowIdPath = Annotated[str, Path(max_length=64, description="An escrow id (esc_…).")]
AllocationIdPath = Annotated[str, Path(max_length=64, description="An allocation id (alloc_…).")]
_Created = Annotated[int | None, Query(ge=0, le=MAX_CREATED)]


router = APIRouter(prefix="/escrows", tags=["escrows"])


def _ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body)


@router.post("", **write_route("Create an escrow", EscrowObject, 400, 401, 403, 404, 409))
async def create_escrow(
    body: EscrowCreate, container: ContainerDep, caller: Caller
) -> JSONResponse:
    """The payer is the calling client (API keys and admins name a `payer`). Allocations go
    to named payees (`usr_…`, `org_…`) or are open slots (`payee: null`) assigned later."""
    return _ok(await service.create(container, actor=caller, body=body))


@router.get(
    "", **list_route("List the escrows you pay, are paid by, or (admins) all of them", EscrowObject)
)
async def list_escrows(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[State | None, Query(description="Only escrows in this state.")] = None,
    payer: Annotated[str | None, Query(max_length=40)] = None,
    payee: Annotated[str | None, Query(max_length=40)] = None,
    created_gt: Annotated[_Created, Query(alias="created[gt]")] = None,
    created_gte: Annotated[_Created, Query(alias="created[gte]")] = None,
    created_lt: Annotated[_Created, Query(alias="created[lt]")] = None,
    created_lte: Annotated[_Created, Query(alias="created[lte]")] = None,
) -> JSONResponse:
    filters = service.ListFilters(
        status=(status.value,) if status else (),
        payer=payer,
        payee=payee,
        created_gt=created_gt,
        created_gte=created_gte,
        created_lt=created_lt,
        created_lte=created_lte,
    )
    stmt = service.list_query(actor=principal, filters=filters)
    return await page_json(
        session,
        stmt,
        Escrow.id,
        page,
        url="/v1/escrows",
        render=lambda escrows: service.page_json(session, escrows),
    )


@router.get("/{escrow_id}", **retrieve_route("Retrieve an escrow", EscrowObject))
async def get_escrow(
    escrow_id: EscrowIdPath, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    return _ok(await service.retrieve(session, escrow_id=escrow_id, actor=principal))


@router.post(
    "/{escrow_id}/fund",
    **money_route(
        "Pay for the escrow: charge or authorize the payer's card, or its PayPal order",
        EscrowObject,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def fund_escrow(
    escrow_id: EscrowIdPath,
    container: ContainerDep,
    caller: Caller,
    body: Annotated[FundRequest | None, Body()] = None,
) -> JSONResponse:
    """`payment_method` (a `pm_…`; default: the payer's saved card), or `return_url` alone for
    the hosted card form. 3-D Secure makes the escrow `requires_action`: open
    `next_action.url`. A decline is a 402 `card_error`.

    A PayPal escrow (`payment_provider: paypal`) takes no `payment_method`: the first call
    creates the PayPal order and the escrow waits in `requires_action` with PayPal's approval
    page as `next_action.url` (`return_url`: where PayPal sends the payer back); once the
    payer approved, call it again (or let PayPal's webhook do it) to authorize or capture.
    Before approval PayPal refuses: 400 `order_not_approved`."""
    body = body or FundRequest()
    return _ok(
        await funding.fund(
            container,
            escrow_id=escrow_id,
            actor=caller,
            payment_method=body.payment_method,
            return_url=body.return_url,
        )
    )


@router.post(
    "/{escrow_id}/capture",
    **money_route("Capture an authorized escrow", EscrowObject, 400, 403, 404, 502),
)
async def capture_escrow(
    escrow_id: EscrowIdPath, container: ContainerDep, caller: Caller
) -> JSONResponse:
    return _ok(await funding.capture(container, escrow_id=escrow_id, actor=caller))


@router.post(
    "/{escrow_id}/release",
    **money_route(
        "Release allocations to their payees (all, some, or parts)",
        ReleaseObject,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def release_escrow(
    escrow_id: EscrowIdPath,
    container: ContainerDep,
    caller: Caller,
    request: Request,
    body: Annotated[ReleaseRequest | None, Body()] = None,
) -> JSONResponse:
    """One transfer per allocation; the answer is the escrow plus `results`, one per
    allocation (`paid`, `failed` or `pending`). When one is not paid the answer is a 402 (502
    when an outcome is unknown) whose `error` carries `escrow` and `results`, with
    `Escrowd-Should-Retry: true`: a retry with the same Idempotency-Key pays only the
    allocations not paid yet, never one twice."""
    items = (
        [(a.id, a.amount) for a in body.allocations]
        if body is not None and body.allocations is not None
        else None
    )
    return _ok(
        await release.release(
            container,
            escrow_id=escrow_id,
            actor=caller,
            items=items,
            idempotency_key=request.headers.get("idempotency-key"),
        )
    )


@router.post(
    "/{escrow_id}/refund",
    **money_route(
        "Refund money (all, pro rata, or named allocations); released money with clawback",
        EscrowObject,
        400,
        403,
        404,
        502,
    ),
)
async def refund_escrow(
    escrow_id: EscrowIdPath,
    container: ContainerDep,
    caller: Caller,
    body: Annotated[RefundRequest | None, Body()] = None,
) -> JSONResponse:
    body = body or RefundRequest()
    items = [(a.id, a.amount) for a in body.allocations] if body.allocations else None
    return _ok(
        await refund.refund(
            container,
            escrow_id=escrow_id,
            actor=caller,
            amount=body.amount,
            prorated=body.prorated,
            items=items,
            reason=body.reason,
            clawback=body.clawback,
        )
    )


@router.post(
    "/{escrow_id}/cancel",
    **write_route(
        "Cancel an escrow before its money is held", EscrowObject, 400, 401, 403, 404, 409
    ),
)
async def cancel_escrow(
    escrow_id: EscrowIdPath,
    container: ContainerDep,
    caller: Caller,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> JSONResponse:
    reason = body.reason if body is not None else None
    return _ok(await funding.cancel(container, escrow_id=escrow_id, actor=caller, reason=reason))


@router.post(
    "/{escrow_id}/allocations/{allocation_id}/assign",
    **write_route("Give an open allocation its payee", EscrowObject, 400, 401, 403, 404, 409),
)
async def assign_payee(
    escrow_id: EscrowIdPath,
    allocation_id: AllocationIdPath,
    body: AssignRequest,
    container: ContainerDep,
    caller: Caller,
) -> JSONResponse:
    """The slot is priced again with the payee's own fee policy (the escrow's `fee_policy`
    still wins); nothing moves in the ledger until release. A fee larger than the slot is 400
    `fee_exceeds_amount`; a change of what the payer is charged after the payment started is
    409 `allocation_price_locked`."""
    return _ok(
        await service.assign(
            container,
            escrow_id=escrow_id,
            allocation_id=allocation_id,
            actor=caller,
            payee=body.payee,
        )
    )


routers = [router]
