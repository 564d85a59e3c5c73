"""Roles and the rules about them. Pure: no database, no web framework.

Platform roles: ``client`` (pays), ``worker`` (gets paid), ``admin`` (runs the platform).
Organization roles are in ``escrowd.users.organizations.domain``.
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

from escrowd.errors import ConflictError, InvalidRequestError, PermissionDeniedError

Role = Literal["client", "worker", "admin"]
PrincipalKind = Literal["user", "api_key"]

ROLES: Final[tuple[Role, ...]] = get_args(Role)
#: Roles anyone may pick when signing up; ``admin`` is granted by the CLI or another admin.
SELF_SERVICE_ROLES: Final[frozenset[Role]] = frozenset({"client", "worker"})

PASSWORD_MIN_LENGTH: Final = 10
PASSWORD_MAX_LENGTH: Final = 256
EMAIL_MAX_LENGTH: Final = 254
NAME_MAX_LENGTH: Final = 200

# Deliberately loose (RFC 5322 is not worth enforcing): one @, no spaces, a dotted domain.
# The OpenAPI document states the same pattern (escrowd.users.schemas.NewEmail).
EMAIL_PATTERN: Final = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, so ``Ann@Example.com`` and ``ann@example.com`` are one user."""
    value = email.strip().lower()
    if len(value) > EMAIL_MAX_LENGTH or not _EMAIL_RE.match(value):
        raise InvalidRequestError(
            f"'{email}' is not a valid email address (expected something like name@example.com).",
            code="email_invalid",
            param="email",
        )
    return value


def check_password(password: str) -> None:
    """Length only (NIST SP 800-63B): long passphrases beat composition rules."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidRequestError(
            f"The password is too short: use at least {PASSWORD_MIN_LENGTH} characters "
            "(a few unrelated words make a strong, memorable one).",
            code="password_too_short",
            param="password",
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidRequestError(
            f"The password is too long: use at most {PASSWORD_MAX_LENGTH} characters.",
            code="password_too_long",
            param="password",
        )


def check_role_choice(role: Role, *, granted_by_admin: bool) -> None:
    """Signing up as client or worker is open; only an admin (or the CLI) makes admins."""
    if role not in SELF_SERVICE_ROLES and not granted_by_admin:
        raise PermissionDeniedError(
            f"You cannot give yourself the '{role}' role: sign up as a client or worker. "
            "Admins are created by another admin or with `escrowd users create`.",
            code="role_not_allowed",
            param="role",
        )


def is_platform_admin(role: str) -> bool:
    return role == "admin"


def check_platform_admins_remain(*, other_active_admins: int, removing_an_admin: bool) -> None:
    """The platform always keeps an active admin: nobody else can make one over the API."""
    if removing_an_admin and other_active_admins == 0:
        raise ConflictError(
            "This is the last active admin: disabling or demoting them would leave nobody "
            "able to administer the platform. Promote another user to admin first.",
            code="last_admin",
        )
