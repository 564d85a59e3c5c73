"""Events reach a real receiver on 127.0.0.1, signed, retried on schedule, at most once each."""

from __future__ import annotations

import base64
from datetime import timedelta
from itertools import pairwise

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.events.domain import EventType
from tests.events.conftest import emit, escrow_id
from tests.integration.conftest import count_rows
from tests.outbound.conftest import (
    Receiver,
    create_endpoint,
    deliver,
    deliveries,
    later,
    verify,
)

#: The waits between attempts the docs promise (written out, not read from escrowd).
WAITS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *[timedelta(hours=10)] * 7,
]


async def test_the_secret_is_shown_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    made = await create_endpoint(client, admin_headers, receiver.url, ["escrow.*"])
    assert made["id"].startswith("we_")
    assert made["status"] == "enabled"
    assert made["enabled_events"] == ["escrow.*"]
    secret = made["secret"]
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64

    again = (await client.get(f"/v1/webhook_endpoints/{made['id']}", headers=admin_headers)).json()
    assert again["secret"] is None
    listed = (await client.get("/v1/webhook_endpoints", headers=admin_headers)).json()
    assert [e["secret"] for e in listed["data"] if e["id"] == made["id"]] == [None]

    rotated = (
        await client.post(
            f"/v1/webhook_endpoints/{made['id']}/rotate_secret", headers=admin_headers
        )
    ).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != secret


async def test_an_event_is_delivered_signed_once(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    endpoint = await create_endpoint(client, admin_headers, receiver.url, ["escrow.funded"])
    other = await create_endpoint(client, admin_headers, receiver.url + "/other", ["payout.*"])
    escrow = escrow_id()
    event = await emit(container, EventType.escrow_funded, escrow)
    await emit(container, EventType.escrow_released, escrow)  # not in the filter

    await deliver(container)

    assert len(receiver.got) == 1, receiver.got
    got = receiver.got[0]
    assert got.path == "/hooks"
    verify(endpoint["secret"], got, strict=True)
    with pytest.raises(Exception, match=r"[Ss]ignature"):
        verify(other["secret"], got, strict=True)
    assert got.headers["webhook-id"] == event.id
    assert got.headers["content-type"] == "application/json"
    body = got.json()
    assert body["id"] == event.id
    assert body["type"] == "escrow.funded"
    assert body["data"]["object"]["id"] == escrow

    # The sweep reads its events again (the look-back); nothing is made or sent twice.
    later(container, timedelta(seconds=30))
    await deliver(container)
    assert len(receiver.got) == 1

    log = await deliveries(client, admin_headers, endpoint["id"])
    assert len(log) == 1
    assert log[0]["event"] == event.id
    assert log[0]["status"] == "delivered"
    assert [(a["number"], a["status_code"], a["trigger"]) for a in log[0]["attempts"]] == [
        (1, 200, "schedule")
    ]
    assert log[0]["attempts"][0]["response_body"] == '{"ok": true}'
    assert await deliveries(client, admin_headers, other["id"]) == []


async def test_an_endpoint_gets_events_from_its_creation_on(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    await emit(container, EventType.escrow_created, escrow_id())
    later(container, timedelta(seconds=1))
    await create_endpoint(client, admin_headers, receiver.url)
    await deliver(container)
    assert receiver.got == []


async def test_a_failing_receiver_is_retried_on_schedule_until_it_recovers(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    endpoint = await create_endpoint(client, admin_headers, receiver.url)
    receiver.script = [500, 503]
    event = await emit(container, EventType.escrow_created, escrow_id())

    await deliver(container)
    assert len(receiver.got) == 1
    [pending] = await deliveries(client, admin_headers, endpoint["id"])
    assert pending["status"] == "pending"
    assert pending["last_status_code"] == 500
    first_try = pending["attempts"][0]["created"]
    assert pending["next_attempt"] == first_try + 5

    later(container, timedelta(seconds=4))
    await deliver(container)
    assert len(receiver.got) == 1  # not due yet
    later(container, timedelta(seconds=1))
    await deliver(container)
    assert len(receiver.got) == 2
    later(container, timedelta(minutes=5) - timedelta(seconds=1))
    await deliver(container)
    assert len(receiver.got) == 2
    later(container, timedelta(seconds=1))
    await deliver(container)
    assert len(receiver.got) == 3

    for got in receiver.got:
        verify(endpoint["secret"], got)
        assert got.headers["webhook-id"] == event.id
    [done] = await deliveries(client, admin_headers, endpoint["id"])
    assert done["status"] == "delivered"
    assert [a["status_code"] for a in done["attempts"]] == [500, 503, 200]
    times = [a["created"] for a in done["attempts"]]
    assert [b - a for a, b in pairwise(times)] == [5, 300]
    assert done["next_attempt"] is None


async def test_a_receiver_that_never_recovers_fails_after_the_last_attempt(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    endpoint = await create_endpoint(client, admin_headers, receiver.url)
    receiver.script = [500] * 20
    await emit(container, EventType.escrow_created, escrow_id())
    incidents_before = await count_rows(container, "incidents")

    await deliver(container)
    for wait in WAITS:
        later(container, wait)
        await deliver(container)

    assert len(receiver.got) == 13
    [failed] = await deliveries(client, admin_headers, endpoint["id"])
    assert failed["status"] == "failed"
    times = [a["created"] for a in failed["attempts"]]
    assert [b - a for a, b in pairwise(times)] == [int(w.total_seconds()) for w in WAITS]
    assert 2.5 * 86400 < times[-1] - times[0] < 3.5 * 86400  # retried for about three days
    later(container, timedelta(days=3))
    await deliver(container)
    assert len(receiver.got) == 13  # no more attempts

    r = await client.get(
        "/v1/incidents", params={"kind": "webhook_endpoints.deliver"}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    assert await count_rows(container, "incidents") == incidents_before + 1


async def test_410_disables_the_endpoint(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    endpoint = await create_endpoint(client, admin_headers, receiver.url)
    receiver.script = [410]
    await emit(container, EventType.escrow_created, escrow_id())
    await deliver(container)

    shown = (
        await client.get(f"/v1/webhook_endpoints/{endpoint['id']}", headers=admin_headers)
    ).json()
    assert shown["status"] == "disabled"
    assert shown["disabled_reason"] == "gone"
    [gone] = await deliveries(client, admin_headers, endpoint["id"])
    assert gone["status"] == "failed"
    assert gone["last_status_code"] == 410

    # Disabled: new events are not sent, not even later.
    await emit(container, EventType.escrow_cancelled, escrow_id())
    later(container, timedelta(hours=1))
    await deliver(container)
    assert len(receiver.got) == 1

    # Enabled again by an admin: what happens from now on is sent.
    r = await client.post(
        f"/v1/webhook_endpoints/{endpoint['id']}", json={"disabled": False}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "enabled"
    assert r.json()["disabled_reason"] is None
    later(container, timedelta(minutes=10))  # past the look-back: the old event stays unsent
    fresh = await emit(container, EventType.escrow_funded, escrow_id())
    await deliver(container)
    assert [g.headers["webhook-id"] for g in receiver.got[1:]] == [fresh.id]


async def test_an_admin_redelivers(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    endpoint = await create_endpoint(client, admin_headers, receiver.url)
    event = await emit(container, EventType.escrow_created, escrow_id())
    await deliver(container)
    [delivered] = await deliveries(client, admin_headers, endpoint["id"])

    path = f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/{delivered['id']}/retry"
    r = await client.post(path, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    await deliver(container)

    assert [g.headers["webhook-id"] for g in receiver.got] == [event.id, event.id]
    verify(endpoint["secret"], receiver.got[1])
    [again] = await deliveries(client, admin_headers, endpoint["id"])
    assert again["status"] == "delivered"
    assert [(a["number"], a["trigger"]) for a in again["attempts"]] == [
        (1, "schedule"),
        (2, "admin"),
    ]

    # A failed redelivery is one attempt: no schedule follows it.
    receiver.script = [500]
    assert (await client.post(path, headers=admin_headers)).status_code == 200
    await deliver(container)
    later(container, timedelta(days=2))
    await deliver(container)
    [once] = await deliveries(client, admin_headers, endpoint["id"])
    assert once["status"] == "failed"
    assert len(once["attempts"]) == 3
    assert len(receiver.got) == 3

    # Not to a disabled endpoint.
    await client.post(
        f"/v1/webhook_endpoints/{endpoint['id']}", json={"disabled": True}, headers=admin_headers
    )
    r = await client.post(path, headers=admin_headers)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "endpoint_disabled"


async def test_a_redelivery_during_the_schedule_keeps_the_schedule(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    endpoint = await create_endpoint(client, admin_headers, receiver.url)
    receiver.script = [500, 500, 500]
    await emit(container, EventType.escrow_created, escrow_id())
    await deliver(container)
    [pending] = await deliveries(client, admin_headers, endpoint["id"])
    path = f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/{pending['id']}/retry"
    assert (await client.post(path, headers=admin_headers)).status_code == 200
    await deliver(container)  # the admin's attempt (500) runs now, not in 5 s
    assert len(receiver.got) == 2
    later(container, timedelta(seconds=5))
    await deliver(container)  # the scheduled attempt 2 was taken by the admin's: nothing
    assert len(receiver.got) == 2
    later(container, timedelta(minutes=5))
    await deliver(container)  # attempt 3, on the schedule
    assert len(receiver.got) == 3
    [log] = await deliveries(client, admin_headers, endpoint["id"])
    assert [a["trigger"] for a in log["attempts"]] == ["schedule", "admin", "schedule"]
    assert log["status"] == "pending"


async def test_an_event_committed_after_the_sweep_read_past_it_is_still_sent(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    """An event is dated when written, but committed with its transaction: one dated before
    the sweep's read position can appear after the sweep ran."""
    first = await create_endpoint(client, admin_headers, receiver.url)
    second = await create_endpoint(client, admin_headers, receiver.url + "/second")
    await deliver(container)
    later(container, timedelta(minutes=2))
    await deliver(container)  # the read position is now two minutes on

    later(container, -timedelta(minutes=1))
    late = await emit(container, EventType.escrow_created, escrow_id())  # dated a minute ago
    later(container, timedelta(minutes=1))
    await deliver(container)
    await deliver(container)

    assert sorted(g.path for g in receiver.got) == ["/hooks", "/hooks/second"]
    assert {g.headers["webhook-id"] for g in receiver.got} == {late.id}
    for endpoint in (first, second):
        [one] = await deliveries(client, admin_headers, endpoint["id"])
        assert one["event"] == late.id
        assert one["status"] == "delivered"
