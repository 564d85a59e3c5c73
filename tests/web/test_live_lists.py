"""List pages follow every event the viewer may see: each names the stream on its ``#live``
part (app.js fetches the page again on each event and swaps that part in), and the stream
answers that viewer with the page's session cookie."""

from __future__ import annotations

import html
import re
from typing import Literal

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.web.routes import ALL_EVENTS
from tests.integration.conftest import make_user
from tests.web.test_pages import sign_in

Role = Literal["client", "worker", "admin"]
LISTS: list[tuple[Role, str]] = [
    ("client", "/app/escrows"),
    ("client", "/app/jobs"),
    ("client", "/app/gigs"),
    ("client", "/app/tasks"),
    ("client", "/app/auctions"),
    ("worker", "/app/balance"),
    ("worker", "/app/payout-settings"),
    ("admin", "/app/admin/escrows"),
    ("admin", "/app/admin/payouts"),
    ("admin", "/app/admin/disputes"),
]


@pytest.mark.parametrize(("role", "path"), LISTS)
async def test_a_list_page_follows_the_viewers_event_stream(
    web: httpx.AsyncClient, container: Container, role: Role, path: str
) -> None:
    await sign_in(web, await make_user(container, role=role))
    page = await web.get(path)
    assert page.status_code == 200, page.text
    live = re.search(r'<section id="live" data-stream="([^"]+)" data-types="([^"]+)"', page.text)
    assert live is not None, page.text
    assert html.unescape(live.group(1)) == ALL_EVENTS
    assert "escrow.funded" in live.group(2).split()
    stream = await web.get(ALL_EVENTS.replace("seconds=3600", "seconds=1"))
    assert stream.status_code == 200, stream.text


async def test_the_balance_pages_payout_history_is_a_live_part_too(
    web: httpx.AsyncClient, container: Container
) -> None:
    await sign_in(web, await make_user(container, role="worker"))
    page = await web.get("/app/balance")
    assert '<section id="live-history" data-live-part' in page.text
    part = page.text.split('<section id="live-history"', 1)[1].split("</section>", 1)[0]
    assert "No payouts yet." in part
    assert "Request a payout" not in part  # the form stays outside: a refresh keeps its input
