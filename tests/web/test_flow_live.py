"""Live status on the flows' pages, without a browser: a job's, gig's and task's page and the
bookings list wrap their status in ``#live`` following the event stream (app.js reads the
page again on each event), but only a stream the viewer may watch -- one the stream would
answer 404 is left off, so a browser does not retry it forever. Both databases."""

from __future__ import annotations

import re

import httpx

from tests.escrows.conftest import Ctx, verified_payee
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import make_user
from tests.web.test_auction_pages import as_
from tests.web.test_flow_pages import api, hire_gig


def live_of(page: httpx.Response) -> tuple[str | None, str]:
    """The ``#live`` section's stream URL (None without one) and its inner HTML."""
    assert page.status_code == 200, page.text
    found = re.search(r'<section id="live"([^>]*)>(.*?)</section>', page.text, re.S)
    assert found, f"no #live in:\n{page.text}"
    stream = re.search(r'data-stream="([^"]*)"', found[1])
    if stream is not None:
        assert 'data-types="' in found[1]
        assert "escrow.created" in found[1]
    return (stream[1].replace("&amp;", "&") if stream else None), found[2]


async def test_the_flows_pages_follow_their_escrows_stream_when_the_viewer_may(ctx: Ctx) -> None:
    client_ = await make_user(ctx.container, role="client")
    expert = await verified_payee(ctx)
    gig = await api(ctx, client_, "POST", "/v1/gigs", hire_gig(expert.id, "Build the site"))
    stream, inner = live_of(await (await as_(ctx, client_)).get(f"/app/gigs/{gig['id']}"))
    assert stream == f"/v1/events/stream?object_id={gig['escrow']}&seconds=3600"
    assert 'data-testid="gig-status"' in inner  # the status is in the part swapped live
    stream, _ = live_of(await (await as_(ctx, expert)).get(f"/app/gigs/{gig['id']}"))
    assert stream == f"/v1/events/stream?object_id={gig['escrow']}&seconds=3600"

    job = await api(
        ctx, client_, "POST", "/v1/jobs",
        {"title": "Test our checkout", "currency": "usd", "budget_per_tester": 10_000,
         "max_testers": 2},
    )  # fmt: skip
    draft_stream, _ = live_of(await (await as_(ctx, client_)).get(f"/app/jobs/{job['id']}"))
    assert draft_stream is None  # no escrow yet
    job = await api(
        ctx, client_, "POST", f"/v1/jobs/{job['id']}/publish", {"payment_method": "pm_card_visa"}
    )
    web = await as_(ctx, client_)
    stream, inner = live_of(await web.get(f"/app/jobs/{job['id']}"))
    assert stream == f"/v1/events/stream?object_id={job['escrow']}&seconds=3600"
    assert 'data-testid="job-status"' in inner
    assert 'data-testid="slot-status-' in inner
    # The stream the page names answers the page's own session (cookie), not 404.
    async with web.stream("GET", stream.replace("seconds=3600", "seconds=1")) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
    # A tester who sees the open job but no event of its escrow gets no stream to retry.
    stranger = await verified_payee(ctx)
    web = await as_(ctx, stranger)
    stream, inner = live_of(await web.get(f"/app/jobs/{job['id']}"))
    assert stream is None
    assert 'data-testid="job-status"' in inner
    refused = await web.get(f"/v1/events/stream?object_id={job['escrow']}&seconds=1")
    assert refused.status_code == 404

    task = await api(
        ctx, client_, "POST", "/v1/tasks", {"title": "Assemble a wardrobe", "currency": "usd"}
    )
    stream, inner = live_of(await (await as_(ctx, client_)).get(f"/app/tasks/{task['id']}"))
    assert stream is None  # open, no accepted bid: no escrow to follow
    assert 'data-testid="task-status"' in inner


async def test_the_bookings_list_follows_the_viewers_events(ctx: Ctx) -> None:
    client_ = await make_user(ctx.container, role="client")
    web = await as_(ctx, client_)
    stream, _ = live_of(await web.get("/app/bookings"))
    assert stream is None  # nothing listed, nothing to follow
    worker = await verified_payee(ctx)
    job = await api(
        ctx, client_, "POST", "/v1/bookings/jobs",
        {"title": "Paint the fence", "currency": "usd", "budget": 20_000},
    )  # fmt: skip
    application = await api(ctx, worker, "POST", f"/v1/bookings/jobs/{job['id']}/applications")
    booking = await api(ctx, client_, "POST", "/v1/bookings", {"application": application["id"]})
    stream, inner = live_of(await web.get("/app/bookings"))
    assert stream == "/v1/events/stream?seconds=3600"
    assert f'data-testid="booking-payment-{booking["id"]}"' in inner
