"""``GET /v1/events/stream``: Server-Sent Events with the visibility of ``GET /v1/events``.

The ASGI test transport hands back a streamed body once it ends, so each stream here is
bounded by ``seconds``; ``Last-Event-ID`` anchors what it must contain, not the clock. Streams
read frame by frame while open, from real server processes (two on one PostgreSQL database
among them), are in test_servers.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.events import stream
from escrowd.events.domain import EventType
from tests.events.conftest import emit, escrow_id
from tests.integration.conftest import assert_error, make_user

URL = "/v1/events/stream"


def _frames(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "data" in fields:
            event = json.loads(fields["data"])
            assert fields["id"] == event["id"]
            assert fields["event"] == event["type"]
            out.append(event)
    return out


async def _read(
    client: httpx.AsyncClient, headers: dict[str, str], *, last: str | None = None, **params: Any
) -> httpx.Response:
    if last is not None:
        headers = {**headers, "Last-Event-ID": last}
    r = await client.get(URL, params={"seconds": 1, **params}, headers=headers)
    return r


async def test_the_owner_receives_an_escrows_events_as_they_are_recorded(
    client: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container)
    esc = escrow_id()
    anchor = await emit(container, EventType.escrow_created, esc, audience=[payer.id])
    reading = asyncio.create_task(
        _read(client, payer.headers, last=anchor.id, object_id=esc, seconds=4)
    )
    await asyncio.sleep(0.3)
    funded = await emit(container, EventType.escrow_funded, esc, audience=[payer.id])
    r = await reading
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    assert [e["id"] for e in _frames(r.text)] == [funded.id]
    assert _frames(r.text)[0]["data"]["object"]["id"] == esc


async def test_last_event_id_resumes_after_that_event(
    client: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container)
    esc = escrow_id()
    first = await emit(container, EventType.escrow_created, esc, audience=[payer.id])
    second = await emit(container, EventType.escrow_funded, esc, audience=[payer.id])
    third = await emit(container, EventType.escrow_released, esc, audience=[payer.id])
    r = await _read(client, payer.headers, last=first.id)
    assert [e["id"] for e in _frames(r.text)] == [second.id, third.id]
    # Without Last-Event-ID a stream starts from now: nothing already recorded is replayed.
    r = await _read(client, payer.headers, object_id=esc)
    assert _frames(r.text) == []


async def test_a_stranger_cannot_watch_or_overhear_another_partys_escrow(
    client: httpx.AsyncClient, container: Container
) -> None:
    payer, stranger = await make_user(container), await make_user(container, role="worker")
    esc = escrow_id()
    first = await emit(container, EventType.escrow_created, esc, audience=[payer.id])
    second = await emit(container, EventType.escrow_funded, esc, audience=[payer.id])

    r = await _read(client, stranger.headers, object_id=esc)
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="object_id")
    r = await _read(client, stranger.headers, last="evt_0")
    assert r.status_code == 200, r.text
    for private in (esc, first.id, second.id):
        assert private not in r.text
    # The owner's same unfiltered stream does carry them: the filter is what hid them.
    r = await _read(client, payer.headers, last="evt_0")
    assert [e["id"] for e in _frames(r.text)] == [first.id, second.id]


async def test_an_anonymous_caller_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.get(URL, params={"seconds": 1})
    assert r.status_code == 401, r.text


async def test_an_idle_stream_sends_heartbeats(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.0)
    user = await make_user(container)
    r = await _read(client, user.headers)
    assert r.status_code == 200
    assert ": heartbeat\n\n" in r.text
    assert _frames(r.text) == []
