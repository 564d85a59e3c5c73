"""The two shapes most read routes share: a page of a list, and one object or a 404.

A list route hands its query (already filtered to what the caller may see) and how to show
one row; ``page_of`` paginates it (``api.pagination``) and wraps the page in the list envelope
``{"object": "list", "url", "has_more", "data"}``. Routes that show a row with data loaded for
the whole page at once (an incident's job, a member's user) pass ``render`` instead, so the
page costs one extra query, not one per row. ``page_json`` is the same for routes that answer
with pre-built JSON (``JSONResponse``) rather than a response model.

``list_route`` and ``retrieve_route`` are the options of the two routes' decorators
(``@router.get(path, **list_route(summary, Model))``): the response model and the errors
every such route answers with (a list: 400 for a bad cursor or filter, 401; one object: 401,
404), plus any a route adds (403 where only admins may read, 404 for a list under a parent).
``write_route`` is the same for a route that changes something, and ``money_route`` for a
route that moves money: the errors it names (402 for a
refused card or transfer, 502 for an unknown outcome) and the ``Idempotency-Key`` it requires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from fastapi.responses import JSONResponse
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from escrowd.api.idempotency_required import RequireIdempotencyKey
from escrowd.api.pagination import PageParams, paginate
from escrowd.api.schemas import ListResponse, error_responses, list_response
from escrowd.errors import NotFoundError

Row = TypeVar("Row")
Shown = TypeVar("Shown")


async def _shown(
    session: AsyncSession,
    stmt: Select[Row],
    id_column: InstrumentedAttribute[str],
    page: PageParams,
    of: Callable[[Row], Shown] | None,
    render: Callable[[Sequence[Row]], Awaitable[list[Shown]]] | None,
) -> tuple[list[Shown], bool]:
    """One page of ``stmt``, each row shown with ``of`` or the page with ``render``, and
    whether there are more."""
    result = await paginate(session, stmt, id_column, page)
    if render is not None:
        return await render(result.items), result.has_more
    if of is not None:
        return [of(row) for row in result.items], result.has_more
    raise TypeError("a list needs `of` (one row) or `render` (the whole page)")


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
    data, has_more = await _shown(session, stmt, id_column, page, of, render)
    return ListResponse[Shown](url=url, has_more=has_more, data=data)


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
    data, has_more = await _shown(session, stmt, id_column, page, to_json, render)
    return JSONResponse(list_response(url, data, has_more))


def found(row: Row | None, error: NotFoundError) -> Row:
    """``row``, or ``error`` (a 404) when there is none."""
    if row is None:
        raise error
    return row


def list_route(summary: str, model: type[Any], *more_errors: int) -> dict[str, Any]:
    """A list route's decorator options: a page of ``model``, refusing a bad cursor or filter
    (400) and a missing credential (401), and answering ``more_errors`` too."""
    return _route(summary, cast(Any, ListResponse)[model], {400, 401, *more_errors})


def retrieve_route(summary: str, model: type[Any], *more_errors: int) -> dict[str, Any]:
    """A retrieve route's decorator options: one ``model``, or 401 and 404 (not there, or not
    the caller's to see), and ``more_errors`` too."""
    return _route(summary, model, {401, 404, *more_errors})


def write_route(summary: str, model: type[Any], *errors: int) -> dict[str, Any]:
    """A route that changes something but moves no money: one ``model`` and its ``errors``."""
    return _route(summary, model, set(errors))


def money_route(summary: str, model: type[Any], *more_errors: int) -> dict[str, Any]:
    """A money-moving route's decorator options: one ``model``, the ``Idempotency-Key`` it
    requires, 401 and 409 (a key in use, or the object's state), and ``more_errors`` too
    (400 for a bad body, 402 for a refused card or transfer, 502 for an unknown outcome)."""
    options = _route(summary, model, {401, 409, *more_errors})
    options["dependencies"] = [RequireIdempotencyKey]
    return options


def _route(summary: str, response_model: Any, errors: set[int]) -> dict[str, Any]:
    return {
        "summary": summary,
        "response_model": response_model,
        "responses": error_responses(*sorted(errors)),
    }
