"""``/v1/gigs``: a client hires an expert; the payment is authorized, captured on completion,
voided or refunded on cancellation (docs/marketplaces.md).

The expert's onboarding is the core accounts API (``/v1/accounts``: create, onboarding link,
dashboard link, refresh). Hire, complete and cancel move money, so they require an
``Idempotency-Key``; hiring also remembers it on the gig (a retry is the same gig).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Header, Path, Query

from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.idempotency_required import HEADER_NAME, key_required
from escrowd.api.listing import list_route, money_route, page_of, retrieve_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.marketplace.gigs import service
from escrowd.marketplace.gigs.domain import GigStatus
from escrowd.marketplace.gigs.models import Gig
from escrowd.marketplace.gigs.schemas import GigCancel, GigCreate, GigObject, GigStatusObject

router = APIRouter(prefix="/gigs", tags=["gigs"])

GigIdPath = Annotated[str, Path(max_length=64, description="A gig id (gig_…).")]
KeyHeader = Annotated[str | None, Header(alias=HEADER_NAME, include_in_schema=False)]


@router.post(
    "",
    **money_route(
        "Hire an expert: the gig's price is authorized on the client's card, not captured",
        GigObject,
        400,
        402,
        403,
        502,
    ),
)
async def create_gig(
    body: GigCreate, container: ContainerDep, caller: Caller, key: KeyHeader = None
) -> GigObject:
    """`payment_method` (a `pm_…`; default: the client's saved card), or `return_url` alone
    for the hosted card form. The same `Idempotency-Key` is the same gig: its card is never
    authorized twice. The expert needs a verified connected account (409 `payee_account_…`);
    a decline is a 402 `card_error`."""
    if key is None:  # pragma: no cover - RequireIdempotencyKey refused it already
        raise key_required()
    return await service.initiate(container, actor=caller, body=body, idempotency_key=key)


@router.get(
    "",
    **list_route(
        "Payment history: the gigs you pay or are paid by (admins: all), newest first", GigObject
    ),
)
async def list_gigs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[GigStatus | None, Query(description="Only gigs in this status.")] = None,
) -> ListResponse[GigObject]:
    return await page_of(
        session,
        service.list_query(actor=principal, status=status),
        Gig.id,
        page,
        url="/v1/gigs",
        render=lambda rows: service.page(session, list(rows)),
    )


@router.get(
    "/{gig_id}",
    **retrieve_route("Retrieve a gig: its payment, commission and the expert's amount", GigObject),
)
async def retrieve_gig(
    gig_id: GigIdPath, session: SessionDep, principal: CurrentPrincipal
) -> GigObject:
    return await service.retrieve(session, gig_id=gig_id, actor=principal)


@router.get("/{gig_id}/status", **retrieve_route("A gig's payment status", GigStatusObject))
async def gig_status(
    gig_id: GigIdPath, session: SessionDep, principal: CurrentPrincipal
) -> GigStatusObject:
    status, escrow_status = await service.status(session, gig_id=gig_id, actor=principal)
    return GigStatusObject(id=gig_id, status=GigStatus(status), escrow_status=escrow_status)


@router.post(
    "/{gig_id}/complete",
    **money_route(
        "Complete a gig: capture the payment and release it to the expert",
        GigObject,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def complete_gig(
    gig_id: GigIdPath, container: ContainerDep, caller: Caller, key: KeyHeader = None
) -> GigObject:
    """The client or the platform. The expert gets the amount less the 10 % commission."""
    return await service.complete(container, actor=caller, gig_id=gig_id, idempotency_key=key)


@router.post(
    "/{gig_id}/cancel",
    **money_route(
        "Cancel a gig: void the authorization, or refund the client once captured",
        GigObject,
        400,
        403,
        404,
        502,
    ),
)
async def cancel_gig(
    gig_id: GigIdPath,
    container: ContainerDep,
    caller: Caller,
    body: Annotated[GigCancel | None, Body()] = None,
) -> GigObject:
    """The client or the platform. A completed gig is 409 `gig_completed` (dispute it)."""
    reason = body.reason if body is not None else None
    return await service.cancel(container, actor=caller, gig_id=gig_id, reason=reason)


routers = [router]
