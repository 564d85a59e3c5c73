"""``GET /v1/events/stream`` against real ``escrowd serve`` processes, read while it is open.

Events are caused through the API of a server (an escrow created), not written by the test,
and each stream is read frame by frame as the server writes it: a test leaves its streams
(600 s long) while they are still open. With two processes on one PostgreSQL database, an
event caused through either reaches a subscriber of either: the stream polls the database,
not its own process's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from escrowd.bootstrap import Container
from tests.integration.conftest import Account, make_api_key, make_user
from tests.live.conftest import PATIENCE, ServerFactory, Subscription, real_container


@pytest.fixture
async def live_container(fresh_db_url: str) -> AsyncIterator[Container]:
    c = real_container(fresh_db_url)
    try:
        yield c
    finally:
        await c.close()


async def _create_escrow(
    http: httpx.AsyncClient, base: str, payer: Account, payee: Account | None
) -> dict[str, Any]:
    body = {
        "currency": "usd",
        "amount": 2500,
        "allocations": [{"payee": payee.id if payee else None, "amount": 2500}],
    }
    r = await http.post(f"{base}/v1/escrows", json=body, headers=payer.headers)
    assert r.status_code == 200, r.text
    escrow: dict[str, Any] = r.json()
    return escrow


def _objects(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["data"]["object"]["id"]) for e in events]


async def _private_never_shown(
    http: httpx.AsyncClient, base: str, stranger: Account, overheard: Subscription, *hidden: str
) -> None:
    """The stranger's own escrow comes through their stream; nothing before it (the other
    parties' events were recorded earlier, and a stream sends in id order) names ``hidden``."""
    own = await _create_escrow(http, base, stranger, None)
    got = await overheard.events_until_object(own["id"])
    assert _objects(got) == [("escrow.created", own["id"])]
    for event in got:
        for secret in hidden:
            assert secret not in str(event)


async def test_a_subscriber_gets_events_as_they_happen_and_never_another_partys(
    servers: ServerFactory, fresh_db_url: str, live_container: Container
) -> None:
    (server,) = servers(fresh_db_url, 1)
    payer = await make_user(live_container)
    payee = await make_user(live_container, role="worker")
    stranger = await make_user(live_container)
    async with (
        httpx.AsyncClient(timeout=PATIENCE) as http,
        Subscription.open(http, server.base, payer.headers) as payers,
        Subscription.open(http, server.base, stranger.headers) as strangers,
    ):
        first = await _create_escrow(http, server.base, payer, payee)
        # Read before anything else happens: the frame came while the stream is open.
        assert _objects([await payers.next_event()]) == [("escrow.created", first["id"])]
        second = await _create_escrow(http, server.base, payer, payee)
        assert _objects([await payers.next_event()]) == [("escrow.created", second["id"])]
        await _private_never_shown(
            http, server.base, stranger, strangers, first["id"], second["id"]
        )

        # A watcher of one object receives that object's events only.
        async with Subscription.open(
            http, server.base, payee.headers, object_id=first["id"]
        ) as watching:
            cancelled = await http.post(
                f"{server.base}/v1/escrows/{second['id']}/cancel", headers=payer.headers
            )
            assert cancelled.status_code == 200, cancelled.text
            cancelled = await http.post(
                f"{server.base}/v1/escrows/{first['id']}/cancel", headers=payer.headers
            )
            assert cancelled.status_code == 200, cancelled.text
            assert _objects([await watching.next_event()]) == [("escrow.cancelled", first["id"])]


async def test_everyone_watching_an_escrow_sees_payment_required_failed_and_completed(
    servers: ServerFactory, fresh_db_url: str, live_container: Container
) -> None:
    """Seed 004: "payment required / completed / failed" pushed to everyone watching the
    object — here the payer, the payee and an admin (an API key), each on its own stream."""
    (server,) = servers(fresh_db_url, 1)
    payer = await make_user(live_container)
    payee = await make_user(live_container, role="worker")
    stranger = await make_user(live_container)
    _, secret = await make_api_key(live_container)
    admin = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(timeout=PATIENCE) as http:
        escrow = await _create_escrow(http, server.base, payer, payee)
        url = f"{server.base}/v1/escrows/{escrow['id']}/fund"
        r = await http.get(
            f"{server.base}/v1/events/stream",
            params={"object_id": escrow["id"], "seconds": 1},
            headers=stranger.headers,
        )
        assert r.status_code == 404, r.text
        # `Last-Event-ID: evt_0`: a page opened after the escrow was made catches up first.
        since = {"Last-Event-ID": "evt_0"}
        async with (
            Subscription.open(
                http, server.base, {**payer.headers, **since}, object_id=escrow["id"]
            ) as s1,
            Subscription.open(
                http, server.base, {**payee.headers, **since}, object_id=escrow["id"]
            ) as s2,
            Subscription.open(http, server.base, {**admin, **since}, object_id=escrow["id"]) as s3,
        ):
            for watcher in (s1, s2, s3):
                assert (await watcher.next_event())["type"] == "escrow.created"  # required
            declined = await http.post(
                url,
                json={"payment_method": "pm_card_chargeDeclined"},
                headers={**payer.headers, "Idempotency-Key": f"decline-{escrow['id']}"},
            )
            assert declined.status_code == 402, declined.text
            for watcher in (s1, s2, s3):
                failed = await watcher.next_event()
                assert (failed["type"], failed["data"]["object"]["id"]) == (
                    "payment.failed",
                    escrow["id"],
                )
            paid = await http.post(
                url,
                json={"payment_method": "pm_card_visa"},
                headers={**payer.headers, "Idempotency-Key": f"pay-{escrow['id']}"},
            )
            assert paid.status_code == 200, paid.text
            for watcher in (s1, s2, s3):
                got = await watcher.events_until_type("escrow.funded")
                assert got[-1]["data"]["object"]["status"] == "held"
                assert {e["data"]["object"]["id"] for e in got} == {escrow["id"]}


@pytest.fixture
async def pg_container(postgres_url: str) -> AsyncIterator[Container]:
    c = real_container(postgres_url)
    try:
        yield c
    finally:
        await c.close()


@pytest.mark.postgres_only  # also implied by `postgres_url`: skipped unless PostgreSQL runs
async def test_two_server_processes_push_each_others_events_to_their_subscribers(
    servers: ServerFactory, postgres_url: str, pg_container: Container
) -> None:
    a, b = servers(postgres_url, 2)
    payer = await make_user(pg_container)
    payee = await make_user(pg_container, role="worker")
    stranger = await make_user(pg_container)
    async with (
        httpx.AsyncClient(timeout=PATIENCE) as http,
        Subscription.open(http, a.base, payer.headers) as on_a,
        Subscription.open(http, b.base, payee.headers) as on_b,
        Subscription.open(http, b.base, stranger.headers) as strangers,
    ):
        through_b = await _create_escrow(http, b.base, payer, payee)
        through_a = await _create_escrow(http, a.base, payer, payee)
        expected = [("escrow.created", through_b["id"]), ("escrow.created", through_a["id"])]
        for subscriber in (on_a, on_b):
            got = [await subscriber.next_event(), await subscriber.next_event()]
            assert sorted(_objects(got)) == sorted(expected)
        await _private_never_shown(http, a.base, stranger, strangers, *(i for _, i in expected))
