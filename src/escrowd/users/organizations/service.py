"""Organization use cases: create, see, and manage members.

Visibility: members see their organizations; platform admins (and API keys) see all; anyone
else gets 404, as if the organization did not exist. Management (add, remove, change roles):
organization admins, and platform admins for support. An organization always keeps one admin.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.clock import Clock
from escrowd.errors import ConflictError, NotFoundError, PermissionDeniedError
from escrowd.ids import Prefix, new_id
from escrowd.users.models import User
from escrowd.users.organizations.domain import OrgRole, check_admins_remain
from escrowd.users.organizations.models import Membership, Organization


def _org_missing(org_id: str) -> NotFoundError:
    return NotFoundError(f"No such organization: '{org_id}'.", param="id")


def _member_missing(member_id: str) -> NotFoundError:
    return NotFoundError(f"No such organization member: '{member_id}'.", param="member_id")


async def create(
    session: AsyncSession,
    *,
    clock: Clock,
    creator: User,
    name: str,
    metadata: dict[str, str] | None = None,
) -> Organization:
    """A new organization whose creator is its first admin."""
    now = clock.now()
    org = Organization(
        id=new_id(Prefix.organization),
        name=name,
        meta=dict(metadata or {}),
        created_by=creator.id,
        created_at=now,
    )
    session.add(org)
    await session.flush()
    session.add(
        Membership(
            id=new_id(Prefix.membership),
            organization_id=org.id,
            user_id=creator.id,
            role="admin",
            created_at=now,
        )
    )
    await session.flush()
    return org


async def parties_of(session: AsyncSession, user_id: str) -> set[str]:
    """The parties whose money ``user_id`` may see as its own: itself and its organizations."""
    orgs = await session.scalars(
        select(Membership.organization_id).where(Membership.user_id == user_id)
    )
    return {user_id, *orgs.all()}


async def membership_of(
    session: AsyncSession, *, org_id: str, user_id: str | None
) -> Membership | None:
    if user_id is None:
        return None
    stmt = select(Membership).where(
        Membership.organization_id == org_id, Membership.user_id == user_id
    )
    return (await session.scalars(stmt)).one_or_none()


async def get_visible(
    session: AsyncSession, *, org_id: str, actor: Principal, lock: bool = False
) -> tuple[Organization, Membership | None]:
    """The organization and the actor's membership in it; 404 for outsiders."""
    stmt = select(Organization).where(Organization.id == org_id)
    if lock:  # serializes member changes per organization (the last-admin rule)
        stmt = stmt.with_for_update()
    org = (await session.scalars(stmt)).one_or_none()
    if org is None:
        raise _org_missing(org_id)
    mine = await membership_of(session, org_id=org_id, user_id=actor.user_id)
    if mine is None and not actor.is_admin:
        raise _org_missing(org_id)
    return org, mine


async def _get_manageable(session: AsyncSession, *, org_id: str, actor: Principal) -> Organization:
    org, mine = await get_visible(session, org_id=org_id, actor=actor, lock=True)
    if not actor.is_admin and (mine is None or mine.role != "admin"):
        raise PermissionDeniedError(
            "Only an admin of this organization can manage its members.",
            code="organization_admin_required",
        )
    return org


def visible_query(*, actor: Principal) -> Select[Organization]:
    if actor.is_admin:
        return select(Organization)
    return (
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == actor.user_id)
    )


def members_query(*, org_id: str) -> Select[Membership]:
    return select(Membership).where(Membership.organization_id == org_id)


async def users_of(session: AsyncSession, members: list[Membership]) -> dict[str, User]:
    ids = {m.user_id for m in members}
    if not ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: u for u in rows}


async def _admin_count(session: AsyncSession, org_id: str) -> int:
    stmt = select(func.count()).where(
        Membership.organization_id == org_id, Membership.role == "admin"
    )
    return int((await session.execute(stmt)).scalar_one())


async def _get_member(session: AsyncSession, *, org_id: str, member_id: str) -> Membership:
    member = await session.get(Membership, member_id)
    if member is None or member.organization_id != org_id:
        raise _member_missing(member_id)
    return member


async def get_member(
    session: AsyncSession, *, org_id: str, member_id: str, actor: Principal
) -> Membership:
    await get_visible(session, org_id=org_id, actor=actor)
    return await _get_member(session, org_id=org_id, member_id=member_id)


async def add_member(
    session: AsyncSession,
    *,
    clock: Clock,
    org_id: str,
    actor: Principal,
    user_id: str,
    role: OrgRole = "member",
) -> Membership:
    await _get_manageable(session, org_id=org_id, actor=actor)
    user = await session.get(User, user_id)
    if user is None or user.disabled:
        raise NotFoundError(f"No such user: '{user_id}'.", param="user")
    if await membership_of(session, org_id=org_id, user_id=user_id) is not None:
        raise ConflictError(
            "This user is already a member; change their role with "
            "POST /v1/organizations/{id}/members/{member_id}.",
            code="already_a_member",
            param="user",
        )
    member = Membership(
        id=new_id(Prefix.membership),
        organization_id=org_id,
        user_id=user_id,
        role=role,
        created_at=clock.now(),
    )
    session.add(member)
    await session.flush()
    return member


async def change_role(
    session: AsyncSession, *, org_id: str, member_id: str, actor: Principal, role: OrgRole
) -> Membership:
    await _get_manageable(session, org_id=org_id, actor=actor)
    member = await _get_member(session, org_id=org_id, member_id=member_id)
    if member.role == role:
        return member
    check_admins_remain(
        admins_now=await _admin_count(session, org_id),
        removing_an_admin=member.role == "admin",
    )
    member.role = role
    await session.flush()
    return member


async def remove_member(
    session: AsyncSession, *, org_id: str, member_id: str, actor: Principal
) -> Membership:
    """Organization admins remove anyone; every member may remove themselves (leave)."""
    org, mine = await get_visible(session, org_id=org_id, actor=actor, lock=True)
    member = await _get_member(session, org_id=org.id, member_id=member_id)
    leaving = mine is not None and mine.id == member.id
    if not leaving:
        await _get_manageable(session, org_id=org_id, actor=actor)
    check_admins_remain(
        admins_now=await _admin_count(session, org_id),
        removing_an_admin=member.role == "admin",
    )
    await session.delete(member)
    await session.flush()
    return member
