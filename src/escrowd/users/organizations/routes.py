"""HTTP routes for organizations and their members."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Path
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.auth import CurrentPrincipal, CurrentUser
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import DeletedObject, ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Membership
from escrowd.users.organizations.models import Organization as OrganizationRow
from escrowd.users.organizations.schemas import (
    MemberCreate,
    MemberUpdate,
    Organization,
    OrganizationCreate,
    OrganizationMember,
)

OrgIdPath = Annotated[str, Path(max_length=64, description="An organization id (org_…).")]
MemberIdPath = Annotated[str, Path(max_length=64, description="A membership id (mbr_…).")]

router = APIRouter(prefix="/organizations", tags=["organizations"])


def _with_users(
    session: AsyncSession,
) -> Callable[[Sequence[Membership]], Awaitable[list[OrganizationMember]]]:
    """Shows members with their users, read in one query for all of them."""

    async def render(members: Sequence[Membership]) -> list[OrganizationMember]:
        users = await organizations.users_of(session, list(members))
        return [OrganizationMember.of(m, users[m.user_id]) for m in members]

    return render


@router.post(
    "",
    **write_route("Create an organization (you become its admin)", Organization, 400, 401, 403),
)
async def create_organization(
    body: OrganizationCreate, session: SessionDep, container: ContainerDep, user: CurrentUser
) -> Organization:
    org = await organizations.create(
        session, clock=container.clock, creator=user, name=body.name, metadata=body.metadata
    )
    return Organization.of(org)


@router.get(
    "", **list_route("List your organizations (all of them for platform admins)", Organization)
)
async def list_organizations(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> ListResponse[Organization]:
    stmt = organizations.visible_query(actor=principal)
    return await page_of(
        session, stmt, OrganizationRow.id, page, url="/v1/organizations", of=Organization.of
    )


@router.get("/{org_id}", **retrieve_route("Retrieve an organization you belong to", Organization))
async def get_organization(
    org_id: OrgIdPath, session: SessionDep, principal: CurrentPrincipal
) -> Organization:
    org, _ = await organizations.get_visible(session, org_id=org_id, actor=principal)
    return Organization.of(org)


@router.get(
    "/{org_id}/members", **list_route("List an organization's members", OrganizationMember, 404)
)
async def list_members(
    org_id: OrgIdPath, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> ListResponse[OrganizationMember]:
    await organizations.get_visible(session, org_id=org_id, actor=principal)
    stmt = organizations.members_query(org_id=org_id)
    url = f"/v1/organizations/{org_id}/members"
    return await page_of(session, stmt, Membership.id, page, url=url, render=_with_users(session))


@router.post(
    "/{org_id}/members",
    **write_route(
        "Add a member (organization admins)", OrganizationMember, 400, 401, 403, 404, 409
    ),
)
async def add_member(
    org_id: OrgIdPath,
    body: MemberCreate,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
) -> OrganizationMember:
    member = await organizations.add_member(
        session,
        clock=container.clock,
        org_id=org_id,
        actor=principal,
        user_id=body.user,
        role=body.role,
    )
    return (await _with_users(session)([member]))[0]


@router.get(
    "/{org_id}/members/{member_id}", **retrieve_route("Retrieve a member", OrganizationMember)
)
async def get_member(
    org_id: OrgIdPath, member_id: MemberIdPath, session: SessionDep, principal: CurrentPrincipal
) -> OrganizationMember:
    member = await organizations.get_member(
        session, org_id=org_id, member_id=member_id, actor=principal
    )
    return (await _with_users(session)([member]))[0]


@router.post(
    "/{org_id}/members/{member_id}",
    **write_route(
        "Change a member's role (organization admins)", OrganizationMember, 400, 401, 403, 404, 409
    ),
)
async def update_member(
    org_id: OrgIdPath,
    member_id: MemberIdPath,
    body: MemberUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> OrganizationMember:
    member = await organizations.change_role(
        session, org_id=org_id, member_id=member_id, actor=principal, role=body.role
    )
    return (await _with_users(session)([member]))[0]


@router.delete(
    "/{org_id}/members/{member_id}",
    **write_route(
        "Remove a member (organization admins; any member may remove themselves)",
        DeletedObject,
        401,
        403,
        404,
        409,
    ),
)
async def remove_member(
    org_id: OrgIdPath, member_id: MemberIdPath, session: SessionDep, principal: CurrentPrincipal
) -> DeletedObject:
    member = await organizations.remove_member(
        session, org_id=org_id, member_id=member_id, actor=principal
    )
    return DeletedObject(id=member.id, object="organization_member")
