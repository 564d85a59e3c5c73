"""``/v1/auctions``: artworks with a secret threshold, and bids on them (docs/marketplaces.md).

A winning bid answers with the escrow its bidder pays through the escrows API
(``POST /v1/escrows/{id}/fund``); the artwork follows that escrow. The threshold appears in
an artwork only for its seller and admins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.marketplace.auctions import service
from escrowd.marketplace.auctions.domain import ArtworkStatus
from escrowd.marketplace.auctions.models import Artwork, Bid
from escrowd.marketplace.auctions.schemas import (
    ArtworkCreate,
    ArtworkObject,
    BidCreate,
    BidObject,
    artwork_json,
    bid_json,
)

router = APIRouter(prefix="/auctions", tags=["auctions"])

ArtworkIdPath = Annotated[str, Path(max_length=64, description="An artwork id (art_…).")]


@router.post(
    "/artworks",
    **write_route(
        "List an artwork for sale with a secret threshold", ArtworkObject, 400, 401, 403, 409
    ),
)
async def create_artwork(
    body: ArtworkCreate, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> ArtworkObject:
    """The seller needs a verified connected account (the sale is paid to it)."""
    row = await service.create_artwork(session, clock=container.clock, actor=principal, body=body)
    return artwork_json(row, viewer=principal.user_id, admin=principal.is_admin)


@router.get("/artworks", **list_route("List artworks, newest first", ArtworkObject))
async def list_artworks(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[
        ArtworkStatus | None, Query(description="Only artworks in this state.")
    ] = None,
) -> ListResponse[ArtworkObject]:
    return await page_of(
        session,
        service.list_query(status=status),
        Artwork.id,
        page,
        url="/v1/auctions/artworks",
        of=lambda row: artwork_json(row, viewer=principal.user_id, admin=principal.is_admin),
    )


@router.get("/artworks/{artwork_id}", **retrieve_route("Retrieve an artwork", ArtworkObject))
async def retrieve_artwork(
    artwork_id: ArtworkIdPath, session: SessionDep, principal: CurrentPrincipal
) -> ArtworkObject:
    row = await service.get_artwork(session, artwork_id=artwork_id)
    return artwork_json(row, viewer=principal.user_id, admin=principal.is_admin)


@router.post(
    "/artworks/{artwork_id}/bids",
    **write_route(
        "Bid on an artwork: at or above its secret threshold, you win and pay its escrow",
        BidObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def place_bid(
    artwork_id: ArtworkIdPath, body: BidCreate, container: ContainerDep, caller: Caller
) -> BidObject:
    """While a winner's payment is pending (10 minutes at most) or once sold, bids are refused
    (409 `artwork_pending_payment`, `artwork_sold`)."""
    bid = await service.place_bid(container, actor=caller, artwork_id=artwork_id, body=body)
    return bid_json(bid)


@router.get(
    "/artworks/{artwork_id}/bids",
    **list_route(
        "List an artwork's bids: all of them for its seller and admins, else your own",
        BidObject,
        404,
    ),
)
async def list_bids(
    artwork_id: ArtworkIdPath, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> ListResponse[BidObject]:
    stmt = await service.bids_query(session, artwork_id=artwork_id, actor=principal)
    return await page_of(
        session, stmt, Bid.id, page, url=f"/v1/auctions/artworks/{artwork_id}/bids", of=bid_json
    )


routers = [router]
