"""The gig's use cases: hire (authorize the client's card), complete (capture and release to
the expert), cancel (void or refund), and read.

Money moves only through the escrows service. A gig is one escrow: payer = the client, one
allocation to the expert, capture mode ``authorize``, a 10 % platform fee with the platform
bearing the processing cost (domain.FEE_POLICY). The gig keeps no status of its own: it reads
its escrow's (domain.status_of), so 3-D Secure completed by webhook, an authorization's
deadline or a chargeback show on the gig with no sweep.

Hiring is idempotent twice over: the API's idempotency layer replays a stored answer, and the
gig row stores the client's ``Idempotency-Key`` under a unique constraint, so a retry after
the stored answer is gone (or racing the first request) finds the same gig and never
authorizes the card a second time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.errors import (
    IdempotencyError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from escrowd.escrows import funding, release, store
from escrowd.escrows import refund as refunds
from escrowd.escrows import service as escrows
from escrowd.escrows.models import Escrow
from escrowd.escrows.schemas import EscrowCreate, escrow_json
from escrowd.ids import Prefix, new_id
from escrowd.logging import get_logger
from escrowd.marketplace.gigs import domain
from escrowd.marketplace.gigs.domain import GigStatus, Step
from escrowd.marketplace.gigs.models import Gig
from escrowd.marketplace.gigs.schemas import GigCreate, GigObject, gig_json
from escrowd.money import normalize_currency

log = get_logger(__name__)


def _missing(gig_id: str) -> NotFoundError:
    return NotFoundError(f"No such gig: '{gig_id}'.", param="gig")


async def _by_key(s: AsyncSession, client_id: str, key: str) -> Gig | None:
    return (
        await s.scalars(select(Gig).where(Gig.client_id == client_id, Gig.idempotency_key == key))
    ).one_or_none()


def _check_client(actor: Principal) -> str:
    if actor.user_id is None:
        raise PermissionDeniedError(
            "Gigs are paid by their client, a person with a user token; an API key cannot.",
            code="user_token_required",
        )
    if actor.role != "client":
        raise PermissionDeniedError(
            f"Gigs are paid by clients; you are a {actor.role}.", code="role_required"
        )
    return actor.user_id


def _same_request(gig: Gig, body: GigCreate) -> None:
    """A key names one gig: reused for another expert or price, it is refused, not merged."""
    if (gig.expert_id, gig.amount, gig.currency) != (
        body.expert,
        body.amount,
        normalize_currency(body.currency),
    ):
        # The same refusal as the API's idempotency layer, which gives it while it still
        # holds the first answer.
        raise IdempotencyError(
            f"This Idempotency-Key already started gig {gig.id} with other parameters; use a "
            "new key for a new gig.",
            code="idempotency_key_reused",
            param="Idempotency-Key",
        )


async def initiate(
    container: Container, *, actor: Principal, body: GigCreate, idempotency_key: str
) -> GigObject:
    """Hire an expert: the gig and its escrow are created, then the client's card authorized
    (escrows' fund, capture mode ``authorize``). A decline is the escrows' 402; the gig stays
    ``awaiting_payment`` (pay its escrow again, or it lapses after a day)."""
    client_id = _check_client(actor)
    try:
        async with container.db.transaction() as s:
            gig = await _by_key(s, client_id, idempotency_key)
            if gig is None:
                gig = await _create(s, container, actor, client_id, body, idempotency_key)
                fresh = True
            else:
                _same_request(gig, body)
                fresh = False
    except IntegrityError:
        # The same key raced us and won: its gig is the one.
        async with container.db.transaction() as s:
            gig = await _by_key(s, client_id, idempotency_key)
        if gig is None:  # pragma: no cover - the constraint that failed names this row
            raise
        _same_request(gig, body)
        fresh = False
    async with container.db.transaction() as s:
        escrow = await store.load(s, gig.escrow_id)
        # A retry funds only a gig whose card was never tried (the first request died
        # between creating and funding it); anything else would be a second authorization.
        unpaid = escrow.status == "requires_payment" and escrow.payment_attempts == 0
    if fresh or unpaid:
        await funding.fund(
            container,
            escrow_id=gig.escrow_id,
            actor=actor,
            payment_method=body.payment_method,
            return_url=body.return_url,
        )
    async with container.db.transaction() as s:
        return await _shown(s, gig)


async def _create(
    s: AsyncSession,
    container: Container,
    actor: Principal,
    client_id: str,
    body: GigCreate,
    key: str,
) -> Gig:
    if body.expert == client_id:
        raise InvalidRequestError(
            "A client cannot hire themselves.", code="expert_invalid", param="expert"
        )
    await accounts.require_verified_payee(s, party_id=body.expert)
    gig_id = new_id(Prefix.gig)
    currency = normalize_currency(body.currency)
    created = await escrows.create_in(
        s,
        container,
        actor=actor,
        body=EscrowCreate.model_validate(
            {
                "currency": currency,
                "amount": body.amount,
                "allocations": [{"payee": body.expert, "amount": body.amount}],
                "fee_policy": domain.FEE_POLICY,
                "capture_mode": domain.CAPTURE_MODE,
                "payment_window": domain.PAYMENT_WINDOW_SECONDS,
                "description": body.description or f"Gig {gig_id}",
                "metadata": {**body.metadata, "gig": gig_id},
            }
        ),
    )
    gig = Gig(
        id=gig_id,
        client_id=client_id,
        expert_id=body.expert,
        amount=body.amount,
        currency=currency,
        description=body.description,
        idempotency_key=key,
        escrow_id=str(created["id"]),
        created_at=container.clock.now(),
    )
    s.add(gig)
    await s.flush()
    log.info("gig_created", gig=gig.id, client=client_id, expert=body.expert)
    return gig


async def _shown(s: AsyncSession, gig: Gig) -> GigObject:
    book = await store.book_of(s, gig.escrow_id)
    return gig_json(gig, escrow_json(book, book.open_ops))


def _visible(actor: Principal) -> Any:
    user_id = actor.user_id or ""
    return or_(Gig.client_id == user_id, Gig.expert_id == user_id)


async def get_gig(s: AsyncSession, *, gig_id: str, actor: Principal) -> Gig:
    """The gig's client, its expert and admins see it; anyone else gets 404."""
    stmt = select(Gig).where(Gig.id == gig_id)
    if not actor.is_admin:
        stmt = stmt.where(_visible(actor))
    row = (await s.scalars(stmt)).one_or_none()
    if row is None:
        raise _missing(gig_id)
    return row


async def retrieve(s: AsyncSession, *, gig_id: str, actor: Principal) -> GigObject:
    return await _shown(s, await get_gig(s, gig_id=gig_id, actor=actor))


async def status(s: AsyncSession, *, gig_id: str, actor: Principal) -> tuple[str, str]:
    """The gig's status and its escrow's."""
    gig = await get_gig(s, gig_id=gig_id, actor=actor)
    escrow = await store.load(s, gig.escrow_id)
    return domain.status_of(escrow.status).value, escrow.status


def list_query(*, actor: Principal, status: GigStatus | None = None) -> Select[Gig]:
    """The gigs a user pays or is paid by (admins: all), newest first."""
    stmt = select(Gig).order_by(Gig.id.desc())
    if not actor.is_admin:
        stmt = stmt.where(_visible(actor))
    if status is not None:
        stmt = stmt.join(Escrow, Escrow.id == Gig.escrow_id).where(
            Escrow.status.in_(domain.escrow_states(status))
        )
    return stmt


async def page(s: AsyncSession, rows: list[Gig]) -> list[GigObject]:
    return [await _shown(s, row) for row in rows]


async def _for_change(container: Container, actor: Principal, gig_id: str) -> tuple[Gig, GigStatus]:
    """The gig and its status, for its client or an admin; its expert may only read it."""
    async with container.db.transaction() as s:
        gig = await get_gig(s, gig_id=gig_id, actor=actor)
        if not actor.is_admin and actor.user_id != gig.client_id:
            raise PermissionDeniedError(
                f"You are the expert of gig {gig.id}: you can read it, but only its client or "
                "the platform can complete or cancel it.",
                code="payee_read_only",
            )
        escrow = await store.load(s, gig.escrow_id)
        return gig, domain.status_of(escrow.status)


async def complete(
    container: Container, *, actor: Principal, gig_id: str, idempotency_key: str | None
) -> GigObject:
    """The service is done: capture the authorization (if not yet) and release the expert's
    share. A retry after a failed release releases only (the capture is not repeated)."""
    gig, current = await _for_change(container, actor, gig_id)
    steps = domain.completion(current, gig.id)
    if Step.capture in steps:
        await funding.capture(container, escrow_id=gig.escrow_id, actor=actor)
    await release.release(
        container, escrow_id=gig.escrow_id, actor=actor, idempotency_key=idempotency_key
    )
    log.info("gig_completed", gig=gig.id)
    async with container.db.transaction() as s:
        return await _shown(s, gig)


async def cancel(
    container: Container, *, actor: Principal, gig_id: str, reason: str | None
) -> GigObject:
    """Call the gig off: before the capture the authorization is voided (nothing was
    charged); after it, everything is refunded to the client."""
    gig, current = await _for_change(container, actor, gig_id)
    step = domain.cancellation(current, gig.id)
    if step is Step.void:
        await funding.cancel(
            container,
            escrow_id=gig.escrow_id,
            actor=actor,
            reason=reason or "requested_by_customer",
        )
    else:
        await refunds.refund(
            container,
            escrow_id=gig.escrow_id,
            actor=actor,
            reason=reason or "requested_by_customer",
        )
    log.info("gig_cancelled", gig=gig.id, step=step.value)
    async with container.db.transaction() as s:
        return await _shown(s, gig)
