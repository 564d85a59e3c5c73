"""A user's own notifications and email preferences (what the routes call).

Every read and write is scoped to the calling user: someone else's notification answers 404,
as if it did not exist. Making notifications is the sweep's (``notifications.sweep``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.errors import InvalidRequestError, NotFoundError
from escrowd.notifications.domain import NotificationType
from escrowd.notifications.models import Notification, NotificationPreference

_TYPES = frozenset(t.value for t in NotificationType)


def list_query(*, user_id: str, unread: bool | None = None) -> Select[Notification]:
    """The user's notifications (``unread``: only unread, or only read); hand it to paginate."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    return stmt


async def unread_count(session: AsyncSession, *, user_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, *, clock: Clock, user_id: str, notification_id: str
) -> Notification:
    """Mark one of the user's notifications read (again: a no-op, the first time is kept)."""
    row = await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )
    if row is None:
        raise NotFoundError(f"No such notification: '{notification_id}'.", param="id")
    if row.read_at is None:
        row.read_at = clock.now()
        await session.flush()
    return row


async def mark_all_read(session: AsyncSession, *, clock: Clock, user_id: str) -> int:
    """Mark every unread notification of the user read; how many were unread."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .returning(Notification.id)
    )
    return len(result.all())


async def email_preferences(session: AsyncSession, *, user_id: str) -> dict[str, bool]:
    """Email on or off for every notification type (on unless the user turned it off)."""
    rows = await session.execute(
        select(NotificationPreference.type, NotificationPreference.email).where(
            NotificationPreference.user_id == user_id
        )
    )
    chosen = {r.type: r.email for r in rows.all()}
    return {t.value: chosen.get(t.value, True) for t in NotificationType}


async def set_email_preferences(
    session: AsyncSession, *, clock: Clock, user_id: str, email: Mapping[str, bool]
) -> dict[str, bool]:
    """Turn email on or off per type; types not named keep their setting. Unknown types are
    refused before anything is written."""
    unknown = sorted(set(email) - _TYPES)
    if unknown:
        raise InvalidRequestError(
            f"Unknown notification type '{unknown[0]}'. Known types: {', '.join(sorted(_TYPES))}.",
            code="notification_type_unknown",
            param=f"email[{unknown[0]}]",
        )
    if email:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(NotificationPreference).values(
            [
                {"user_id": user_id, "type": t, "email": on, "updated_at": clock.now()}
                for t, on in sorted(email.items())
            ]
        )
        # An upsert: two requests setting the same type at once both succeed, the later wins.
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[NotificationPreference.user_id, NotificationPreference.type],
                set_={"email": stmt.excluded.email, "updated_at": stmt.excluded.updated_at},
            )
        )
    return await email_preferences(session, user_id=user_id)
