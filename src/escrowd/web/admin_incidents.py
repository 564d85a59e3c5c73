"""Admins' incidents page: open incidents (a job that failed for good, or a provider event the
provider contradicted) with Replay (run the job again) and Dismiss, and the inbound provider
webhooks that failed for good (Replay makes one due again) or were rejected. The incidents
and webhooks services do the work, as ``/v1/incidents`` calls them; docs/webapp.md."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.clock import unix
from escrowd.errors import ConflictError
from escrowd.jobs import incidents
from escrowd.jobs.models import Incident
from escrowd.jobs.schemas import Incident as IncidentObject
from escrowd.web.routes import SHOWN, FormDep, Refused, Viewer, _role, act, render, router
from escrowd.webhooks import service as webhooks
from escrowd.webhooks.models import InboundWebhookEvent, WebhookStatus

PAGE = "/app/admin/incidents"
NOTICES = {
    "replayed": "Replayed: its job runs again now, with its attempts reset.",
    "dismissed": "Dismissed: the incident is closed and its job stays failed.",
    "requeued": "Replayed: the webhook is processed again now.",
}


def _webhook_json(row: InboundWebhookEvent) -> dict[str, Any]:
    return {
        "provider": row.provider,
        "event_id": row.event_id,
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "received": unix(row.received_at),
        "replayable": row.status == WebhookStatus.failed.value,
    }


async def _page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    async with container.db.transaction() as session:
        stmt = incidents.list_query(status="open").order_by(Incident.id.desc()).limit(SHOWN)
        rows = (await session.scalars(stmt)).all()
        jobs = await incidents.jobs_of(session, rows)
        shown = [IncidentObject.of(i, jobs.get(i.job_id or "")) for i in rows]
        failed = (await session.scalars(webhooks.needing_a_look().limit(SHOWN))).all()
    return render(
        request,
        container,
        "admin_incidents.html",
        viewer,
        status=status,
        incidents=shown,
        webhooks=[_webhook_json(w) for w in failed],
        error=error,
        notice=notice,
    )


@router.get("/admin/incidents")
async def admin_incidents(
    request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    _role(viewer, "admin")
    return await _page(request, container, viewer, notice=NOTICES.get(done))


def _refused(request: Request, container: ContainerDep, viewer: Principal) -> Refused:
    """What the services refuse is shown on the page, with its status; nothing changed."""

    async def page(message: str, status: int) -> Response:
        return await _page(request, container, viewer, error=message, status=status)

    return page


async def _resolved(
    request: Request, container: ContainerDep, viewer: Principal, incident_id: str, how: str
) -> Response:
    async def run() -> None:
        async with container.db.transaction() as session:
            do = incidents.replay if how == "replayed" else incidents.dismiss
            await do(
                session, incident_id=incident_id, actor_id=viewer.id, now=container.clock.now()
            )

    return await act(run(), refused=_refused(request, container, viewer), done=f"{PAGE}?done={how}")


@router.post("/admin/incidents/{incident_id}/replay")
async def replay_incident(
    incident_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    _role(viewer, "admin")
    return await _resolved(request, container, viewer, incident_id[:64], "replayed")


@router.post("/admin/incidents/{incident_id}/dismiss")
async def dismiss_incident(
    incident_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    _role(viewer, "admin")
    return await _resolved(request, container, viewer, incident_id[:64], "dismissed")


@router.post("/admin/webhooks/{provider}/{event_id}/replay")
async def replay_webhook(
    provider: str,
    event_id: str,
    request: Request,
    container: ContainerDep,
    _form: FormDep,
    viewer: Viewer,
) -> Response:
    _role(viewer, "admin")

    async def run() -> None:
        found = await webhooks.requeue(container, provider=provider[:32], event_id=event_id[:255])
        if not found:
            raise ConflictError(
                f"No failed {provider} webhook {event_id} to replay: it was processed, is "
                "still being retried on its own, or does not exist.",
                code="nothing_to_replay",
            )

    return await act(
        run(), refused=_refused(request, container, viewer), done=f"{PAGE}?done=requeued"
    )
