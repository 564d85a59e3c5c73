"""Who is calling, as FastAPI dependencies.

Use in routes (``Annotated`` aliases):

- ``CurrentPrincipal``: any valid credential — a user token or an API key → ``Principal``.
- ``OptionalPrincipal``: the same, or ``None`` when no ``Authorization`` header was sent.
- ``CurrentUser``: a user token only → the ``User`` row (API keys get 403).
- ``AdminPrincipal``: an admin user or an API key → ``Principal``.
- ``AdminUser``: an admin user only (API keys get 403) → ``User``.
- ``require_roles("client", ...)``: a dependency for a user with one of these roles.
- ``BrowserPrincipal``: ``CurrentPrincipal``, or else the web app's session cookie (for
  ``GET`` routes a signed-in page reads from script, such as the event stream).

``principal_scope(container)`` gives the idempotency middleware a caller scope per credential.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.errors import AuthenticationError, PermissionDeniedError
from escrowd.users import tokens
from escrowd.users.api_keys import service as api_keys
from escrowd.users.api_keys.domain import looks_like_api_key
from escrowd.users.lookup import user_by_id
from escrowd.users.models import User

__all__ = [
    "SESSION_COOKIE",
    "AdminPrincipal",
    "AdminUser",
    "BrowserPrincipal",
    "Caller",
    "CurrentPrincipal",
    "CurrentUser",
    "OptionalPrincipal",
    "Principal",
    "principal_scope",
    "require_roles",
    "resolve",
]

#: The web app's session cookie: it holds a user access token, the same as a Bearer header.
SESSION_COOKIE = "escrowd_session"

# Declares the scheme in /openapi.json; the header itself is parsed below for exact errors.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A user access token (POST /v1/auth/tokens) or a platform API key (ek_…).",
)


def _missing() -> AuthenticationError:
    return AuthenticationError(
        "You did not provide credentials. Send 'Authorization: Bearer <token>' with an access "
        "token from POST /v1/auth/tokens, or a platform API key.",
        code="authentication_required",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _credential(authorization: str) -> str:
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise AuthenticationError(
            "The Authorization header must be 'Bearer <token>' (an access token or an API key).",
            code="authorization_header_invalid",
            headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )
    return value


def _inactive_user() -> AuthenticationError:
    return AuthenticationError(
        "The access token belongs to a user that no longer exists or is disabled. Log in "
        "again with an active account (POST /v1/auth/tokens).",
        code="user_inactive",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def resolve(
    session: AsyncSession, *, container: Container, authorization: str, touch: bool = True
) -> Principal:
    """The principal for an ``Authorization`` header value, or AuthenticationError."""
    credential = _credential(authorization)
    if looks_like_api_key(credential):
        key = await api_keys.authenticate(
            session, clock=container.clock, secret=credential, touch=touch
        )
        return Principal.of_api_key(key.id)
    claims = tokens.decode(credential, settings=container.settings, clock=container.clock)
    return _active(await session.get(User, claims.sub))


def _active(user: User | None) -> Principal:
    if user is None or user.disabled:
        raise _inactive_user()
    return Principal.of_user(user)


async def get_optional_principal(
    request: Request,
    container: ContainerDep,
    session: SessionDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    principal = await resolve(session, container=container, authorization=authorization)
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise _missing()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_browser_principal(
    request: Request,
    container: ContainerDep,
    session: SessionDep,
    principal: OptionalPrincipal,
) -> Principal:
    """The Authorization header's principal or, without one, the session cookie's user.

    Only for ``GET`` routes that change nothing: a cookie rides along on requests another site
    makes, and SameSite=Lax keeps it off their scripted ones but not off every navigation.
    """
    if principal is not None:
        return principal
    token = request.cookies.get(SESSION_COOKIE)
    if not token or looks_like_api_key(token):
        raise _missing()
    found = await resolve(session, container=container, authorization=f"Bearer {token}")
    request.state.principal = found
    return found


BrowserPrincipal = Annotated[Principal, Depends(get_browser_principal)]


async def get_current_user(principal: CurrentPrincipal) -> User:
    if principal.user is None:
        raise PermissionDeniedError(
            "This endpoint acts for a person: use a user access token, not an API key.",
            code="user_token_required",
        )
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise PermissionDeniedError(
            "This needs an admin: log in as an admin or use a platform API key.",
            code="admin_required",
        )
    return principal


AdminPrincipal = Annotated[Principal, Depends(get_admin_principal)]


async def get_admin_user(user: CurrentUser) -> User:
    if user.role != "admin":
        raise PermissionDeniedError("This needs an admin user.", code="admin_required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


def require_roles(*roles: str) -> Callable[[CurrentUser], Awaitable[User]]:
    """A dependency for a user with one of ``roles``: ``Depends(require_roles("client"))``."""
    allowed = frozenset(roles)

    async def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise PermissionDeniedError(
                f"This needs a user with the role {' or '.join(sorted(allowed))}; "
                f"you are a {user.role}.",
                code="role_required",
            )
        return user

    return dependency


def principal_scope(container: Container) -> Callable[[str | None], Awaitable[str]]:
    """For the idempotency middleware: the caller's scope for an ``Authorization`` value.

    A valid credential gives its principal's id (``usr_…`` or ``key_…``), so a user's keys
    survive token refreshes. Anything else gives ``anonymous`` or a hash of the header, which
    can never collide with a real principal. Never raises.
    """

    async def scope(authorization: str | None) -> str:
        if not authorization:
            return "anonymous"
        try:
            credential = _credential(authorization)
            if not looks_like_api_key(credential):
                # A token's signature proves its subject without a database read; the route
                # itself still refuses a disabled user, and a refusal is never stored.
                return tokens.decode(
                    credential, settings=container.settings, clock=container.clock
                ).sub
            async with container.db.read() as session:  # touch=False: a read only
                principal = await resolve(
                    session, container=container, authorization=authorization, touch=False
                )
            return principal.id
        except Exception:  # any failure means "not a valid credential": hash it
            return "auth:" + hashlib.sha256(authorization.encode()).hexdigest()[:40]

    return scope


async def get_caller(
    request: Request,
    container: ContainerDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The authenticated caller, resolved before and outside the route's unit of work: a user
    token by one read of its user (``escrowd.users.lookup``), an API key in a short transaction
    that records its use.

    For routes that call a payment provider: they must not hold a transaction open across the
    call (on SQLite the in-process sandbox needs the write lock), so they cannot use
    ``CurrentPrincipal``, which resolves inside the request's unit of work.
    """
    authorization = request.headers.get("authorization")
    if authorization is None:
        return await get_principal(None)  # raises the standard 401
    credential = _credential(authorization)
    if looks_like_api_key(credential):
        # An API key's use is recorded (``touch``): a write, so a transaction.
        async with container.db.transaction() as session:
            principal = await resolve(session, container=container, authorization=authorization)
    else:
        # A user token needs one read of its user: no transaction, no session around it.
        claims = tokens.decode(credential, settings=container.settings, clock=container.clock)
        principal = _active(await user_by_id(container.db, claims.sub))
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(get_caller)]
