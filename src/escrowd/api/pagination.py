"""Cursor pagination, Stripe's way: ``limit``, ``starting_after``, ``ending_before``.

Lists are newest first. Ids end in a ULID, so ordering by id is ordering by creation;
a cursor is just the id of the last (or first) object the client saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    starting_after: Annotated[
        str | None,
        Query(max_length=128, description="Only objects older than this id (the next page)."),
    ] = None,
    ending_before: Annotated[
        str | None,
        Query(
            max_length=128,
            description="Only objects newer than this id (the previous page). With "
            "starting_after as well: the objects between the two, newest first.",
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit, starting_after, ending_before)


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_more: bool


async def paginate(
    session: AsyncSession,
    stmt: Select[T],
    id_column: InstrumentedAttribute[str],
    params: PageParams,
) -> Page[T]:
    """Run ``stmt`` (already filtered to what the caller may see) one page at a time."""
    if params.ending_before and params.starting_after:
        # Both cursors: the window between them, read like a next page from starting_after.
        stmt = stmt.where(id_column > params.ending_before)
    elif params.ending_before:
        q = stmt.where(id_column > params.ending_before).order_by(id_column.asc())
        rows = list((await session.scalars(q.limit(params.limit + 1))).all())
        has_more = len(rows) > params.limit
        return Page(list(reversed(rows[: params.limit])), has_more)
    q = stmt
    if params.starting_after:
        q = q.where(id_column < params.starting_after)
    rows = list((await session.scalars(q.order_by(id_column.desc()).limit(params.limit + 1))).all())
    return Page(rows[: params.limit], len(rows) > params.limit)
