"""GET /v1/events and /v1/events/{id}: the envelope, who sees what, filters, pages, refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter

from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.principal import Principal
from escrowd.app import create_app
from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock, unix
from escrowd.events.domain import EventType
from escrowd.events.routes import router
from escrowd.events.service import record
from escrowd.ids import Prefix, new_id
from escrowd.users.organizations import service as organizations
from tests.events.conftest import emit, escrow_data, escrow_id, make_org
from tests.integration.conftest import Account, assert_error, bearer, make_api_key, make_user

URL = "/v1/events"


async def _list(
    client: httpx.AsyncClient, who: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    r = await client.get(URL, params=params, headers=who)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert body["url"] == URL
    data: list[dict[str, Any]] = body["data"]
    return data


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


async def test_an_event_looks_like_a_stripe_event(
    client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    payer = await make_user(container)
    esc = escrow_id()
    with structlog.contextvars.bound_contextvars(request_id="req_abc"):
        funded = await emit(
            container,
            EventType.escrow_funded,
            esc,
            audience=[payer.id],
            data=escrow_data(esc, "held"),
            previous_attributes={"status": "requires_payment"},
        )
    created = await emit(container, EventType.escrow_created, esc, audience=[payer.id])

    r = await client.get(f"{URL}/{funded.id}", headers=payer.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": funded.id,
        "object": "event",
        "type": "escrow.funded",
        "created": unix(clock.now()),
        "data": {
            "object": escrow_data(esc, "held"),
            "previous_attributes": {"status": "requires_payment"},
        },
        "request": {"id": "req_abc"},
    }
    r = await client.get(f"{URL}/{created.id}", headers=payer.headers)
    assert r.json()["data"] == {"object": escrow_data(esc)}  # no previous_attributes key
    assert r.json()["request"] == {"id": None}


async def test_a_payer_sees_their_escrows_events_and_another_user_does_not(
    client: httpx.AsyncClient, container: Container
) -> None:
    payer, other = await make_user(container), await make_user(container, role="worker")
    esc = escrow_id()
    first = await emit(container, EventType.escrow_created, esc, audience=[payer.id])
    second = await emit(container, EventType.escrow_funded, esc, audience=[payer.id])

    assert _ids(await _list(client, payer.headers)) == [second.id, first.id]
    assert await _list(client, other.headers) == []
    assert await _list(client, other.headers, object_id=esc) == []
    r = await client.get(f"{URL}/{first.id}", headers=other.headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")
    assert first.id in r.json()["error"]["message"]


async def test_admins_and_api_keys_see_every_event(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await make_user(container, role="admin")
    _, secret = await make_api_key(container)
    esc = escrow_id()
    event = await emit(container, EventType.escrow_created, esc, audience=[new_id(Prefix.user)])
    unaddressed = await emit(container, EventType.escrow_expired, esc)

    for headers in (admin.headers, bearer(secret)):
        assert _ids(await _list(client, headers, object_id=esc)) == [unaddressed.id, event.id]
        r = await client.get(f"{URL}/{event.id}", headers=headers)
        assert r.status_code == 200, r.text


async def test_members_of_an_organization_see_its_events_while_they_belong_to_it(
    client: httpx.AsyncClient, container: Container
) -> None:
    owner, member, outsider = [await make_user(container, role="worker") for _ in range(3)]
    org = await make_org(container, owner.id, [member.id])
    acct = new_id(Prefix.account)
    event = await emit(container, EventType.account_updated, acct, audience=[org])

    for who in (owner, member):
        assert _ids(await _list(client, who.headers)) == [event.id]
        assert (await client.get(f"{URL}/{event.id}", headers=who.headers)).status_code == 200
    assert await _list(client, outsider.headers) == []
    r = await client.get(f"{URL}/{event.id}", headers=outsider.headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing")

    async with container.db.transaction() as session:
        membership = await organizations.membership_of(session, org_id=org, user_id=member.id)
        assert membership is not None
        await organizations.remove_member(
            session, org_id=org, member_id=membership.id, actor=Principal.of_api_key("key_x")
        )
    assert await _list(client, member.headers) == []


async def test_an_event_for_a_user_and_their_organization_is_listed_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    org = await make_org(container, worker.id)
    event = await emit(
        container,
        EventType.allocation_released,
        new_id(Prefix.allocation),
        audience=[worker.id, org],
    )
    assert _ids(await _list(client, worker.headers)) == [event.id]


async def _escrow_story(container: Container, audience: list[str]) -> tuple[str, dict[str, str]]:
    """One escrow's events in the order a release-to-two-payees flow writes them."""
    esc = escrow_id()
    ids: dict[str, str] = {}
    async with container.db.transaction() as session:
        for t in (
            EventType.escrow_created,
            EventType.escrow_authorized,
            EventType.escrow_captured,
            EventType.escrow_funded,
            EventType.allocation_released,
            EventType.escrow_partially_released,
            EventType.escrow_partially_refunded,
        ):
            oid = esc if t.object_type == "escrow" else new_id(Prefix.allocation)
            data = {"id": oid, "object": t.object_type.value}
            event = await record(
                session, clock=container.clock, type=t, object_id=oid, data=data, audience=audience
            )
            ids[t.value] = event.id
    return esc, ids


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "escrow.funded"}, ["escrow.funded"]),
        ({"type": "allocation.*"}, ["allocation.released"]),
        (
            {"type": "escrow.partially_*"},
            ["escrow.partially_refunded", "escrow.partially_released"],
        ),
        (
            {"types[]": ["escrow.created", "allocation.released", "escrow.partially_*"]},
            [
                "escrow.partially_refunded",
                "escrow.partially_released",
                "allocation.released",
                "escrow.created",
            ],
        ),
        ({"type": "escrow.cancelled"}, []),
        (
            {"type": "*"},
            [
                "escrow.partially_refunded",
                "escrow.partially_released",
                "allocation.released",
                "escrow.funded",
                "escrow.captured",
                "escrow.authorized",
                "escrow.created",
            ],
        ),
    ],
)
async def test_events_filter_by_exact_type_wildcard_or_a_list_of_types(
    client: httpx.AsyncClient,
    container: Container,
    params: dict[str, Any],
    expected: list[str],
) -> None:
    payer = await make_user(container)
    _, ids = await _escrow_story(container, [payer.id])
    found = await _list(client, payer.headers, **params)
    assert [e["type"] for e in found] == expected
    assert _ids(found) == [ids[t] for t in expected]


async def test_events_filter_by_object(client: httpx.AsyncClient, container: Container) -> None:
    admin = await make_user(container, role="admin")
    payer = await make_user(container)
    esc, ids = await _escrow_story(container, [payer.id])
    await _escrow_story(container, [payer.id])
    found = await _list(client, payer.headers, object_id=esc, limit=100)
    expected = [ids[t] for t in ids if not t.startswith("allocation.")]
    assert _ids(found) == list(reversed(expected))
    assert _ids(await _list(client, admin.headers, object_id=esc, limit=100)) == _ids(found)


async def test_events_filter_by_created_time_in_unix_seconds(
    client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    payer = await make_user(container)
    esc = escrow_id()
    times, events = [], []
    for t in (EventType.escrow_created, EventType.escrow_funded, EventType.escrow_released):
        clock.advance(timedelta(seconds=10, microseconds=500_000))
        times.append(unix(clock.now()))
        events.append((await emit(container, t, esc, audience=[payer.id])).id)
    t0, t1, t2 = times
    e0, e1, e2 = events

    async def ids(**params: Any) -> list[str]:
        return _ids(await _list(client, payer.headers, **params))

    assert await ids(**{"created[gte]": t1}) == [e2, e1]
    assert await ids(**{"created[gt]": t1}) == [e2]
    assert await ids(**{"created[lte]": t1}) == [e1, e0]
    assert await ids(**{"created[lt]": t1}) == [e0]
    assert await ids(created=t1) == [e1]
    assert await ids(**{"created[gte]": t0, "created[lt]": t2}) == [e1, e0]
    assert await ids(**{"created[gte]": t2, "created[lte]": t0}) == []


async def test_events_come_newest_first_one_page_at_a_time(
    client: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container)
    esc = escrow_id()
    async with container.db.transaction() as session:
        written = [
            (
                await record(
                    session,
                    clock=container.clock,
                    type=EventType.allocation_released,
                    object_id=new_id(Prefix.allocation),
                    data={"escrow": esc},
                    audience=[payer.id],
                )
            ).id
            for _ in range(25)
        ]
    newest_first = list(reversed(written))

    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 10}
    while True:
        r = await client.get(URL, params=params, headers=payer.headers)
        body = r.json()
        pages.append(_ids(body["data"]))
        if not body["has_more"]:
            break
        params = {"limit": 10, "starting_after": pages[-1][-1]}
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == newest_first

    r = await client.get(
        URL, params={"limit": 10, "ending_before": newest_first[15]}, headers=payer.headers
    )
    assert _ids(r.json()["data"]) == newest_first[5:15]
    assert r.json()["has_more"] is True


async def test_listing_events_needs_credentials(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(URL), 401, "authentication_error", "authentication_required")
    r = await client.get(f"{URL}/{new_id(Prefix.event)}")
    assert_error(r, 401, "authentication_error", "authentication_required")


async def test_an_unknown_event_is_404_for_admins_too(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await make_user(container, role="admin")
    r = await client.get(f"{URL}/{new_id(Prefix.event)}", headers=admin.headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")
    r = await client.get(f"{URL}/evt_{'x' * 80}", headers=admin.headers)
    assert_error(r, 400, "invalid_request_error", "parameter_invalid", param="event_id")


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"type": "Escrow Funded"}, "parameter_invalid", "type"),
        ({"type": "esc*row.funded"}, "parameter_invalid", "type"),
        ({"type": "escrow.fundd"}, "event_type_unknown", "type"),
        ({"type": "nothing.*"}, "event_type_unknown", "type"),
        ({"type": "escrow." + "x" * 80}, "parameter_invalid", "type"),
        ({"types[]": ["escrow.created", "escrow.fundd"]}, "event_type_unknown", "types[]"),
        ({"types[]": ["escrow.created"] * 21}, "parameter_invalid", "types[]"),
        ({"type": "escrow.*", "types[]": ["escrow.created"]}, "parameter_conflict", "types[]"),
        ({"created[gte]": "yesterday"}, "parameter_invalid", "created[gte]"),
        ({"created[lte]": "-1"}, "parameter_invalid", "created[lte]"),
        ({"created": "1.5"}, "parameter_invalid", "created"),
        ({"created[gt]": str(10**12)}, "parameter_invalid", "created[gt]"),
        ({"object_id": "esc_" + "x" * 80}, "parameter_invalid", "object_id"),
        ({"limit": "0"}, "parameter_invalid", "limit"),
    ],
)
async def test_bad_filters_get_the_error_envelope(
    client: httpx.AsyncClient,
    container: Container,
    params: dict[str, Any],
    code: str,
    param: str,
) -> None:
    user: Account = await make_user(container)
    r = await client.get(URL, params=params, headers=user.headers)
    assert_error(r, 400, "invalid_request_error", code, param=param)


async def test_the_openapi_document_describes_the_event_object_and_filters(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    params = {p["name"] for p in spec["paths"][URL]["get"]["parameters"]}
    assert {"type", "types[]", "object_id", "created[gte]", "created[lte]", "limit"} <= params
    event = spec["components"]["schemas"]["Event"]
    assert {"id", "object", "type", "created", "data", "request"} <= set(event["properties"])


async def test_an_event_written_during_an_api_request_carries_its_request_id(
    container: Container,
) -> None:
    """Through the real middleware stack: a route (standing in for the escrows API) records."""
    esc = escrow_id()
    extra = APIRouter()

    @extra.post("/v1/test-only/escrows")
    async def create_escrow(session: SessionDep, c: ContainerDep) -> dict[str, str]:
        event = await record(
            session, clock=c.clock, type=EventType.escrow_created, object_id=esc, data={}
        )
        return {"event": event.id}

    app = create_app(container, background=False)
    app.include_router(extra)
    if not any(getattr(r, "path", None) == URL for r in app.routes):
        app.include_router(router, prefix="/v1")
    admin = await make_user(container, role="admin")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as client:
        r = await client.post(
            "/v1/test-only/escrows", headers={"Request-Id": "req_test_123", **admin.headers}
        )
        assert r.status_code == 200, r.text
        event = (await client.get(f"{URL}/{r.json()['event']}", headers=admin.headers)).json()
    assert event["request"] == {"id": "req_test_123"}
