"""A rate limiter shared through the database, so that every server process counts the same
attempts (docs/api.md, *Rate limits*).

Each limited action keeps one row per key (``jobs.publish:usr_…``) holding the times of the
attempts inside the window, newest last: a sliding log. An attempt locks the row (``SELECT …
FOR UPDATE`` on PostgreSQL; SQLite serializes writers), drops the times that left the window,
and is refused with 429 ``rate_limit_error`` and a ``Retry-After`` header when the window is
full, else recorded. The attempt is committed on its own, before the action runs: an action
that then fails still counts, as the limit is on attempts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.clock import Clock
from escrowd.db.base import Base, UTCDateTime
from escrowd.db.session import Database
from escrowd.errors import RateLimitError


class RateLimitBucket(Base):
    __tablename__ = "rate_limit_buckets"

    #: The action and who does it: ``jobs.publish:usr_…``.
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: The attempts inside the window, as a JSON list of unix milliseconds, oldest first.
    hits: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` attempts per ``window`` for one key."""

    name: str
    count: int
    window: timedelta

    def describe(self) -> str:
        seconds = int(self.window.total_seconds())
        per = "minute" if seconds == 60 else f"{seconds} seconds"
        return f"{self.count} per {per}"


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def admit(hits: list[int], *, now_ms: int, limit: Limit) -> tuple[list[int], int | None]:
    """The log after one attempt at ``now_ms``, and None if admitted, else the seconds until
    the oldest attempt leaves the window (the Retry-After, at least 1)."""
    window_ms = int(limit.window.total_seconds() * 1000)
    live = [h for h in hits if h > now_ms - window_ms]
    if len(live) >= limit.count:
        wait_ms = live[0] + window_ms - now_ms
        return live, max(1, math.ceil(wait_ms / 1000))
    return [*live, now_ms], None


async def hit(db: Database, *, clock: Clock, limit: Limit, who: str) -> None:
    """Count one attempt of ``who`` at ``limit``'s action, or raise 429 (nothing counted)."""
    key = f"{limit.name}:{who}"
    now = clock.now()
    retry_after: int | None = None
    async with db.transaction() as s:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        await s.execute(
            insert(RateLimitBucket)
            .values(key=key, hits="[]", updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        bucket = (
            await s.scalars(
                select(RateLimitBucket).where(RateLimitBucket.key == key).with_for_update()
            )
        ).one()
        hits, retry_after = admit(json.loads(bucket.hits), now_ms=_ms(now), limit=limit)
        bucket.hits = json.dumps(hits)
        bucket.updated_at = now
    if retry_after is not None:
        raise RateLimitError(
            f"Too many requests: {limit.describe()} allowed for this action. "
            f"Try again in {retry_after} seconds.",
            code="rate_limited",
            headers={"Retry-After": str(retry_after)},
        )
