"""Escrow use cases that need no provider call: create, retrieve, list, assign a payee.

The money-moving ones are in funding.py (fund, capture, cancel), release.py and refund.py;
operations.py explains how their provider calls are made crash-safe. Each use case is one unit
of work: state, ledger transfers, events and outbox jobs commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from escrowd.escrows import parts, store
from escrowd.escrows.book import Book, Slot
from escrowd.escrows.models import OPEN_OPS, Allocation, Escrow, Operation
from escrowd.escrows.schemas import EscrowCreate, escrow_json
from escrowd.escrows.states import State, is_terminal
from escrowd.events import EventType
from escrowd.fees import service as fee_policies
from escrowd.fees.domain import (
    FeeOverride,
    check_fee_fits,
    compute_allocation_breakdown,
    fixed_source,
    resolve_policy,
)
from escrowd.ids import Prefix, has_prefix, new_id
from escrowd.money import MAX_AMOUNT, normalize_currency
from escrowd.users.models import User
from escrowd.users.organizations.models import Membership, Organization


async def _party_exists(session: AsyncSession, party_id: str) -> bool:
    if has_prefix(party_id, Prefix.user):
        user = await session.get(User, party_id)
        return user is not None and not user.disabled
    if has_prefix(party_id, Prefix.organization):
        return await session.get(Organization, party_id) is not None
    return False


async def _payer_of(session: AsyncSession, actor: Principal, body: EscrowCreate) -> str:
    if actor.is_admin:
        if body.payer is None:
            # Leaving payer out means "I pay", and an API key or an admin cannot pay: the same
            # role refusal a worker gets (403), naming the parameter that fixes it.
            raise PermissionDeniedError(
                "An API key or an admin cannot pay for an escrow: name the paying user in "
                "payer (their usr_… id).",
                code="payer_required",
                param="payer",
            )
        if not has_prefix(body.payer, Prefix.user) or not await _party_exists(session, body.payer):
            raise InvalidRequestError(
                f"No such user: '{body.payer}'. The payer is an active user (usr_…).",
                code="payer_invalid",
                param="payer",
            )
        return body.payer
    if actor.role != "client" or actor.user_id is None:
        raise PermissionDeniedError(
            f"Escrows are created by the paying client; you are a {actor.role}.",
            code="role_required",
        )
    if body.payer is not None and body.payer != actor.user_id:
        raise InvalidRequestError(
            "A client creates escrows it pays itself: leave payer out (only API keys and "
            "admins name another payer).",
            code="payer_invalid",
            param="payer",
        )
    return actor.user_id


async def _check_payees(
    session: AsyncSession, payees: Sequence[tuple[str, str]], payer: str
) -> None:
    """Each ``(payee, param)`` names an existing party other than the payer. A payee still
    onboarding may be named (the release waits for it); one whose account was disconnected
    from the platform may not: the money could never reach it. Refusals in the order given;
    the parties and their accounts are read in one query per kind of party."""
    if not payees:
        return
    standing = await accounts.payees_to_name(session, party_ids=[p for p, _ in payees])
    for payee, param in payees:
        if payee == payer:
            raise InvalidRequestError(
                "The payer cannot be a payee of their own escrow.",
                code="payee_invalid",
                param=param,
            )
        if payee not in standing:
            raise InvalidRequestError(
                f"No such payee: '{payee}' (an active user usr_… or an organization org_…).",
                code="payee_invalid",
                param=param,
            )
        refusal = standing[payee]
        if refusal is not None:
            raise refusal


def payment_provider(container: Container, name: str) -> str:
    """The escrow's provider, chosen at creation: one the container has configured."""
    if name not in container.providers:
        configured = ", ".join(sorted(container.providers)) or "none"
        raise InvalidRequestError(
            f"The payment provider {name!r} is not configured here (configured: {configured}).",
            code="payment_provider_unavailable",
            param="payment_provider",
        )
    return name


async def create(container: Container, *, actor: Principal, body: EscrowCreate) -> dict[str, Any]:
    async with container.db.transaction() as s:
        return await create_in(s, container, actor=actor, body=body)


async def create_in(
    s: AsyncSession, container: Container, *, actor: Principal, body: EscrowCreate
) -> dict[str, Any]:
    """``create`` on the caller's session: a flow that must create its escrow in the same
    transaction as its own change (an auction's winning bid, under the artwork's lock)."""
    clock = container.clock
    now = clock.now()
    currency = normalize_currency(body.currency)
    override = (
        FeeOverride.from_dict(body.fee_policy, param="fee_policy")
        if body.fee_policy is not None
        else None
    )
    default = fee_policies.marketplace_default(container.settings)
    grosses = [a.amount for a in body.allocations]
    provider = payment_provider(container, body.payment_provider)
    payer = await _payer_of(s, actor, body)
    await _check_payees(
        s,
        [
            (a.payee, f"allocations[{i}][payee]")
            for i, a in enumerate(body.allocations)
            if a.payee is not None
        ],
        payer,
    )
    by_payee = await fee_policies.overrides_for(s, (a.payee or "" for a in body.allocations))
    policies = [
        resolve_policy(default, payee=by_payee.get(a.payee or ""), escrow=override)
        for a in body.allocations
    ]
    for i, (a, policy) in enumerate(zip(body.allocations, policies, strict=True)):
        check_fee_fits(
            a.amount,
            policy,
            allocation=f"allocations[{i}]",
            source=fixed_source(payee=by_payee.get(a.payee or ""), escrow=override),
        )
    breakdown = compute_allocation_breakdown(body.amount, policies, None, allocations=grosses)
    if breakdown.charged > MAX_AMOUNT:
        raise InvalidRequestError(
            f"the amount charged ({breakdown.charged}) would be over {MAX_AMOUNT}.",
            code="amount_too_large",
            param="amount",
        )
    escrow = Escrow(
        id=new_id(Prefix.escrow),
        payer_id=payer,
        currency=currency,
        amount=body.amount,
        surcharge=breakdown.surcharge,
        status=State.requires_payment.value,
        provider=provider,
        capture_mode=body.capture_mode,
        on_authorization_deadline=body.on_authorization_deadline,
        fee_policy=override.to_dict() if override is not None else None,
        description=body.description,
        meta=dict(body.metadata),
        payment_window_seconds=body.payment_window,
        expires_at=now + timedelta(seconds=body.payment_window)
        if body.payment_window is not None
        else None,
        inspection_period_seconds=body.inspection_period,
        payment_attempts=0,
        amount_released=0,
        amount_refunded=0,
        ledger_funded=0,
        ledger_released=0,
        ledger_refunded=0,
        created_at=now,
        updated_at=now,
    )
    escrow.allocations = [
        Allocation(
            id=new_id(Prefix.allocation),
            escrow_id=escrow.id,
            position=i,
            payee_id=a.payee,
            amount=a.amount,
            fee_policy=policy.to_dict(),
            released=parts.dump(parts.zero(policy.processing_bearer)),
            refunded=parts.dump(parts.zero(policy.processing_bearer)),
            meta=dict(a.metadata),
            created_at=now,
            updated_at=now,
        )
        for i, (a, policy) in enumerate(zip(body.allocations, policies, strict=True))
    ]
    s.add(escrow)
    book = Book(escrow)
    await store.emit(s, clock=clock, type=EventType.escrow_created, book=book)
    return escrow_json(book)


async def page_json(session: AsyncSession, escrows: Sequence[Escrow]) -> list[dict[str, Any]]:
    """A page of escrows (already filtered to what the caller may see) as the API shows them:
    their open operations read in one query for the page, not one per escrow."""
    ids = [e.id for e in escrows]
    by_escrow: dict[str, list[Operation]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            select(Operation)
            .where(Operation.escrow_id.in_(ids), Operation.status.in_(OPEN_OPS))
            .order_by(Operation.created_at, Operation.key)
        )
        for op in rows:
            by_escrow[op.escrow_id].append(op)
    return [escrow_json(Book(e, by_escrow[e.id]), by_escrow[e.id]) for e in escrows]


async def retrieve(session: AsyncSession, *, escrow_id: str, actor: Principal) -> dict[str, Any]:
    book = await store.book_of(session, escrow_id)
    await store.check_read(session, actor, book.escrow)
    return escrow_json(book, book.open_ops)


@dataclass(frozen=True, slots=True)
class ListFilters:
    status: Sequence[str] = field(default_factory=tuple)
    payer: str | None = None
    payee: str | None = None
    created_gt: int | None = None
    created_gte: int | None = None
    created_lt: int | None = None
    created_lte: int | None = None


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def list_query(*, actor: Principal, filters: ListFilters) -> Select[Escrow]:
    """The escrows ``actor`` may read (payer, payee or one of its organizations), filtered."""
    stmt = select(Escrow)
    if not actor.is_admin:
        user_id = actor.user_id or ""
        parties = union_all(
            select(User.id).where(User.id == user_id),
            select(Membership.organization_id).where(Membership.user_id == user_id),
        )
        as_payee = exists().where(
            Allocation.escrow_id == Escrow.id, Allocation.payee_id.in_(parties)
        )
        stmt = stmt.where(or_(Escrow.payer_id == user_id, as_payee))
    if filters.status:
        unknown = [s for s in filters.status if s not in State.__members__]
        if unknown:
            raise InvalidRequestError(
                f"Unknown status '{unknown[0]}'; one of {', '.join(State)}.", param="status"
            )
        stmt = stmt.where(Escrow.status.in_(list(filters.status)))
    if filters.payer is not None:
        stmt = stmt.where(Escrow.payer_id == filters.payer)
    if filters.payee is not None:
        stmt = stmt.where(
            exists().where(Allocation.escrow_id == Escrow.id, Allocation.payee_id == filters.payee)
        )
    if filters.created_gt is not None:
        stmt = stmt.where(Escrow.created_at >= _at(filters.created_gt + 1))
    if filters.created_gte is not None:
        stmt = stmt.where(Escrow.created_at >= _at(filters.created_gte))
    if filters.created_lt is not None:
        stmt = stmt.where(Escrow.created_at < _at(filters.created_lt))
    if filters.created_lte is not None:
        stmt = stmt.where(Escrow.created_at < _at(filters.created_lte + 1))
    return stmt


def _price_locked(allocation_id: str, why: str) -> ConflictError:
    return ConflictError(
        f"allocation {allocation_id} cannot take this payee's fee policy: {why}. Assign a payee "
        "whose policy keeps the price, or change the payee's policy first.",
        code="allocation_price_locked",
        param="payee",
    )


async def _reprice(s: AsyncSession, book: Book, slot: Slot, payee: str) -> None:
    """Price ``slot`` with ``payee``'s own fee policy, as if it had been named at creation:
    the slot's policy (marketplace default and escrow override, resolved when the escrow was
    created) under the payee's override, under the escrow's override again (it wins).

    Nothing moves in the ledger: fees are taken at release. What the payer is charged may not
    change once a payment has started, nor may the new price be less than what was already
    taken from the slot (a partial refund)."""
    own = (await fee_policies.overrides_for(s, [payee])).get(payee)
    if own is None:
        return
    e, a = book.escrow, slot.allocation
    escrow_override = FeeOverride.from_dict(e.fee_policy) if e.fee_policy else None
    try:
        policy = resolve_policy(slot.policy, payee=own, escrow=escrow_override)
        if policy == slot.policy:
            return
        check_fee_fits(
            a.amount,
            policy,
            allocation=f"allocation {a.id}",
            source=fixed_source(payee=own, escrow=escrow_override),
        )
    except InvalidRequestError as exc:
        exc.param = "payee"
        raise
    policies = [policy if s_.allocation.id == a.id else s_.policy for s_ in book.slots]
    fulls = parts.full_breakdowns(
        [s_.allocation.amount for s_ in book.slots], policies, e.processing_cost_total
    )
    full = fulls[[s_.allocation.id for s_ in book.slots].index(a.id)]
    if full.surcharge != slot.full.surcharge:
        if e.status != State.requires_payment.value or book.open_ops:
            raise _price_locked(
                a.id,
                f"the payer's surcharge would change from {slot.full.surcharge} to "
                f"{full.surcharge}, and the escrow's payment has started ({e.status})",
            )
        e.surcharge += full.surcharge - slot.full.surcharge
    try:
        full.minus(slot.released).minus(slot.refunded).minus(slot.pending)
    except ValueError:
        raise _price_locked(
            a.id, "part of the slot was already refunded at its old price"
        ) from None
    a.fee_policy = policy.to_dict()


async def assign(
    container: Container, *, escrow_id: str, allocation_id: str, actor: Principal | None, payee: str
) -> dict[str, Any]:
    """Give an open allocation (a slot) its payee, priced with the payee's fee policy.

    ``actor`` None: escrowd itself, for a marketplace flow that checked who may take the slot
    (seed 000's testers claim slots of an escrow they are not the payer of)."""
    clock = container.clock
    async with container.db.transaction() as s:
        book = await store.book_of(s, escrow_id, lock=True)
        e = book.escrow
        await store.check_write(s, actor, e)
        slot = book.slot(allocation_id)
        if slot is None:
            raise NotFoundError(
                f"No such allocation: '{allocation_id}' in escrow {e.id}.", param="allocation"
            )
        if slot.allocation.payee_id is not None:
            raise ConflictError(
                f"allocation {allocation_id} already has a payee ({slot.allocation.payee_id}).",
                code="allocation_assigned",
            )
        if is_terminal(e.status) or slot.remaining.gross == 0:
            raise ConflictError(
                f"escrow {e.id} is {e.status}: allocation {allocation_id} has no money left "
                "to assign.",
                code="allocation_closed",
            )
        await _check_payees(s, [(payee, "payee")], e.payer_id)
        await _reprice(s, book, slot, payee)
        slot.allocation.payee_id = payee
        slot.allocation.updated_at = clock.now()
        store.touch(e, clock)
        fresh = store.refreshed(book)
        await store.emit_allocation(
            s,
            clock=clock,
            type=EventType.allocation_payee_assigned,
            book=fresh,
            allocation_id=allocation_id,
        )
        return escrow_json(fresh, fresh.open_ops)
