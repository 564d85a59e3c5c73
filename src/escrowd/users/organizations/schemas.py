"""Request and response shapes for organizations and their members."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, Metadata, RequestModel
from escrowd.clock import unix
from escrowd.users import models as user_models
from escrowd.users.organizations import models
from escrowd.users.organizations.domain import OrgRole
from escrowd.users.schemas import METADATA, Name, UserId


class OrganizationCreate(RequestModel):
    name: Name = Field(description="The organization's name, e.g. 'Acme Studio'.")
    metadata: Metadata = Field(default_factory=dict, description=METADATA)


class MemberCreate(RequestModel):
    user: UserId = Field(description="The id of the user to add (they find it in /v1/users/me).")
    role: OrgRole = Field(
        default="member",
        description="`admin` manages the members and the organization's connected account.",
    )


class MemberUpdate(RequestModel):
    role: OrgRole = Field(description="The member's new role in the organization.")


class Organization(ApiObject):
    id: str
    object: Literal["organization"] = "organization"
    name: str
    created: int
    metadata: dict[str, str]

    @classmethod
    def of(cls, o: models.Organization) -> Organization:
        return cls(id=o.id, name=o.name, created=unix(o.created_at), metadata=dict(o.meta or {}))


class OrganizationMember(ApiObject):
    id: str
    object: Literal["organization_member"] = "organization_member"
    organization: str
    user: str
    email: str
    name: str
    role: OrgRole
    created: int

    @classmethod
    def of(cls, m: models.Membership, u: user_models.User) -> OrganizationMember:
        return cls(
            id=m.id,
            organization=m.organization_id,
            user=u.id,
            email=u.email,
            name=u.name,
            role=m.role,
            created=unix(m.created_at),
        )
