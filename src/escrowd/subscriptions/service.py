"""The subscription use cases (docs/subscriptions.md).

- Plans: :func:`plans`, :func:`create_plan` (admins), :func:`ensure_price` (the provider's
  product and recurring price, made once per plan with keys derived from the plan).
- :func:`subscribe`, :func:`change_plan`, :func:`cancel`: record → provider call (outside any
  transaction, with the operation's idempotency key) → apply the provider's answer.
- :func:`apply_provider`: the provider's subscription moves ours (from a call, or a verified
  event); :func:`book_invoice`: a paid invoice is platform revenue in the ledger, once.
- :func:`plan_of`: the plan whose limits apply to an owner (``limits/`` counts the uses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts.service import call_provider, provider_of
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.customers import service as customers
from escrowd.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from escrowd.escrows import ledgering
from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS, Move
from escrowd.events.domain import EventType
from escrowd.events.service import record
from escrowd.ids import Prefix, has_prefix, new_id
from escrowd.ledger.models import LedgerTransfer
from escrowd.providers.base import Capability
from escrowd.providers.errors import ProviderError
from escrowd.providers.types import Invoice, PriceRequest, ProductRequest, SubscriptionRequest
from escrowd.providers.types import Subscription as ProviderSubscription
from escrowd.subscriptions import domain
from escrowd.subscriptions.domain import Audience, SubscriptionStatus
from escrowd.subscriptions.models import Plan, Subscription
from escrowd.subscriptions.schemas import SubscriptionObject
from escrowd.users.models import User
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Organization

#: The ledger category of subscription revenue (``transactions`` counts it as the platform's).
CATEGORY = domain.REVENUE_CATEGORY


def missing(subscription_id: str) -> NotFoundError:
    return NotFoundError(f"No such subscription: '{subscription_id}'.", param="id")


def _plan_missing(code: str, param: str = "plan") -> NotFoundError:
    return NotFoundError(f"No such plan: '{code}'. GET /v1/plans lists them.", param=param)


# --- plans -------------------------------------------------------------------------------------


def plans_query(*, include_inactive: bool = False) -> Select[Plan]:
    stmt = select(Plan).order_by(Plan.amount, Plan.code)
    return stmt if include_inactive else stmt.where(Plan.active.is_(True))


async def plans(session: AsyncSession) -> Sequence[Plan]:
    return (await session.scalars(plans_query())).all()


async def get_plan(session: AsyncSession, code: str, *, param: str = "plan") -> Plan:
    plan = await session.get(Plan, code)
    if plan is None or not plan.active:
        raise _plan_missing(code, param)
    return plan


async def create_plan(
    session: AsyncSession,
    *,
    clock: Clock,
    code: str,
    name: str,
    amount: int,
    currency: str,
    interval: str,
    limits: dict[str, int | None],
    audience: Audience,
    upgrade_to: str | None,
) -> Plan:
    unknown = sorted(set(limits) - set(domain.LIMITS))
    if unknown:
        raise InvalidRequestError(
            f"Unknown limit {unknown[0]!r}; escrowd knows {', '.join(domain.LIMITS)}.",
            param="limits",
        )
    if await session.get(Plan, code) is not None:
        raise ConflictError(f"A plan '{code}' exists already.", code="plan_exists", param="code")
    if upgrade_to is not None:
        await get_plan(session, upgrade_to, param="upgrade_to")
    now = clock.now()
    plan = Plan(
        code=code,
        name=name,
        amount=amount,
        currency=currency,
        interval=interval,
        limits=dict(limits),
        audience=audience.value,
        upgrade_to=upgrade_to,
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(plan)
    await session.flush()
    return plan


async def ensure_price(container: Container, plan_code: str) -> str:
    """The plan's recurring price at the provider, made on first use. The keys come from the
    plan, so racing first subscribers get the same product and price back."""
    async with container.db.transaction() as s:
        plan = await get_plan(s, plan_code)
        if plan.provider_price_id is not None:
            return plan.provider_price_id
        name, amount, currency, interval = plan.name, plan.amount, plan.currency, plan.interval
        product_id = plan.provider_product_id
    provider = provider_of(container, Capability.subscriptions)
    if product_id is None:
        product = await call_provider(
            provider.create_product(
                ProductRequest(
                    idempotency_key=f"plan:{plan_code}:product",
                    name=f"{name} plan",
                    metadata={"plan": plan_code},
                )
            )
        )
        product_id = product.id
    price = await call_provider(
        provider.create_price(
            PriceRequest(
                idempotency_key=f"plan:{plan_code}:price:{amount}:{currency}:{interval}",
                product_id=product_id,
                unit_amount=amount,
                currency=currency,
                interval="year" if interval == "year" else "month",
                metadata={"plan": plan_code},
            )
        )
    )
    async with container.db.transaction() as s:
        stored = await s.get(Plan, plan_code, with_for_update=True)
        assert stored is not None
        stored.provider_product_id = product_id
        stored.provider_price_id = price.id
        stored.updated_at = container.clock.now()
    return price.id


# --- who owns, who may manage ----------------------------------------------------------------


def _person(actor: Principal) -> User:
    if actor.user is None:
        raise PermissionDeniedError(
            "A subscription is paid by a person's card: use a user access token, not an API key.",
            code="user_token_required",
        )
    return actor.user


async def _org_admin(session: AsyncSession, *, org_id: str, actor: Principal) -> None:
    mine = await organizations.membership_of(session, org_id=org_id, user_id=actor.user_id)
    if mine is None or await session.get(Organization, org_id) is None:
        raise NotFoundError(f"No such organization: '{org_id}'.", param="organization")
    if mine.role != "admin":
        raise PermissionDeniedError(
            f"Only an admin of organization {org_id} can manage its subscription.",
            code="organization_admin_required",
        )


async def _owner_for(
    session: AsyncSession, *, actor: Principal, plan: Plan, organization: str | None
) -> str:
    user = _person(actor)
    if plan.audience == Audience.organization.value:
        if organization is None:
            raise InvalidRequestError(
                f"The {plan.name} plan is for an organization: name it in `organization`.",
                code="parameter_missing",
                param="organization",
            )
        await _org_admin(session, org_id=organization, actor=actor)
        return organization
    if organization is not None:
        raise InvalidRequestError(
            f"The {plan.name} plan is for a person, not an organization; organizations "
            "subscribe to an organization plan.",
            code="plan_audience_mismatch",
            param="organization",
        )
    return user.id


async def _manageable(
    session: AsyncSession, *, actor: Principal, subscription_id: str, lock: bool = False
) -> Subscription:
    _person(actor)
    row = await get_visible(session, actor=actor, subscription_id=subscription_id, lock=lock)
    if has_prefix(row.owner_id, Prefix.organization):
        await _org_admin(session, org_id=row.owner_id, actor=actor)
    elif row.owner_id != actor.user_id:
        raise PermissionDeniedError(
            "Only the subscriber manages a subscription.", code="subscriber_required"
        )
    return row


def visible_query(
    *, actor: Principal, parties: set[str] | None, status: SubscriptionStatus | None
) -> Select[Subscription]:
    stmt = select(Subscription)
    if parties is not None:
        stmt = stmt.where(Subscription.owner_id.in_(parties))
    if status is not None:
        stmt = stmt.where(Subscription.status == status.value)
    return stmt


async def parties_of(session: AsyncSession, *, actor: Principal) -> set[str] | None:
    """Whose subscriptions the caller sees: theirs and their organizations' (admins: all)."""
    if actor.is_admin:
        return None
    assert actor.user_id is not None
    return await organizations.parties_of(session, actor.user_id)


async def get_visible(
    session: AsyncSession, *, actor: Principal, subscription_id: str, lock: bool = False
) -> Subscription:
    row = await session.get(Subscription, subscription_id, with_for_update=lock)
    if row is None:
        raise missing(subscription_id)
    parties = await parties_of(session, actor=actor)
    if parties is not None and row.owner_id not in parties:
        raise missing(subscription_id)
    return row


async def live_of(session: AsyncSession, owner: str) -> Subscription | None:
    return (
        await session.scalars(select(Subscription).where(Subscription.live_owner == owner))
    ).one_or_none()


# --- events --------------------------------------------------------------------------------------


def _audience(row: Subscription) -> tuple[str, ...]:
    return (row.owner_id, row.payer_id)


async def _event(
    session: AsyncSession,
    *,
    clock: Clock,
    type: EventType,
    row: Subscription,
    previous: dict[str, Any] | None = None,
) -> None:
    await session.flush()
    data = SubscriptionObject.of(row).model_dump(mode="json")
    await record(
        session,
        clock=clock,
        type=type,
        object_id=row.id,
        data=data,
        audience=_audience(row),
        previous_attributes=previous,
    )


# --- subscribe -----------------------------------------------------------------------------------


def _give_up(exc: ProviderError) -> bool:
    """A refusal the provider made for certain (not a timeout): nothing was created."""
    return not exc.outcome_unknown


async def subscribe(
    container: Container,
    *,
    actor: Principal,
    plan_code: str,
    payment_method: str | None,
    organization: str | None,
) -> tuple[Subscription, str | None]:
    """A subscription to a paid plan, ``incomplete`` until its first invoice is paid; with
    the client secret the payer confirms that payment with (3-D Secure included)."""
    clock = container.clock
    user = _person(actor)
    async with container.db.transaction() as s:
        plan = await get_plan(s, plan_code)
        if plan.amount == 0:
            raise InvalidRequestError(
                f"The {plan.name} plan is free: everyone without a paid subscription is on it.",
                code="plan_free",
                param="plan",
            )
        owner = await _owner_for(s, actor=actor, plan=plan, organization=organization)
        if await live_of(s, owner) is not None:
            raise _exists(owner)
    provider = provider_of(container, Capability.subscriptions)
    pm_id: str | None = None
    if payment_method is not None:
        card, _ = await customers.attach_payment_method(
            container, user=user, payment_method=payment_method
        )
        pm_id = card.id
    customer = await customers.ensure_customer(container, user=user)
    price_id = await ensure_price(container, plan_code)
    sub_id = new_id(Prefix.subscription)
    now = clock.now()
    try:
        async with container.db.transaction() as s:
            row = Subscription(
                id=sub_id,
                owner_id=owner,
                live_owner=owner,
                payer_id=user.id,
                plan_code=plan_code,
                status=SubscriptionStatus.incomplete.value,
                provider=provider.name,
                provider_customer_id=customer.provider_customer_id,
                idempotency_key=f"{sub_id}:create",
                plan_changes=0,
                cancel_at_period_end=False,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await s.flush()
    except IntegrityError:
        raise _exists(owner) from None
    try:
        made = await provider.create_subscription(
            SubscriptionRequest(
                idempotency_key=row.idempotency_key,
                customer=customer.provider_customer_id,
                price_id=price_id,
                default_payment_method=pm_id,
                metadata={"subscription": sub_id, "owner": owner, "plan": plan_code},
            )
        )
    except ProviderError as exc:
        if _give_up(exc):
            async with container.db.transaction() as s:
                failed = await s.get(Subscription, sub_id, with_for_update=True)
                assert failed is not None
                failed.status = SubscriptionStatus.expired.value
                failed.live_owner = None
                failed.ended_at = failed.updated_at = clock.now()
        raise exc.to_api_error() from exc
    async with container.db.transaction() as s:
        row = await s.get(Subscription, sub_id, with_for_update=True)  # type: ignore[assignment]
        assert row is not None
        row.provider_subscription_id = made.id
        await _event(s, clock=clock, type=EventType.subscription_created, row=row)
        await apply_provider(s, clock=clock, row=row, sub=made)
    return row, made.client_secret


def _exists(owner: str) -> ConflictError:
    return ConflictError(
        f"{owner} has a subscription already: change its plan with "
        "POST /v1/subscriptions/{id}/change_plan, or cancel it first.",
        code="subscription_exists",
        param="plan",
    )


# --- change plan, cancel --------------------------------------------------------------------------


async def change_plan(
    container: Container, *, actor: Principal, subscription_id: str, plan_code: str
) -> Subscription:
    """Upgrade or downgrade between paid plans of the same audience. The new plan's limits
    apply at once; its price from the next invoice (no proration)."""
    clock = container.clock
    async with container.db.transaction() as s:
        row = await _manageable(s, actor=actor, subscription_id=subscription_id)
        plan = await get_plan(s, plan_code)
        current = await get_plan(s, row.plan_code)
        if SubscriptionStatus(row.status) is not SubscriptionStatus.active:
            raise ConflictError(
                f"Only an active subscription changes plan; {row.id} is {row.status}.",
                code="subscription_not_active",
            )
        if plan.code == row.plan_code:
            raise InvalidRequestError(
                f"{row.id} is on the {plan.name} plan already.", code="plan_unchanged", param="plan"
            )
        if plan.amount == 0:
            raise InvalidRequestError(
                f"The {plan.name} plan is free: cancel the subscription instead "
                "(POST /v1/subscriptions/{id}/cancel), it ends with the period.",
                code="plan_free",
                param="plan",
            )
        if plan.audience != current.audience:
            raise InvalidRequestError(
                f"The {plan.name} plan is for an {plan.audience}; this subscription belongs to "
                f"{row.owner_id}.",
                code="plan_audience_mismatch",
                param="plan",
            )
        provider_sub_id, key = (
            row.provider_subscription_id,
            (f"{row.id}:plan:{row.plan_changes + 1}:{plan.code}"),
        )
    assert provider_sub_id is not None
    price_id = await ensure_price(container, plan_code)
    provider = provider_of(container, Capability.subscriptions)
    there = await call_provider(provider.retrieve_subscription(provider_sub_id))
    if there.item_id is None:  # pragma: no cover - a provider subscription always has an item
        raise ConflictError(f"The provider's subscription {provider_sub_id} has no item.")
    changed = await call_provider(
        provider.change_subscription_price(
            subscription_id=provider_sub_id,
            item_id=there.item_id,
            price_id=price_id,
            idempotency_key=key,
        )
    )
    async with container.db.transaction() as s:
        row = await s.get(Subscription, subscription_id, with_for_update=True)  # type: ignore[assignment]
        assert row is not None
        previous = {"plan": row.plan_code}
        if row.plan_code != plan_code:
            row.plan_code = plan_code
            row.plan_changes += 1
            row.updated_at = clock.now()
            await _event(
                s, clock=clock, type=EventType.subscription_updated, row=row, previous=previous
            )
        await apply_provider(s, clock=clock, row=row, sub=changed)
    return row


async def cancel(container: Container, *, actor: Principal, subscription_id: str) -> Subscription:
    """Cancel at the period's end: the plan stays until then; nothing is refunded."""
    clock = container.clock
    async with container.db.transaction() as s:
        row = await _manageable(s, actor=actor, subscription_id=subscription_id)
        status = SubscriptionStatus(row.status)
        if status in domain.FINAL:
            raise ConflictError(
                f"{row.id} has ended already ({row.status}).", code="subscription_ended"
            )
        if row.cancel_at_period_end:
            return row
        provider_sub_id = row.provider_subscription_id
    assert provider_sub_id is not None
    provider = provider_of(container, Capability.subscriptions)
    answer = await call_provider(
        provider.cancel_subscription_at_period_end(
            subscription_id=provider_sub_id, idempotency_key=f"{subscription_id}:cancel"
        )
    )
    async with container.db.transaction() as s:
        row = await s.get(Subscription, subscription_id, with_for_update=True)  # type: ignore[assignment]
        assert row is not None
        was = row.cancel_at_period_end
        await apply_provider(s, clock=clock, row=row, sub=answer)
        if row.cancel_at_period_end and not was:
            await _event(
                s,
                clock=clock,
                type=EventType.subscription_updated,
                row=row,
                previous={"cancel_at_period_end": False},
            )
    return row


# --- what the provider says ---------------------------------------------------------------------

_STATUS_EVENTS = {
    SubscriptionStatus.active: EventType.subscription_activated,
    SubscriptionStatus.past_due: EventType.subscription_past_due,
    SubscriptionStatus.canceled: EventType.subscription_canceled,
    SubscriptionStatus.expired: EventType.subscription_canceled,
}


async def apply_provider(
    session: AsyncSession, *, clock: Clock, row: Subscription, sub: ProviderSubscription
) -> None:
    """Make ``row`` say what the provider's subscription says (status, period, cancellation,
    plan by price). Moves forward only: an ended subscription stays ended."""
    before = SubscriptionStatus(row.status)
    after = domain.next_status(before, sub.status)
    if before in domain.FINAL:
        return
    now = clock.now()
    row.cancel_at_period_end = sub.cancel_at_period_end
    if sub.current_period_end is not None:
        row.current_period_end = sub.current_period_end
    row.latest_invoice = sub.latest_invoice or row.latest_invoice
    if sub.price_id is not None:
        by_price = (
            await session.scalars(select(Plan.code).where(Plan.provider_price_id == sub.price_id))
        ).first()
        if by_price is not None:
            row.plan_code = by_price
    row.updated_at = now
    if after is before:
        return
    row.status = after.value
    if after in domain.FINAL:
        row.live_owner = None
        row.ended_at = now
    await _event(
        session, clock=clock, type=_STATUS_EVENTS[after], row=row, previous={"status": before}
    )


async def book_invoice(
    session: AsyncSession,
    *,
    clock: Clock,
    row: Subscription,
    invoice: Invoice,
    fee: int | None,
) -> bool:
    """Book a paid invoice: its revenue, the provider's clearing account (the payer's money,
    collected) → ``platform:fees``; and ``fee``, the provider's processing fee on its payment
    (from the charge's balance transaction), ``platform:processing_costs`` → clearing, as an
    escrow payment's fee is booked. Each once per invoice, in the caller's unit of work; a fee
    not known yet (None) is booked by a later report of the same invoice. True when the
    revenue was booked now."""
    if invoice.amount_paid <= 0:
        return False
    has_revenue, has_fee = await invoice_booked(session, invoice.id)
    moves: list[Move] = []
    if not has_revenue:
        moves.append(
            Move(
                id=domain.revenue_transfer_id(invoice.id),
                category=CATEGORY,
                debit=ledgering.clearing(row.provider),
                credit=PLATFORM_FEES,
                amount=invoice.amount_paid,
            )
        )
    if fee is not None and fee > 0 and not has_fee:
        moves.append(
            Move(
                id=domain.fee_transfer_id(invoice.id),
                category=domain.FEE_CATEGORY,
                debit=PROCESSING_COSTS,
                credit=ledgering.clearing(row.provider),
                amount=fee,
            )
        )
    if not moves:
        return False
    await ledgering.apply(
        session, clock=clock, currency=invoice.currency, reference=row.id, moves=moves
    )
    if has_revenue:
        return False
    if invoice.billing_reason == "subscription_cycle":
        await _event(session, clock=clock, type=EventType.subscription_renewed, row=row)
    return True


async def invoice_booked(session: AsyncSession, invoice_id: str) -> tuple[bool, bool]:
    """Whether the invoice's revenue and its processing fee are in the ledger."""
    ids = (domain.revenue_transfer_id(invoice_id), domain.fee_transfer_id(invoice_id))
    found = set(
        (await session.scalars(select(LedgerTransfer.id).where(LedgerTransfer.id.in_(ids)))).all()
    )
    return ids[0] in found, ids[1] in found


async def by_provider_id(
    session: AsyncSession, provider_subscription_id: str
) -> Subscription | None:
    return (
        await session.scalars(
            select(Subscription)
            .where(Subscription.provider_subscription_id == provider_subscription_id)
            .with_for_update()
        )
    ).one_or_none()


async def plan_of(session: AsyncSession, owner: str) -> Plan:
    """The plan whose limits apply to ``owner``: a paid-for subscription's, else Starter."""
    live = await live_of(session, owner)
    code = domain.STARTER
    if live is not None and SubscriptionStatus(live.status) in domain.ENTITLED:
        code = live.plan_code
    plan = await session.get(Plan, code)
    assert plan is not None, f"plan {code} is seeded by migration 0018"
    return plan
