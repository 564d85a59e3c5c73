"""The admins' incidents page: open incidents with Replay and Dismiss, and the provider
webhooks that failed for good (Replay) or were rejected. Each action goes through the same
service as ``/v1/incidents`` (or the webhooks service's requeue); a refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select
from ulid import ULID

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.jobs import JobContext, Registry, incidents
from escrowd.webhooks.models import InboundWebhookEvent
from tests.integration.conftest import make_user
from tests.jobs.conftest import add_job, drain, incidents_of, job_row, unique_kind
from tests.web.test_pages import csrf_of, sign_in


async def _failed_job(container: Container, clock: FrozenClock, fixed: list[bool]) -> str:
    registry = Registry()
    kind = unique_kind("web")

    @registry.handler(kind)
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        if not fixed[0]:
            raise ConnectionRefusedError("smtp.example.com:587 refused the connection")

    job_id = await add_job(container, kind, {"to": "ann@example.com"}, max_attempts=1)
    await drain(container, registry)
    clock.advance(timedelta(minutes=1))
    assert (await job_row(container, job_id)).status == "failed"
    return job_id


async def _failed_webhook(container: Container, status: str = "failed") -> str:
    event_id = f"evt_web{str(ULID()).lower()}"
    async with container.db.transaction() as session:
        await session.execute(
            insert(InboundWebhookEvent).values(
                provider="stripe",
                event_id=event_id,
                type="charge.refunded",
                kind="charge.refunded",
                account=None,
                object_id="ch_web",
                object_type="charge",
                event_created=container.clock.now(),
                raw_body=b"{}",
                headers={},
                received_at=container.clock.now(),
                status=status,
                attempts=5,
                last_error="RuntimeError: the handler's database was down",
                next_attempt_at=None,
                processed_at=container.clock.now(),
            )
        )
    return event_id


async def _webhook(container: Container, event_id: str) -> InboundWebhookEvent:
    async with container.db.transaction() as session:
        stmt = select(InboundWebhookEvent).where(InboundWebhookEvent.event_id == event_id)
        return (await session.scalars(stmt)).one()


async def test_an_admin_replays_a_failed_job_from_the_incidents_page(
    web: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    job_id = await _failed_job(container, clock, [False])
    [incident] = await incidents_of(container, job_id)
    admin = await make_user(container, role="admin")
    await sign_in(web, admin)
    page = await web.get("/app/admin/incidents")
    assert page.status_code == 200, page.text
    assert incident.id in page.text
    assert "smtp.example.com:587 refused the connection" in page.text
    assert f"/app/admin/incidents/{incident.id}/replay" in page.text

    r = await web.post(
        f"/app/admin/incidents/{incident.id}/replay", data={"csrf_token": csrf_of(page)}
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/app/admin/incidents?done=replayed"
    job = await job_row(container, job_id)
    assert (job.status, job.attempts) == ("queued", 0)
    [resolved] = await incidents_of(container, job_id)
    assert (resolved.resolution, resolved.resolved_by) == ("replayed", admin.id)
    after = await web.get(r.headers["location"])
    assert "its job runs again now" in after.text
    assert f"/app/admin/incidents/{incident.id}/replay" not in after.text

    # Sent again (a second tab): refused on the page with the service's reason; nothing moves.
    again = await web.post(
        f"/app/admin/incidents/{incident.id}/replay", data={"csrf_token": csrf_of(after)}
    )
    assert again.status_code == 409
    assert "already replayed" in again.text
    assert (await job_row(container, job_id)).status == "queued"


async def test_an_admin_dismisses_an_incident_that_has_no_job_to_replay(
    web: httpx.AsyncClient, container: Container
) -> None:
    async with container.db.transaction() as session:
        incident = await incidents.open_incident(
            session,
            kind="webhook.mismatch",
            subject=f"webhook:stripe:evt_{str(ULID()).lower()}",
            error="the event claims 5000 usd; the provider's charge is 500 usd",
            details={"claimed": {"amount": 5000}, "provider": {"amount": 500}},
            now=container.clock.now(),
        )
    admin = await make_user(container, role="admin")
    await sign_in(web, admin)
    page = await web.get("/app/admin/incidents")
    assert incident.id in page.text
    assert incident.subject is not None
    assert incident.subject in page.text
    # Evidence, not a failed job: no Replay button, and a replay sent anyway is refused.
    assert f"/app/admin/incidents/{incident.id}/replay" not in page.text
    refused = await web.post(
        f"/app/admin/incidents/{incident.id}/replay", data={"csrf_token": csrf_of(page)}
    )
    assert refused.status_code == 409
    assert "nothing to replay" in refused.text
    r = await web.post(
        f"/app/admin/incidents/{incident.id}/dismiss", data={"csrf_token": csrf_of(page)}
    )
    assert r.status_code == 303
    async with container.db.transaction() as session:
        row = await incidents.get(session, incident.id)
    assert (row.resolution, row.resolved_by) == ("dismissed", admin.id)
    after = await web.get(r.headers["location"])
    assert "Dismissed" in after.text
    assert f"/app/admin/incidents/{incident.id}/dismiss" not in after.text


async def test_an_admin_replays_a_failed_webhook_and_sees_rejected_ones(
    web: httpx.AsyncClient, container: Container
) -> None:
    failed = await _failed_webhook(container)
    rejected = await _failed_webhook(container, status="rejected")
    admin = await make_user(container, role="admin")
    await sign_in(web, admin)
    page = await web.get("/app/admin/incidents")
    assert failed in page.text
    assert rejected in page.text
    assert "the handler&#39;s database was down" in page.text
    assert f"/app/admin/webhooks/stripe/{failed}/replay" in page.text
    assert f"/app/admin/webhooks/stripe/{rejected}/replay" not in page.text

    # A rejected event cannot be replayed, even by a hand-made form: nothing changes.
    refused = await web.post(
        f"/app/admin/webhooks/stripe/{rejected}/replay", data={"csrf_token": csrf_of(page)}
    )
    assert refused.status_code == 409
    assert (await _webhook(container, rejected)).status == "rejected"

    r = await web.post(
        f"/app/admin/webhooks/stripe/{failed}/replay", data={"csrf_token": csrf_of(page)}
    )
    assert r.status_code == 303, r.text
    row = await _webhook(container, failed)
    assert row.status == "received"
    assert row.next_attempt_at == container.clock.now()
    after = await web.get(r.headers["location"])
    assert "the webhook is processed again now" in after.text
    assert failed not in after.text  # due again: it is the processor's now


async def test_only_admins_reach_the_incidents_page_and_its_actions(
    web: httpx.AsyncClient, container: Container
) -> None:
    failed = await _failed_webhook(container)
    payee = await make_user(container, role="worker")
    await sign_in(web, payee)
    assert (await web.get("/app/admin/incidents")).status_code == 403
    page = await web.get("/app/balance")
    r = await web.post(
        f"/app/admin/webhooks/stripe/{failed}/replay", data={"csrf_token": csrf_of(page)}
    )
    assert r.status_code == 403
    assert (await _webhook(container, failed)).status == "failed"
