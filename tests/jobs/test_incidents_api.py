"""Admins list, inspect, replay and dismiss incidents; nobody else may."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock, unix
from escrowd.jobs import JobContext, Registry
from tests.integration.conftest import assert_error, bearer, make_api_key, make_user
from tests.jobs.conftest import add_job, drain, incidents_of, job_row, unique_kind


async def _failed_job(
    container: Container, clock: FrozenClock, registry: Registry, kind: str, *, fixed: list[bool]
) -> str:
    """A job of ``kind`` that fails twice and becomes an incident (until ``fixed[0]``)."""

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        if not fixed[0]:
            raise ConnectionRefusedError("smtp.example.com:587 refused the connection")

    job_id = await add_job(container, kind, {"to": "ann@example.com"}, max_attempts=2)
    for _ in range(2):
        await drain(container, registry)
        clock.advance(timedelta(minutes=1))
    assert (await job_row(container, job_id)).status == "failed"
    return job_id


async def test_an_exhausted_job_is_listed_for_admins_and_replay_runs_it_again(
    container: Container, clock: FrozenClock, registry: Registry, jobs_client: httpx.AsyncClient
) -> None:
    kind = unique_kind("email")
    fixed = [False]
    job_id = await _failed_job(container, clock, registry, kind, fixed=fixed)
    admin = await make_user(container, role="admin")

    r = await jobs_client.get(
        "/v1/incidents", params={"status": "open", "kind": kind}, headers=bearer(admin.token)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert body["url"] == "/v1/incidents"
    assert body["has_more"] is False
    [incident] = body["data"]
    assert incident["object"] == "incident"
    assert incident["id"].startswith("inc_")
    assert incident["status"] == "open"
    assert incident["kind"] == kind
    assert incident["attempts"] == 2
    assert incident["error"] == (
        "ConnectionRefusedError: smtp.example.com:587 refused the connection"
    )
    assert incident["resolution"] is None
    assert incident["resolved"] is None
    job = incident["job"]
    assert job["id"] == job_id
    assert job["object"] == "job"
    assert job["status"] == "failed"
    assert job["payload"] == {"to": "ann@example.com"}
    assert job["max_attempts"] == 2

    r = await jobs_client.get(f"/v1/incidents/{incident['id']}", headers=bearer(admin.token))
    assert r.status_code == 200
    assert r.json() == incident

    fixed[0] = True  # the operator fixed the mail server
    r = await jobs_client.post(
        f"/v1/incidents/{incident['id']}/replay", headers=bearer(admin.token)
    )
    assert r.status_code == 200, r.text
    replayed = r.json()
    assert replayed["status"] == "resolved"
    assert replayed["resolution"] == "replayed"
    assert replayed["resolved"] == unix(clock.now())
    assert replayed["resolved_by"] == admin.id
    assert replayed["job"]["status"] == "queued"
    assert replayed["job"]["attempts"] == 0
    assert replayed["job"]["run_at"] == unix(clock.now())

    assert await drain(container, registry) == 1
    assert (await job_row(container, job_id)).status == "succeeded"
    r = await jobs_client.get(
        "/v1/incidents", params={"status": "open", "kind": kind}, headers=bearer(admin.token)
    )
    assert r.json()["data"] == []

    r = await jobs_client.post(
        f"/v1/incidents/{incident['id']}/replay", headers=bearer(admin.token)
    )
    assert_error(r, 409, "invalid_request_error", "incident_resolved")


async def test_a_replayed_job_that_fails_again_opens_a_new_incident(
    container: Container, clock: FrozenClock, registry: Registry, jobs_client: httpx.AsyncClient
) -> None:
    kind = unique_kind("still_broken")
    job_id = await _failed_job(container, clock, registry, kind, fixed=[False])
    _, secret = await make_api_key(container)  # the platform's API key acts as an admin
    [first] = await incidents_of(container, job_id)
    r = await jobs_client.post(f"/v1/incidents/{first.id}/replay", headers=bearer(secret))
    assert r.status_code == 200, r.text
    for _ in range(2):
        await drain(container, registry)
        clock.advance(timedelta(minutes=1))
    incidents = await incidents_of(container, job_id)
    assert len(incidents) == 2
    assert incidents[0].id == first.id
    assert incidents[1].resolved_at is None

    r = await jobs_client.get(
        "/v1/incidents", params={"status": "resolved", "kind": kind}, headers=bearer(secret)
    )
    assert [i["id"] for i in r.json()["data"]] == [first.id]


async def test_an_admin_can_dismiss_an_incident_without_running_the_job(
    container: Container, clock: FrozenClock, registry: Registry, jobs_client: httpx.AsyncClient
) -> None:
    kind = unique_kind("dismiss")
    job_id = await _failed_job(container, clock, registry, kind, fixed=[False])
    [incident] = await incidents_of(container, job_id)
    admin = await make_user(container, role="admin")
    r = await jobs_client.post(f"/v1/incidents/{incident.id}/dismiss", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["resolution"] == "dismissed"
    assert r.json()["job"]["status"] == "failed"
    assert await drain(container, registry) == 0
    r = await jobs_client.post(f"/v1/incidents/{incident.id}/replay", headers=admin.headers)
    assert_error(r, 409, "invalid_request_error", "incident_resolved")


async def test_incidents_are_paginated_newest_first(
    container: Container, registry: Registry, jobs_client: httpx.AsyncClient
) -> None:
    kind = unique_kind("many")

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RuntimeError(f"job {payload['n']} failed")

    for n in range(3):
        await add_job(container, kind, {"n": n}, max_attempts=1)
        await drain(container, registry)
    admin = await make_user(container, role="admin")
    params: dict[str, Any] = {"kind": kind, "limit": 2}
    r = await jobs_client.get("/v1/incidents", params=params, headers=admin.headers)
    page1 = r.json()
    assert page1["has_more"] is True
    assert [i["error"] for i in page1["data"]] == [
        "RuntimeError: job 2 failed",
        "RuntimeError: job 1 failed",
    ]
    params["starting_after"] = page1["data"][-1]["id"]
    page2 = (await jobs_client.get("/v1/incidents", params=params, headers=admin.headers)).json()
    assert page2["has_more"] is False
    assert [i["error"] for i in page2["data"]] == ["RuntimeError: job 0 failed"]


async def test_only_admins_may_see_or_replay_incidents(
    container: Container, clock: FrozenClock, registry: Registry, jobs_client: httpx.AsyncClient
) -> None:
    kind = unique_kind("secret")
    job_id = await _failed_job(container, clock, registry, kind, fixed=[False])
    [incident] = await incidents_of(container, job_id)
    for role in ("client", "worker"):
        user = await make_user(container, role=role)
        r = await jobs_client.get("/v1/incidents", headers=user.headers)
        assert_error(r, 403, "permission_error", "admin_required")
        r = await jobs_client.get(f"/v1/incidents/{incident.id}", headers=user.headers)
        assert_error(r, 403, "permission_error", "admin_required")
        r = await jobs_client.post(f"/v1/incidents/{incident.id}/replay", headers=user.headers)
        assert_error(r, 403, "permission_error", "admin_required")
    r = await jobs_client.post(f"/v1/incidents/{incident.id}/replay")
    assert_error(r, 401, "authentication_error")
    assert (await job_row(container, job_id)).status == "failed"
    [still_open] = await incidents_of(container, job_id)
    assert still_open.resolved_at is None


async def test_unknown_incidents_and_bad_filters_get_the_error_envelope(
    container: Container, jobs_client: httpx.AsyncClient
) -> None:
    admin = await make_user(container, role="admin")
    r = await jobs_client.get("/v1/incidents/inc_01J00000000000000000000000", headers=admin.headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="incident_id")
    r = await jobs_client.post(
        "/v1/incidents/inc_01J00000000000000000000000/replay", headers=admin.headers
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing")
    r = await jobs_client.get("/v1/incidents", params={"status": "closed"}, headers=admin.headers)
    assert_error(r, 400, "invalid_request_error")
