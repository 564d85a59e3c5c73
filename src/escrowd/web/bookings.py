"""Seed 001's page: a client's and a worker's bookings with the work's and the payment's
status, and the key actions: the worker marks the work complete, the client releases the
money (paying goes through the booking's escrow page). The bookings service does
everything, exactly as ``/v1/bookings`` calls it; docs/webapp.md."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.marketplace.bookings import service as bookings
from escrowd.marketplace.bookings.models import BookingJob
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

#: Served only when ESCROWD_MARKETPLACES runs the bookings flow (``mount.install``).
router = APIRouter(prefix="/app", include_in_schema=False)

NOTICES = {
    "completed": "Marked complete: the client can release the money to you now.",
    "released": "Released: the money is on its way to the worker.",
}


async def _list_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    async with container.db.transaction() as session:
        rows = (await session.scalars(bookings.bookings_query(actor=viewer).limit(SHOWN))).all()
        shown = await bookings.shown_all(session, rows)
        job_ids = {row.job_id for row in rows}
        found = await session.execute(
            select(BookingJob.id, BookingJob.title).where(BookingJob.id.in_(job_ids))
        )
        titles = {job_id: job_id for job_id in job_ids} | {r.id: r.title for r in found}
        stream = await live_stream(session, viewer, None) if shown else None
    return render(
        request,
        container,
        "bookings.html",
        viewer,
        status=status,
        bookings=shown,
        titles=titles,
        stream=stream,
        event_types=LIVE_TYPES,
        error=error,
        notice=notice,
    )


@router.get("/bookings")
async def booking_list(
    request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    return await _list_page(request, container, viewer, notice=NOTICES.get(done))


def _refused(request: Request, container: ContainerDep, viewer: Principal) -> Refused:
    async def page(message: str, status: int) -> Response:
        return await _list_page(request, container, viewer, error=message, status=status)

    return page


@router.post("/bookings/{booking_id}/complete")
async def complete(
    booking_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    """The booking's worker marks the work complete (once its money is held)."""
    return await act(
        bookings.complete(container, actor=viewer, booking_id=booking_id),
        refused=_refused(request, container, viewer),
        done="/app/bookings?done=completed",
    )


@router.post("/bookings/{booking_id}/release")
async def release(
    booking_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """The booking's client releases the money to the worker (once it is complete)."""
    return await act(
        bookings.release_money(
            container, actor=viewer, booking_id=booking_id, idempotency_key=form_key(form)
        ),
        refused=_refused(request, container, viewer),
        done="/app/bookings?done=released",
    )
