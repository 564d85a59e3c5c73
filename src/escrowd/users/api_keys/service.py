"""Platform API keys: create, authenticate, revoke (the format and hashing: ``domain``).

A revoked key is refused on the very next request, since every request reads the row.
"""

from __future__ import annotations

import hmac

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from escrowd.clock import Clock
from escrowd.errors import NotFoundError
from escrowd.ids import Prefix, new_id
from escrowd.users.api_keys.domain import (
    LAST_USED_RESOLUTION,
    hash_secret,
    invalid,
    key_id_of,
    new_secret,
)
from escrowd.users.api_keys.models import ApiKey


async def create(
    session: AsyncSession, *, clock: Clock, name: str, created_by: str | None
) -> tuple[ApiKey, str]:
    """A new key and its secret. The secret is returned once and never stored."""
    key_id = new_id(Prefix.api_key)
    secret = new_secret(key_id)
    assert key_id_of(secret) == key_id
    key = ApiKey(
        id=key_id,
        name=name,
        secret_hash=hash_secret(secret),
        last4=secret[-4:],
        created_by=created_by,
        created_at=clock.now(),
        last_used_at=None,
        revoked_at=None,
    )
    session.add(key)
    await session.flush()
    return key, secret


async def authenticate(
    session: AsyncSession, *, clock: Clock, secret: str, touch: bool = True
) -> ApiKey:
    """The live key for ``secret`` or :class:`AuthenticationError`. ``touch`` records the use."""
    key_id = key_id_of(secret)
    presented = hash_secret(secret)
    key = await session.get(ApiKey, key_id) if key_id else None
    stored = key.secret_hash if key is not None else "0" * 64
    if not hmac.compare_digest(presented, stored) or key is None or key.revoked_at is not None:
        raise invalid()
    if touch:
        now = clock.now()
        stale = now - LAST_USED_RESOLUTION
        if key.last_used_at is None or key.last_used_at < stale:
            # Conditional: of concurrent requests only the first in a minute writes; the others
            # re-check the condition after it commits and skip (no lost update, no queue).
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key.id)
                .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale))
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            set_committed_value(key, "last_used_at", now)
    return key


async def get_or_raise(session: AsyncSession, *, key_id: str) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError(f"No such API key: '{key_id}'.", param="id")
    return key


async def revoke(session: AsyncSession, *, clock: Clock, key_id: str) -> ApiKey:
    """Revoke now (idempotent: revoking twice keeps the first time)."""
    key = await get_or_raise(session, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        await session.flush()
    return key


def list_query() -> Select[ApiKey]:
    return select(ApiKey)
