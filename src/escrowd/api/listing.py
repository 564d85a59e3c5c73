"""The two shapes most read routes share: a page of a list, and one object or a 404.

A list route hands its query (already filtered to what the caller may see) and how to show
one row; ``page_of`` paginates it (``api.pagination``) and wraps the page in the list envelope
``{"object": "list", "url", "has_more", "data"}``. Routes that show a row with data loaded for
the whole page at once (an incident's job, a member's user) pass ``render`` instead, so the
page costs one extra query, not one per row. ``page_json`` is the same for routes that answer
with pre-built JSON (``JSONResponse``) rather than a response model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi.responses import JSONResponse
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from escrowd.api.pagination import PageParams, paginate
from escrowd.api.schemas import ListResponse, list_response
from escrowd.errors import NotFoundError

Row = TypeVar("Row")
Shown = TypeVar("Shown")


async def page_of(
    session: AsyncSession,
    stmt: Select[Row],
    id_column: InstrumentedAttribute[str],
    page: PageParams,
    *,
    url: str,
    of: Callable[[Row], Shown] | None = None,
    render: Callable[[Sequence[Row]], Awaitable[list[Shown]]] | None = None,
) -> ListResponse[Shown]:
    """One page of ``stmt`` as a list: each row shown with ``of``, or the page with ``render``."""
    result = await paginate(session, stmt, id_column, page)
    if render is not None:
        data = await render(result.items)
    elif of is not None:
        data = [of(row) for row in result.items]
    else:
        raise TypeError("page_of needs `of` (one row) or `render` (the whole page)")
    return ListResponse[Shown](url=url, has_more=result.has_more, data=data)


async def page_json(
    session: AsyncSession,
    stmt: Select[Row],
    id_column: InstrumentedAttribute[str],
    page: PageParams,
    *,
    url: str,
    to_json: Callable[[Row], dict[str, Any]] | None = None,
    render: Callable[[Sequence[Row]], Awaitable[list[dict[str, Any]]]] | None = None,
) -> JSONResponse:
    """``page_of`` for routes that build each object's JSON themselves (``to_json`` one row,
    or ``render`` the whole page)."""
    result = await paginate(session, stmt, id_column, page)
    if render is not None:
        data = await render(result.items)
    elif to_json is not None:
        data = [to_json(row) for row in result.items]
    else:
        raise TypeError("page_json needs `to_json` (one row) or `render` (the whole page)")
    return JSONResponse(list_response(url, data, result.has_more))


def found(row: Row | None, error: NotFoundError) -> Row:
    """``row``, or ``error`` (a 404) when there is none."""
    if row is None:
        raise error
    return row
