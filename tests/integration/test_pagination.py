"""Cursor pagination on the users list: limit, starting_after, ending_before, has_more."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from escrowd.bootstrap import Container
from tests.integration.conftest import assert_error, bearer, make_user

Page = tuple[list[str], bool]


@pytest.fixture
async def key_headers(api_key: str) -> dict[str, str]:
    return bearer(api_key)


@pytest.fixture
async def five_newest(container: Container) -> list[str]:
    """The five newest users (workers), with at least one older worker behind them."""
    ids = [(await make_user(container, role="worker")).id for _ in range(6)]
    return sorted(ids, reverse=True)[:5]  # the list's order: newest (greatest ULID) first


async def _page(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Page:
    r = await client.get("/v1/users", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert body["url"] == "/v1/users"
    return [u["id"] for u in body["data"]], body["has_more"]


async def test_limit_cuts_the_newest_first_page_and_says_there_is_more(
    client: httpx.AsyncClient, key_headers: dict[str, str], five_newest: list[str]
) -> None:
    assert await _page(client, key_headers, limit=2) == (five_newest[:2], True)
    assert await _page(client, key_headers, limit=5) == (five_newest, True)


async def test_starting_after_walks_to_older_pages(
    client: httpx.AsyncClient, key_headers: dict[str, str], five_newest: list[str]
) -> None:
    page = await _page(client, key_headers, limit=2, starting_after=five_newest[1])
    assert page == (five_newest[2:4], True)
    page = await _page(client, key_headers, limit=2, starting_after=five_newest[3])
    ids, _ = page
    assert ids[0] == five_newest[4]


async def test_ending_before_walks_back_to_newer_pages(
    client: httpx.AsyncClient, key_headers: dict[str, str], five_newest: list[str]
) -> None:
    assert await _page(client, key_headers, limit=2, ending_before=five_newest[4]) == (
        five_newest[2:4],
        True,
    )
    # Nothing is newer than the two newest: the first page, and no more before it.
    assert await _page(client, key_headers, limit=2, ending_before=five_newest[2]) == (
        five_newest[:2],
        False,
    )


async def test_the_last_page_says_there_is_no_more(
    client: httpx.AsyncClient, key_headers: dict[str, str], five_newest: list[str]
) -> None:
    ids, has_more = await _page(client, key_headers, limit=100, role="worker")
    while has_more:
        ids, has_more = await _page(
            client, key_headers, limit=100, role="worker", starting_after=ids[-1]
        )
    assert has_more is False
    assert len(ids) <= 100


async def test_a_filter_and_a_cursor_combine(
    client: httpx.AsyncClient, key_headers: dict[str, str], five_newest: list[str]
) -> None:
    ids, _ = await _page(client, key_headers, limit=3, role="worker")
    assert ids == five_newest[:3]
    ids, _ = await _page(client, key_headers, limit=3, role="client", ending_before=five_newest[0])
    assert ids == []


async def test_the_default_limit_is_ten(
    client: httpx.AsyncClient, key_headers: dict[str, str], container: Container
) -> None:
    for _ in range(11):
        await make_user(container)
    ids, has_more = await _page(client, key_headers)
    assert len(ids) == 10
    assert has_more is True


async def test_both_cursors_give_the_objects_between_them_newest_first(
    client: httpx.AsyncClient, key_headers: dict[str, str], five_newest: list[str]
) -> None:
    between = await _page(
        client, key_headers, starting_after=five_newest[0], ending_before=five_newest[4]
    )
    assert between == (five_newest[1:4], False)
    first_two = await _page(
        client, key_headers, starting_after=five_newest[0], ending_before=five_newest[4], limit=2
    )
    assert first_two == (five_newest[1:3], True)
    assert await _page(
        client, key_headers, starting_after=five_newest[1], ending_before=five_newest[2]
    ) == ([], False)


@pytest.mark.parametrize("limit", ["101", "0", "-1", "ten"])
async def test_a_limit_outside_1_to_100_is_refused(
    client: httpx.AsyncClient, key_headers: dict[str, str], limit: str
) -> None:
    r = await client.get("/v1/users", params={"limit": limit}, headers=key_headers)
    assert_error(r, 400, "invalid_request_error", "parameter_invalid", param="limit")
