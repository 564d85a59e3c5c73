"""A receiver that answers with a redirect gets no second request anywhere: the attempt fails,
saying where the redirect pointed, and is retried on the schedule.

Private addresses are allowed here (the receiver is on 127.0.0.1); that is what makes the
redirect to ``target``, another real server on 127.0.0.1, reachable if escrowd followed it —
so ``target.got`` staying empty shows it did not. Loopback is where a metadata service or an
admin port would be for a real deployment; 169.254.169.254 and 10.x cannot be observed here,
but their attempts must read the same.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.events.domain import EventType
from escrowd.outbound import sender
from tests.events.conftest import emit, escrow_id
from tests.outbound.conftest import (
    Receiver,
    ReceiverFactory,
    create_endpoint,
    deliver,
    deliveries,
    later,
)

#: Each redirect status once, each pointing somewhere a webhook must never reach.
REDIRECTS = [
    (307, "http://127.0.0.1:{port}/internal/admin"),
    (302, "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
    (301, "http://10.0.0.1/admin"),
    (308, "http://[::1]:{port}/"),
    (303, "http://localhost:{port}/internal"),
]


@pytest.mark.parametrize(("status", "where"), REDIRECTS)
async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
    make_receiver: ReceiverFactory,
    status: int,
    where: str,
) -> None:
    target = make_receiver()
    location = where.format(port=target.port)
    receiver.script = [status]
    receiver.location = location
    endpoint = await create_endpoint(client, admin_headers, receiver.url, ["escrow.funded"])
    event = await emit(container, EventType.escrow_funded, escrow_id())

    await deliver(container)

    assert [(g.method, g.path) for g in receiver.got] == [("POST", "/hooks")]
    assert target.got == []
    [delivery] = await deliveries(client, admin_headers, endpoint["id"])
    assert delivery["event"] == event.id
    assert delivery["status"] == "pending"  # retried on the schedule, like any failure
    assert delivery["last_status_code"] == status
    expected = f"redirect_not_followed: HTTP {status} to {location}"
    assert delivery["last_error"] == expected
    [attempt] = delivery["attempts"]
    assert (attempt["status_code"], attempt["error"]) == (status, expected)

    # The next attempt goes to the endpoint's own URL again, never to the Location.
    later(container, timedelta(seconds=5))
    await deliver(container)
    assert [g.method for g in receiver.got] == ["POST", "POST"]
    assert target.got == []
    [delivery] = await deliveries(client, admin_headers, endpoint["id"])
    assert delivery["status"] == "delivered"
    assert [a["error"] for a in delivery["attempts"]] == [expected, None]


async def test_a_redirect_without_a_location_is_a_failed_attempt(receiver: Receiver) -> None:
    receiver.script = [302]
    answer = await sender.post(receiver.url, body=b"{}", headers={}, allow_private=True)
    assert (answer.status_code, answer.error) == (302, "redirect_not_followed: HTTP 302")
    assert len(receiver.got) == 1


async def test_other_failures_carry_no_redirect_error(receiver: Receiver) -> None:
    receiver.script = [500, 404]
    receiver.location = "http://127.0.0.1:1/"
    for status in (500, 404):
        answer = await sender.post(receiver.url, body=b"{}", headers={}, allow_private=True)
        assert (answer.status_code, answer.error) == (status, None)
