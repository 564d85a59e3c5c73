"""Organization roles and the rule about them. Pure: no database, no web framework.

``member`` belongs to the organization; ``admin`` also manages its members and its connected
account.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from escrowd.errors import ConflictError

OrgRole = Literal["member", "admin"]

ORG_ROLES: Final[tuple[OrgRole, ...]] = get_args(OrgRole)


def check_admins_remain(*, admins_now: int, removing_an_admin: bool) -> None:
    """An organization always keeps at least one admin, who can manage it."""
    if removing_an_admin and admins_now <= 1:
        raise ConflictError(
            "An organization needs at least one admin: make another member an admin first, "
            "then remove or demote this one.",
            code="last_organization_admin",
        )
