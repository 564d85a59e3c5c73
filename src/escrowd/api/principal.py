"""Who is calling: a user with a token, or the platform through an API key.

Framework-free so that any service can take a ``Principal`` as its ``actor``; the FastAPI
dependencies that produce one live in ``escrowd.api.auth``. It lives in ``api/`` because it is
the API's notion of a caller (a user token or a platform key), not a rule of the users domain.
"""

from __future__ import annotations

from dataclasses import dataclass

from escrowd.users.domain import PrincipalKind, is_platform_admin
from escrowd.users.models import User

#: The role an API key acts with: the platform itself, for server-to-server calls.
API_KEY_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    #: ``usr_…`` for a user, ``key_…`` for an API key.
    id: str
    #: ``client`` / ``worker`` / ``admin``; an API key is ``admin``.
    role: str
    #: The user row when ``kind == "user"``, else ``None``.
    user: User | None = None

    @property
    def is_admin(self) -> bool:
        return is_platform_admin(self.role)

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def is_api_key(self) -> bool:
        return self.kind == "api_key"

    @property
    def user_id(self) -> str | None:
        return self.id if self.kind == "user" else None

    @classmethod
    def of_user(cls, user: User) -> Principal:
        return cls(kind="user", id=user.id, role=user.role, user=user)

    @classmethod
    def of_api_key(cls, key_id: str) -> Principal:
        return cls(kind="api_key", id=key_id, role=API_KEY_ROLE, user=None)
