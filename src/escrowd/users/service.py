"""User use cases: sign up, log in, look up, update. Each runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.clock import Clock
from escrowd.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from escrowd.ids import Prefix, new_id
from escrowd.users.domain import (
    Role,
    check_password,
    check_platform_admins_remain,
    check_role_choice,
    normalize_email,
)
from escrowd.users.models import User
from escrowd.users.passwords import Passwords

_BAD_LOGIN = "Incorrect email or password."


def _email_taken() -> ConflictError:
    return ConflictError(
        "An account with this email already exists. Log in (POST /v1/auth/tokens) instead, "
        "or sign up with another email.",
        code="email_in_use",
        param="email",
    )


def not_found(user_id: str) -> NotFoundError:
    return NotFoundError(f"No such user: '{user_id}'.", param="id")


async def get(session: AsyncSession, *, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, *, email: str) -> User | None:
    normalized = email.strip().lower()
    return (await session.scalars(select(User).where(User.email == normalized))).one_or_none()


async def get_visible(session: AsyncSession, *, user_id: str, actor: Principal) -> User:
    """A user the actor may see: themselves, or anyone for an admin. Others look missing."""
    if user_id != actor.id and not actor.is_admin:
        raise not_found(user_id)
    user = await session.get(User, user_id)
    if user is None:
        raise not_found(user_id)
    return user


async def create(
    session: AsyncSession,
    *,
    clock: Clock,
    passwords: Passwords,
    email: str,
    password: str,
    name: str,
    role: Role = "client",
    metadata: dict[str, str] | None = None,
    granted_by_admin: bool = False,
) -> User:
    """Sign up (``granted_by_admin=False``) or have an admin / the CLI make an account."""
    check_role_choice(role, granted_by_admin=granted_by_admin)
    normalized = normalize_email(email)
    check_password(password)
    if await get_by_email(session, email=normalized) is not None:
        raise _email_taken()
    now = clock.now()
    user = User(
        id=new_id(Prefix.user),
        email=normalized,
        name=name,
        role=role,
        password_hash=await passwords.hash(password),
        disabled=False,
        meta=dict(metadata or {}),
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        raise _email_taken() from None
    return user


async def authenticate(
    session: AsyncSession, *, clock: Clock, passwords: Passwords, email: str, password: str
) -> User:
    """The user with this email and password. Unknown email and wrong password look the same
    and cost the same (a dummy hash is checked when there is no account)."""
    user = await get_by_email(session, email=email)
    if user is None:
        await passwords.verify_dummy(password)
        raise AuthenticationError(_BAD_LOGIN, code="invalid_credentials")
    if not await passwords.verify(user.password_hash, password):
        raise AuthenticationError(_BAD_LOGIN, code="invalid_credentials")
    if user.disabled:
        raise AuthenticationError(
            "This account is disabled. Contact an administrator to have it enabled again.",
            code="account_disabled",
        )
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
        user.updated_at = clock.now()
    return user


async def update(
    session: AsyncSession, *, clock: Clock, user: User, actor: Principal, changes: dict[str, Any]
) -> User:
    """Change name/metadata (the user or an admin), role/disabled (admins only).

    Metadata merges like Stripe's: a key set to an empty string is removed. The last active
    admin can be neither disabled nor demoted, by anyone (409 ``last_admin``).
    """
    changes = {k: v for k, v in changes.items() if v is not None}
    admin_only = sorted({"role", "disabled"} & changes.keys())
    if admin_only and not actor.is_admin:
        raise PermissionDeniedError(
            f"Only an admin can change '{admin_only[0]}'.",
            code="role_not_allowed",
            param=admin_only[0],
        )
    if actor.id == user.id and changes.get("disabled"):
        raise ConflictError(
            "You cannot disable your own account; ask another admin.",
            code="self_lockout",
            param="disabled",
        )
    if actor.id == user.id and changes.get("role", user.role) != user.role:
        raise ConflictError(
            "You cannot change your own role; ask another admin.",
            code="self_lockout",
            param="role",
        )
    if changes.get("disabled") is True or changes.get("role", "admin") != "admin":
        await _keep_an_active_admin(session, user=user)
    for field in ("name", "role", "disabled"):
        if field in changes:
            setattr(user, field, changes[field])
    if "metadata" in changes:
        merged = {**(user.meta or {}), **changes["metadata"]}
        user.meta = {k: v for k, v in merged.items() if v != ""}
    user.updated_at = clock.now()
    await session.flush()
    return user


async def _keep_an_active_admin(session: AsyncSession, *, user: User) -> None:
    """Refuse to disable or demote the platform's last active admin, race-safely.

    The active admins' rows are locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serializes writers) and re-read: of two concurrent demotions of the last two
    admins, the second waits for the first, then sees it and is refused.
    """
    stmt = (
        select(User)
        .where(User.role == "admin", User.disabled.is_(False))
        .order_by(User.id)  # one lock order, so concurrent updates cannot deadlock
        .with_for_update()
        .execution_options(populate_existing=True)  # ``user`` may have been read before
    )
    active = list((await session.scalars(stmt)).all())
    check_platform_admins_remain(
        other_active_admins=sum(1 for a in active if a.id != user.id),
        removing_an_admin=any(a.id == user.id for a in active),
    )


def list_query(*, role: str | None = None, email: str | None = None) -> Select[User]:
    stmt = select(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if email is not None:
        stmt = stmt.where(User.email == email.strip().lower())
    return stmt


async def count(session: AsyncSession, *, role: str | None = None) -> int:
    stmt = select(func.count()).select_from(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    return int((await session.execute(stmt)).scalar_one())


async def party_names(session: AsyncSession, party_ids: Collection[str]) -> dict[str, str]:
    """How to show each payee to an admin: a user's name and email, an organization's name
    (two queries whatever the number). Ids that name nobody are left out."""
    from escrowd.users.organizations.models import Organization  # the subpackage builds on this

    ids = set(party_ids)
    names: dict[str, str] = {}
    if users := [i for i in ids if i.startswith(Prefix.user.value + "_")]:
        rows = await session.execute(
            select(User.id, User.name, User.email).where(User.id.in_(users))
        )
        names.update({r.id: f"{r.name} <{r.email}>" for r in rows})
    if orgs := [i for i in ids if i.startswith(Prefix.organization.value + "_")]:
        rows = await session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(orgs))
        )
        names.update({r.id: f"{r.name} (organization)" for r in rows})
    return names
