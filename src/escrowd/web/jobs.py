"""Seed 000's pages: the job board with its tester slots. A client sees its jobs and their
slots and approves or rejects a submitted slot; a tester (a payee) claims a slot and submits
its work. The job marketplace's service does everything, exactly as ``/v1/jobs`` calls it, so
who may do what is the API's rule; docs/webapp.md."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.errors import InvalidRequestError, NotFoundError
from escrowd.marketplace.jobs import service as jobs
from escrowd.marketplace.jobs.domain import JobStatus, SlotStatus
from escrowd.marketplace.jobs.schemas import job_json
from escrowd.web.routes import (
    LIVE_TYPES,
    SHOWN,
    FormDep,
    Refused,
    Viewer,
    act,
    form_key,
    live_stream,
    render,
)
from escrowd.web.service import PageMissing

#: Served only when ESCROWD_MARKETPLACES runs the jobs flow (``mount.install``).
router = APIRouter(prefix="/app", include_in_schema=False)


@router.get("/jobs")
async def job_board(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    """Published jobs, newest first, and the viewer's own drafts (``list_query``'s rule)."""
    async with container.db.transaction() as session:
        rows = (await session.scalars(jobs.list_query(actor=viewer).limit(SHOWN))).all()
        shown = [job_json(r, await jobs.slots_of(session, r.id), viewer=viewer) for r in rows]
    return render(request, container, "jobs.html", viewer, jobs=shown)


async def _job_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    job_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    async with container.db.transaction() as session:
        try:
            row = await jobs.get_job(session, job_id=job_id, actor=viewer)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
        job = job_json(row, await jobs.slots_of(session, row.id), viewer=viewer)
        stream = await live_stream(session, viewer, job.escrow) if job.escrow else None
    me = viewer.user_id
    client = viewer.is_admin or (me is not None and me == job.client)
    mine = next((s for s in job.slots if me is not None and s.tester == me), None)
    can_claim = (
        viewer.role == "worker"
        and job.status is JobStatus.open
        and mine is None
        and any(s.status is SlotStatus.open for s in job.slots)
    )
    return render(
        request,
        container,
        "job.html",
        viewer,
        status=status,
        job=job,
        stream=stream,
        event_types=LIVE_TYPES,
        client=client,
        can_claim=can_claim,
        error=error,
        notice=notice,
    )


@router.get("/jobs/{job_id}")
async def job_page(
    job_id: str, request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    notice = {
        "claimed": "You claimed a slot: do the testing, then submit your report.",
        "submitted": "Report submitted: the client reviews it.",
        "approved": "Approved: the slot's money is released to its tester.",
        "rejected": "Rejected: the money stays in escrow; the tester may submit again.",
    }.get(done)
    return await _job_page(request, container, viewer, job_id, notice=notice)


def _back(job_id: str, done: str) -> str:
    return f"/app/jobs/{quote(job_id)}?done={done}"


def _refused(request: Request, container: ContainerDep, viewer: Principal, job_id: str) -> Refused:
    async def page(message: str, status: int) -> Response:
        return await _job_page(request, container, viewer, job_id, error=message, status=status)

    return page


@router.post("/jobs/{job_id}/claim")
async def claim_slot(
    job_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    return await act(
        jobs.claim(container, actor=viewer, job_id=job_id),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "claimed"),
    )


@router.post("/jobs/{job_id}/slots/{slot_id}/submit")
async def submit_slot(
    job_id: str,
    slot_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    text = form.get("submission", "")[:5000].strip()

    async def submit() -> None:
        if not text:
            raise InvalidRequestError("Write your report before submitting.", param="submission")
        async with container.db.transaction() as session:
            await jobs.submit(
                session,
                clock=container.clock,
                actor=viewer,
                job_id=job_id,
                slot_id=slot_id,
                text=text,
            )

    return await act(
        submit(),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "submitted"),
    )


@router.post("/jobs/{job_id}/slots/{slot_id}/approve")
async def approve_slot(
    job_id: str,
    slot_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    feedback = form.get("feedback", "")[:2000].strip() or None
    return await act(
        jobs.approve(
            container,
            actor=viewer,
            job_id=job_id,
            slot_id=slot_id,
            feedback=feedback,
            idempotency_key=form_key(form),
        ),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "approved"),
    )


@router.post("/jobs/{job_id}/slots/{slot_id}/reject")
async def reject_slot(
    job_id: str,
    slot_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    feedback = form.get("feedback", "")[:2000].strip() or None

    async def reject() -> None:
        async with container.db.transaction() as session:
            await jobs.reject(
                session,
                clock=container.clock,
                actor=viewer,
                job_id=job_id,
                slot_id=slot_id,
                feedback=feedback,
            )

    return await act(
        reject(),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "rejected"),
    )
