"""``/v1/disputes``: a party opens one, adds evidence; an admin reviews and resolves it;
the opener (or an admin) closes it. Chargebacks arrive by webhook (``handlers.py``).

Opening (it freezes money) and resolving (it moves money) demand an ``Idempotency-Key``;
evidence, review and close take one optionally. The writes run their own short transactions
(``Caller``): resolving calls the provider after its commit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path, Query
from fastapi.responses import JSONResponse

from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, money_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.disputes import service
from escrowd.disputes.domain import DisputeKind, DisputeStatus
from escrowd.disputes.models import Dispute
from escrowd.disputes.schemas import (
    DisputeClose,
    DisputeCreate,
    DisputeObject,
    DisputeResolve,
    EvidenceAdd,
)
from escrowd.ids import Prefix, id_pattern

DisputeIdPath = Annotated[
    str, Path(pattern=id_pattern(Prefix.dispute), description="The dispute's id (dsp_…).")
]

router = APIRouter(prefix="/disputes", tags=["disputes"])


@router.post(
    "",
    **money_route(
        "Open a dispute on an escrow or one of its allocations (its payer or payees, admins)",
        DisputeObject,
        400,
        403,
        404,
    ),
)
async def open_dispute(
    body: DisputeCreate, container: ContainerDep, caller: Caller
) -> JSONResponse:
    """The money still free in the escrow (or the allocation) is the disputed amount, and the
    whole escrow is frozen (`disputed`) until the dispute is resolved or closed."""
    return JSONResponse(
        await service.open_dispute(
            container,
            actor=caller,
            escrow_id=body.escrow,
            allocation_id=body.allocation,
            reason=body.reason,
            description=body.description,
            evidence=body.evidence,
        )
    )


@router.get(
    "",
    **list_route(
        "List the disputes of escrows you pay or are paid by (admins: all)", DisputeObject
    ),
)
async def list_disputes(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[DisputeStatus | None, Query(description="Only this status.")] = None,
    kind: Annotated[DisputeKind | None, Query(description="internal or chargeback.")] = None,
    escrow: Annotated[
        str | None, Query(pattern=id_pattern(Prefix.escrow), description="Only this escrow's.")
    ] = None,
) -> ListResponse[DisputeObject]:
    stmt = await service.list_query(
        session,
        actor=principal,
        status=None if status is None else status.value,
        escrow=escrow,
        kind=None if kind is None else kind.value,
    )
    return await page_of(session, stmt, Dispute.id, page, url="/v1/disputes", of=DisputeObject.of)


@router.get("/{dispute_id}", **retrieve_route("Retrieve a dispute", DisputeObject))
async def get_dispute(
    dispute_id: DisputeIdPath, session: SessionDep, principal: CurrentPrincipal
) -> DisputeObject:
    return DisputeObject.of(
        await service.get_visible(session, actor=principal, dispute_id=dispute_id)
    )


@router.post(
    "/{dispute_id}/evidence",
    **write_route(
        "Add an evidence note (the escrow's parties, admins)",
        DisputeObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def add_evidence(
    dispute_id: DisputeIdPath, body: EvidenceAdd, container: ContainerDep, caller: Caller
) -> JSONResponse:
    return JSONResponse(
        await service.add_evidence(container, actor=caller, dispute_id=dispute_id, note=body.note)
    )


@router.post(
    "/{dispute_id}/review",
    **write_route(
        "Start reviewing an open dispute (admins)", DisputeObject, 400, 401, 403, 404, 409
    ),
)
async def review_dispute(
    dispute_id: DisputeIdPath, container: ContainerDep, caller: Caller
) -> JSONResponse:
    return JSONResponse(await service.review(container, actor=caller, dispute_id=dispute_id))


@router.post(
    "/{dispute_id}/resolve",
    **money_route(
        "Resolve a dispute: release, refund, partial refund or split (admins)",
        DisputeObject,
        400,
        403,
        404,
        502,
    ),
)
async def resolve_dispute(
    dispute_id: DisputeIdPath, body: DisputeResolve, container: ContainerDep, caller: Caller
) -> JSONResponse:
    """The escrow unfreezes and the money moves with the escrow's own release and refund, in
    minor units; a split's parts must add up to the disputed amount exactly."""
    return JSONResponse(
        await service.resolve(
            container,
            actor=caller,
            dispute_id=dispute_id,
            outcome=body.outcome,
            release_amount=body.release_amount,
            refund_amount=body.refund_amount,
            notes=body.notes,
        )
    )


@router.post(
    "/{dispute_id}/close",
    **write_route(
        "Withdraw (the opener) or close (admins) a dispute without moving money",
        DisputeObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def close_dispute(
    dispute_id: DisputeIdPath,
    container: ContainerDep,
    caller: Caller,
    body: Annotated[DisputeClose | None, Body()] = None,
) -> JSONResponse:
    notes = body.notes if body is not None else None
    return JSONResponse(
        await service.close(container, actor=caller, dispute_id=dispute_id, notes=notes)
    )


routers = [router]
