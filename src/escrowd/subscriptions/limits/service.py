"""Plan limits: :func:`check` reads how much of a limit an owner used this month;
:func:`record_use` checks and counts one use atomically (the owner's monthly counter row is
created if missing and locked), once per caller's key (docs/subscriptions.md, Plan limits).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.clock import Clock
from escrowd.errors import ConflictError, InvalidRequestError, NotFoundError
from escrowd.ids import Prefix, has_prefix, new_id
from escrowd.subscriptions import domain
from escrowd.subscriptions.domain import Usage
from escrowd.subscriptions.limits.models import UsageCounter, UsageRecord
from escrowd.subscriptions.models import Plan
from escrowd.subscriptions.service import plan_of
from escrowd.users.models import User
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Organization


async def _limit_owner(session: AsyncSession, *, actor: Principal, owner: str | None) -> str:
    """Whose limit: the caller's own, an organization they belong to, or (platform admins and
    API keys, acting for the marketplace) anyone's."""
    if owner is None:
        if actor.user_id is None:
            raise InvalidRequestError(
                "Name whose limit with `owner` (usr_… or org_…).",
                code="parameter_missing",
                param="owner",
            )
        return actor.user_id
    if owner == actor.user_id:
        return owner
    if actor.is_admin:
        found = await session.get(
            Organization if has_prefix(owner, Prefix.organization) else User, owner
        )
        if found is not None:
            return owner
    elif has_prefix(owner, Prefix.organization) and actor.user_id is not None:
        mine = await organizations.membership_of(session, org_id=owner, user_id=actor.user_id)
        if mine is not None:
            return owner
    raise NotFoundError(f"No such owner: '{owner}'.", param="owner")


def _check_limit(limit: str) -> str:
    if limit not in domain.LIMITS:
        raise InvalidRequestError(
            f"Unknown limit {limit!r}; escrowd knows {', '.join(domain.LIMITS)}.", param="limit"
        )
    return limit


async def _counter(
    session: AsyncSession, *, owner: str, limit: str, period: str, lock: bool
) -> UsageCounter | None:
    stmt = select(UsageCounter).where(
        UsageCounter.owner_id == owner,
        UsageCounter.limit_name == limit,
        UsageCounter.period == period,
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).one_or_none()


async def check(
    session: AsyncSession, *, clock: Clock, actor: Principal, limit: str, owner: str | None
) -> tuple[str, Plan, Usage]:
    limit = _check_limit(limit)
    who = await _limit_owner(session, actor=actor, owner=owner)
    plan = await plan_of(session, who)
    period = domain.period_of(clock.now())
    counter = await _counter(session, owner=who, limit=limit, period=period, lock=False)
    usage = Usage(
        limit=limit,
        plan=plan.code,
        period=period,
        used=0 if counter is None else counter.used,
        maximum=domain.limit_of(plan.limits, limit),
    )
    return who, plan, usage


async def record_use(
    session: AsyncSession,
    *,
    clock: Clock,
    actor: Principal,
    limit: str,
    owner: str | None,
    key: str,
) -> tuple[UsageRecord, Usage]:
    """Count one use if the owner's plan allows it, else 409 ``plan_limit_reached``.

    The owner's counter for the month is created if missing and locked, so concurrent uses
    are counted one after the other; a key seen before returns its record and counts nothing.
    """
    limit = _check_limit(limit)
    who = await _limit_owner(session, actor=actor, owner=owner)
    period = domain.period_of(clock.now())
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(UsageCounter)
        .values(owner_id=who, limit_name=limit, period=period, used=0)
        .on_conflict_do_nothing(index_elements=["owner_id", "limit_name", "period"])
    )
    counter = await _counter(session, owner=who, limit=limit, period=period, lock=True)
    assert counter is not None
    plan = await plan_of(session, who)
    seen = (
        await session.scalars(
            select(UsageRecord).where(UsageRecord.owner_id == who, UsageRecord.key == key)
        )
    ).one_or_none()
    if seen is not None:
        if seen.limit_name != limit:
            raise ConflictError(
                f"The key {key!r} recorded a use of {seen.limit_name}, not {limit}.",
                code="usage_key_reused",
                param="key",
            )
        return seen, _usage(plan, limit, period, counter.used)
    usage = _usage(plan, limit, period, counter.used)
    if not usage.allowed:
        upgrade = await session.get(Plan, plan.upgrade_to) if plan.upgrade_to else None
        raise domain.limit_reached(
            usage, plan_name=plan.name, upgrade=None if upgrade is None else upgrade.name
        )
    counter.used += 1
    row = UsageRecord(
        id=new_id(Prefix.usage),
        owner_id=who,
        key=key,
        limit_name=limit,
        period=period,
        plan_code=plan.code,
        recorded_by=actor.id,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row, _usage(plan, limit, period, counter.used)


def _usage(plan: Plan, limit: str, period: str, used: int) -> Usage:
    return Usage(
        limit=limit,
        plan=plan.code,
        period=period,
        used=used,
        maximum=domain.limit_of(plan.limits, limit),
    )
