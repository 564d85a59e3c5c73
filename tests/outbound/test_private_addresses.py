"""Without ESCROWD_WEBHOOKS_ALLOW_PRIVATE, nothing is delivered to loopback, private or
link-local addresses: IPs are refused at create, names when escrowd connects."""

from __future__ import annotations

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.events.domain import EventType
from escrowd.outbound import sender
from tests.events.conftest import emit, escrow_id
from tests.integration.conftest import assert_error, count_rows
from tests.outbound.conftest import Receiver, create_endpoint, deliver, deliveries


@pytest.fixture
def allow_private() -> bool:
    return False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "http://172.16.5.4/hooks",
        "http://172.31.255.254/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://[::1]:9000/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
async def test_a_private_ip_in_the_url_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, container: Container, admin_headers: dict[str, str], url: str
) -> None:
    before = await count_rows(container, "webhook_endpoints")
    r = await client.post(
        "/v1/webhook_endpoints", json={"url": url, "enabled_events": ["*"]}, headers=admin_headers
    )
    assert_error(r, 400, "invalid_request_error", "url_not_allowed", param="url")
    assert await count_rows(container, "webhook_endpoints") == before


async def test_a_name_that_resolves_to_loopback_gets_nothing(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    # `localhost` is a name: accepted at create, refused when escrowd connects.
    endpoint = await create_endpoint(
        client, admin_headers, f"http://localhost:{receiver.port}/hooks"
    )
    await emit(container, EventType.escrow_created, escrow_id())
    await deliver(container)

    assert receiver.got == []
    [refused] = await deliveries(client, admin_headers, endpoint["id"])
    assert refused["status"] == "pending"  # retried on the schedule like any failure
    [attempt] = refused["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("address_not_allowed: localhost resolves to 127.0.0.1")


async def test_every_address_a_name_resolves_to_is_checked() -> None:
    async def private(host: str, port: int) -> list[str]:
        return ["10.0.0.7", "192.168.1.1"]

    refused = await sender.post(
        "https://internal.test/hooks", body=b"{}", headers={}, allow_private=False, resolver=private
    )
    assert refused.error is not None
    assert "10.0.0.7 is a private address" in refused.error
    assert "192.168.1.1 is a private address" in refused.error


async def test_the_request_goes_to_the_resolved_address_with_the_name_as_host(
    receiver: Receiver,
) -> None:
    """``market.test`` resolves nowhere but through this resolver, and only once: the request
    reaching the receiver proves escrowd connected to the address it resolved (and checked),
    not to whatever a second lookup by the HTTP client would give (DNS rebinding)."""
    asked: list[str] = []

    async def to_loopback(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    answer = await sender.post(
        f"http://market.test:{receiver.port}/hooks?x=1",
        body=b'{"a":1}',
        headers={"webhook-id": "evt_1"},
        allow_private=True,
        resolver=to_loopback,
    )
    assert answer.status_code == 200, answer
    assert asked == ["market.test"]
    [got] = receiver.got
    assert got.headers["host"] == f"market.test:{receiver.port}"
    assert got.path == "/hooks?x=1"
    assert got.body == b'{"a":1}'
    assert got.headers["webhook-id"] == "evt_1"
