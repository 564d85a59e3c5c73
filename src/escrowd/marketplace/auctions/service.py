"""The auction's use cases: list an artwork, bid, read, and follow the winning escrow.

Money moves only through the escrows service: the winning bid creates an escrow (payer = the
bidder, one allocation to the seller, no platform fee, a 10-minute payment window, no
inspection period) in the same transaction that takes the artwork off sale, under the
artwork's row lock — so of any number of concurrent bids at or above the threshold, exactly one
wins and one escrow exists. The artwork then follows its escrow (``follow_escrows``, a sweep):
paid → sold (the core's inspection sweep releases it to the seller at once); expired,
cancelled or refunded → on sale again; a declined payment cancels the escrow first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.errors import ConflictError, NotFoundError, PermissionDeniedError, person_required
from escrowd.escrows import funding
from escrowd.escrows import service as escrows
from escrowd.escrows.models import Escrow
from escrowd.escrows.schemas import EscrowCreate
from escrowd.ids import Prefix, new_id
from escrowd.logging import get_logger
from escrowd.marketplace.auctions import domain
from escrowd.marketplace.auctions.domain import ArtworkStatus, BidStatus
from escrowd.marketplace.auctions.models import Artwork, Bid
from escrowd.marketplace.auctions.schemas import ArtworkCreate, BidCreate
from escrowd.money import normalize_currency

log = get_logger(__name__)

#: Artworks one sweep run looks at.
BATCH = 500


def _missing(artwork_id: str) -> NotFoundError:
    return NotFoundError(f"No such artwork: '{artwork_id}'.", param="artwork")


async def create_artwork(
    session: AsyncSession, *, clock: Clock, actor: Principal, body: ArtworkCreate
) -> Artwork:
    """A seller lists an artwork; it must be able to receive the money (a verified account)."""
    if actor.user_id is None:
        raise person_required("Artworks are listed by their seller")
    await accounts.require_verified_payee(session, party_id=actor.user_id)
    now = clock.now()
    row = Artwork(
        id=new_id(Prefix.artwork),
        seller_id=actor.user_id,
        title=body.title,
        currency=normalize_currency(body.currency),
        threshold=body.threshold,
        status=ArtworkStatus.active.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    # The threshold is never logged (docs/marketplaces.md): ids only.
    log.info("artwork_listed", artwork=row.id, seller=row.seller_id)
    return row


async def get_artwork(session: AsyncSession, *, artwork_id: str) -> Artwork:
    row = await session.get(Artwork, artwork_id)
    if row is None:
        raise _missing(artwork_id)
    return row


async def status_now(session: AsyncSession, artwork: Artwork) -> ArtworkStatus:
    """The artwork's status as its escrow has it now: what the ``auctions.escrows`` sweep
    records within seconds (and what a bid placed now acts on, since ``place_bid`` applies it
    first). A page shows this, so a lapsed window puts the artwork back on sale at once."""
    if artwork.escrow_id is not None:
        escrow_status = await session.scalar(
            select(Escrow.status).where(Escrow.id == artwork.escrow_id)
        )
        step = domain.follow(artwork.status, escrow_status) if escrow_status else None
        if step is not None:
            return step.artwork
    return ArtworkStatus(artwork.status)


def list_query(*, status: ArtworkStatus | None = None) -> Select[Artwork]:
    """Every signed-in user may browse artworks (the threshold is hidden by the schema)."""
    q = select(Artwork).order_by(Artwork.id.desc())
    return q.where(Artwork.status == status.value) if status is not None else q


async def bids_query(session: AsyncSession, *, artwork_id: str, actor: Principal) -> Select[Bid]:
    """Its seller and admins see every bid on an artwork; a bidder their own."""
    artwork = await get_artwork(session, artwork_id=artwork_id)
    q = select(Bid).where(Bid.artwork_id == artwork.id).order_by(Bid.id.desc())
    if actor.is_admin or actor.user_id == artwork.seller_id:
        return q
    return q.where(Bid.bidder_id == (actor.user_id or ""))


async def _locked(session: AsyncSession, artwork_id: str) -> Artwork:
    row = (
        await session.scalars(select(Artwork).where(Artwork.id == artwork_id).with_for_update())
    ).one_or_none()
    if row is None:
        raise _missing(artwork_id)
    return row


async def _apply(
    session: AsyncSession, artwork: Artwork, escrow_status: str, now: datetime
) -> bool:
    """Move ``artwork`` (locked) after its escrow; whether anything changed."""
    step = domain.follow(artwork.status, escrow_status)
    if step is None:
        return False
    if artwork.winning_bid_id is not None:
        bid = await session.get(Bid, artwork.winning_bid_id)
        if bid is not None:
            bid.status = step.bid.value
            bid.updated_at = now
    artwork.status = step.artwork.value
    if step.detach:
        artwork.escrow_id = None
        artwork.winning_bid_id = None
        artwork.buyer_id = None
    artwork.updated_at = now
    log.info("artwork_followed_escrow", artwork=artwork.id, status=artwork.status)
    return True


async def place_bid(
    container: Container, *, actor: Principal, artwork_id: str, body: BidCreate
) -> Bid:
    """One bid, in one transaction under the artwork's lock: below the threshold it is kept
    as ``not_winning``; at or above, it wins and its escrow is created with it."""
    if actor.user_id is None:
        raise person_required("Bids are placed by buyers")
    if actor.role != "client":
        raise PermissionDeniedError(
            f"Bids are placed by buyers (clients), who pay when they win; you are a {actor.role}.",
            code="role_required",
        )
    now = container.clock.now()
    async with container.db.transaction() as s:
        artwork = await _locked(s, artwork_id)
        if artwork.escrow_id is not None:
            escrow = await s.get(Escrow, artwork.escrow_id)
            if escrow is not None:
                await _apply(s, artwork, escrow.status, now)
        if artwork.seller_id == actor.user_id:
            raise PermissionDeniedError(
                "A seller cannot bid on their own artwork.", code="own_artwork", param="artwork"
            )
        currency = normalize_currency(body.currency)
        domain.check_bid(
            artwork.status, amount=body.amount, currency=currency, artwork_currency=artwork.currency
        )
        bid = Bid(
            id=new_id(Prefix.bid),
            artwork_id=artwork.id,
            bidder_id=actor.user_id,
            amount=body.amount,
            currency=currency,
            status=BidStatus.not_winning.value,
            created_at=now,
            updated_at=now,
        )
        s.add(bid)
        if domain.wins(body.amount, artwork.threshold):
            escrow_json = await escrows.create_in(
                s,
                container,
                actor=actor,
                body=EscrowCreate.model_validate(
                    {
                        "currency": currency,
                        "amount": body.amount,
                        "allocations": [{"payee": artwork.seller_id, "amount": body.amount}],
                        "fee_policy": domain.FEE_POLICY,
                        "payment_window": domain.PAYMENT_WINDOW_SECONDS,
                        "inspection_period": domain.INSPECTION_PERIOD_SECONDS,
                        "description": f"Artwork “{artwork.title}” ({artwork.id})",
                        "metadata": {"artwork": artwork.id, "bid": bid.id},
                    }
                ),
            )
            bid.status = BidStatus.winning.value
            bid.escrow_id = str(escrow_json["id"])
            artwork.status = ArtworkStatus.pending_payment.value
            artwork.escrow_id = bid.escrow_id
            artwork.winning_bid_id = bid.id
            artwork.buyer_id = actor.user_id
            artwork.updated_at = now
        await s.flush()
        log.info("bid_placed", artwork=artwork.id, bid=bid.id, status=bid.status)
        return bid


async def follow_escrows(container: Container) -> int:
    """The ``auctions.escrows`` sweep: artworks follow their winning escrows; how many moved.

    A declined payment first cancels its escrow (outside this function's transactions: the
    cancel is the escrows service's own use case), then the artwork goes back on sale."""
    now = container.clock.now()
    async with container.db.transaction() as s:
        rows = (
            await s.execute(
                select(Artwork.id, Artwork.status, Escrow.status, Escrow.last_payment_error)
                .join(Escrow, Escrow.id == Artwork.escrow_id)
                .where(
                    (Artwork.status == ArtworkStatus.pending_payment.value)
                    | ((Artwork.status == ArtworkStatus.sold.value) & (Escrow.status == "refunded"))
                )
                .order_by(Artwork.id)
                .limit(BATCH)
            )
        ).all()
    declined = [
        a
        for a, status, e_status, error in rows
        if domain.payment_failed(status, e_status, error is not None)
    ]
    for artwork_id in declined:
        artwork_escrow = await _escrow_of(container, artwork_id)
        if artwork_escrow is None:
            continue
        try:
            await funding.cancel(
                container, escrow_id=artwork_escrow, actor=None, reason="abandoned"
            )
        except ConflictError:
            # Paid or expired meanwhile, or an attempt in flight: the next run looks again.
            continue
    moved = 0
    for artwork_id in [a for a, *_ in rows]:
        async with container.db.transaction() as s:
            artwork = await _locked(s, artwork_id)
            if artwork.escrow_id is None:
                continue
            escrow = await s.get(Escrow, artwork.escrow_id)
            if escrow is not None and await _apply(s, artwork, escrow.status, now):
                moved += 1
    return moved


async def _escrow_of(container: Container, artwork_id: str) -> str | None:
    async with container.db.transaction() as s:
        return await s.scalar(select(Artwork.escrow_id).where(Artwork.id == artwork_id))
