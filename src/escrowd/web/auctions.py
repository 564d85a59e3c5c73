"""Seed 004's pages: artworks with a bid box, and the winning bidder's payment modal with a
countdown of the 10-minute window. The auctions service does everything (the threshold stays
hidden from everyone but the seller and admins, as in the API); docs/webapp.md."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.clock import unix
from escrowd.errors import EscrowdError, InvalidRequestError, NotFoundError
from escrowd.escrows import service as escrows
from escrowd.escrows.states import State
from escrowd.events.domain import EventType
from escrowd.marketplace.auctions import service as auctions
from escrowd.marketplace.auctions.domain import ArtworkStatus, BidStatus
from escrowd.marketplace.auctions.models import Artwork
from escrowd.marketplace.auctions.schemas import ArtworkCreate, BidCreate, artwork_json, bid_json
from escrowd.money import normalize_currency
from escrowd.web.routes import (
    SHOWN,
    FormDep,
    Viewer,
    _money,
    _role,
    render,
    see_other,
)
from escrowd.web.service import PageMissing, parse_amount

#: Served only when ESCROWD_MARKETPLACES runs the auctions flow (``routes.install``).
router = APIRouter(prefix="/app", include_in_schema=False)

#: How often (seconds) a page showing an artwork that waits for a payment reads it again:
#: the artwork follows its escrow through a sweep, which writes no event of its own.
POLL_SECONDS = 10


async def _list_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    async with container.db.transaction() as session:
        rows = (await session.scalars(auctions.list_query().limit(SHOWN))).all()
        shown = []
        for row in rows:
            art = artwork_json(row, viewer=viewer.user_id, admin=viewer.is_admin)
            shown.append((art, (await auctions.status_now(session, row)).value))
    return render(
        request,
        container,
        "auctions.html",
        viewer,
        status=status,
        artworks=shown,
        error=error,
        form=form or {"currency": "usd"},
    )


@router.get("/auctions")
async def auction_list(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    return await _list_page(request, container, viewer)


@router.post("/auctions")
async def list_artwork(
    request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """A seller lists an artwork with its secret threshold (typed like ``100.00``)."""
    _role(viewer, "worker")
    title = form.get("title", "")[:200].strip()
    currency = form.get("currency", "usd")[:3]
    typed = form.get("threshold", "")[:40]
    try:
        if not title:
            raise InvalidRequestError("Give the artwork a title.", param="title")
        currency = normalize_currency(currency)
        threshold = parse_amount(typed, currency, field="secret threshold")
        if threshold <= 0:
            raise InvalidRequestError("The threshold is above zero.", param="threshold")
        async with container.db.transaction() as session:
            row = await auctions.create_artwork(
                session,
                clock=container.clock,
                actor=viewer,
                body=ArtworkCreate(title=title, currency=currency, threshold=threshold),
            )
            artwork_id = row.id
    except EscrowdError as exc:
        return await _list_page(
            request,
            container,
            viewer,
            error=exc.message,
            status=exc.http_status,
            form={"title": title, "currency": currency, "threshold": typed},
        )
    return see_other(f"/app/auctions/{quote(artwork_id)}")


async def _artwork_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    artwork_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    amount: str = "",
) -> Response:
    async with container.db.transaction() as session:
        try:
            row: Artwork = await auctions.get_artwork(session, artwork_id=artwork_id)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
        art = artwork_json(row, viewer=viewer.user_id, admin=viewer.is_admin)
        now_status = await auctions.status_now(session, row)
        stmt = await auctions.bids_query(session, artwork_id=artwork_id, actor=viewer)
        bids = [bid_json(b) for b in (await session.scalars(stmt.limit(SHOWN))).all()]
        escrow: dict[str, Any] | None = None
        if (
            now_status is ArtworkStatus.pending_payment
            and row.escrow_id is not None
            and viewer.user_id is not None
            and viewer.user_id == row.buyer_id
        ):
            escrow = await escrows.retrieve(session, escrow_id=row.escrow_id, actor=viewer)
    paying = escrow is not None and escrow["status"] in (
        State.requires_payment,
        State.requires_action,
    )
    return render(
        request,
        container,
        "artwork.html",
        viewer,
        status=status,
        artwork=art,
        artwork_status=now_status.value,
        bids=bids,
        escrow=escrow if paying else None,
        can_bid=viewer.role == "client"
        and now_status is ArtworkStatus.active
        and viewer.user_id != row.seller_id,
        now=unix(container.clock.now()),
        poll=POLL_SECONDS if now_status is ArtworkStatus.pending_payment else 0,
        stream=row.escrow_id if escrow is not None else None,
        event_types=[t.value for t in EventType],
        error=error,
        notice=notice,
        amount=amount,
    )


@router.get("/auctions/{artwork_id}")
async def artwork_page(
    artwork_id: str,
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    bid: str | None = None,
) -> Response:
    notice = None
    if bid:
        async with container.db.transaction() as session:
            try:
                stmt = await auctions.bids_query(session, artwork_id=artwork_id, actor=viewer)
            except NotFoundError as exc:
                raise PageMissing(exc.message) from exc
            mine = next((b for b in (await session.scalars(stmt.limit(SHOWN))).all()
                         if b.id == bid), None)  # fmt: skip
        if mine is not None and mine.status == BidStatus.not_winning:
            notice = (
                f"Your bid of {_money(mine.amount, mine.currency)} is not winning: "
                "the artwork is still for sale."
            )
        elif mine is not None and mine.status == BidStatus.winning:
            notice = f"Your bid of {_money(mine.amount, mine.currency)} wins: pay to buy it."
    return await _artwork_page(request, container, viewer, artwork_id, notice=notice)


@router.post("/auctions/{artwork_id}/bids")
async def place_bid(
    artwork_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """A bid typed like ``150.00``; redirected to the artwork (a reload bids nothing again),
    where a winning bid opens the payment modal."""
    typed = form.get("amount", "")[:40]
    try:
        async with container.db.transaction() as session:
            try:
                currency = (await auctions.get_artwork(session, artwork_id=artwork_id)).currency
            except NotFoundError as exc:
                raise PageMissing(exc.message) from exc
        amount = parse_amount(typed, currency, field="bid")
        if amount <= 0:
            raise InvalidRequestError("Bid an amount above zero.", param="amount")
        bid = await auctions.place_bid(
            container,
            actor=viewer,
            artwork_id=artwork_id,
            body=BidCreate(amount=amount, currency=currency),
        )
    except EscrowdError as exc:
        return await _artwork_page(
            request,
            container,
            viewer,
            artwork_id,
            error=exc.message,
            status=exc.http_status,
            amount=typed,
        )
    return see_other(f"/app/auctions/{quote(artwork_id)}?bid={quote(bid.id)}")
