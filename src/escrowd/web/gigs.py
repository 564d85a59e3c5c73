"""Seed 002's pages: gigs (a client hires an expert; the card is authorized, captured on
completion), listed and one by one with their status, and the client's Complete and Cancel.
The gigs service does everything, exactly as ``/v1/gigs`` calls it (the expert may read a
gig, never complete or cancel it); docs/webapp.md."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.errors import NotFoundError
from escrowd.marketplace.gigs import service as gigs
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

#: Served only when ESCROWD_MARKETPLACES runs the gigs flow (``mount.install``).
router = APIRouter(prefix="/app", include_in_schema=False)

NOTICES = {
    "completed": "Completed: the payment is captured and the expert paid, less the commission.",
    "cancelled": "Cancelled: the card's authorization is voided, or the payment refunded.",
}


@router.get("/gigs")
async def gig_list(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    """The gigs the viewer pays or is paid by (admins: all), newest first."""
    async with container.db.transaction() as session:
        rows = (await session.scalars(gigs.list_query(actor=viewer).limit(SHOWN))).all()
        shown = await gigs.page(session, list(rows))
    return render(request, container, "gigs.html", viewer, gigs=shown)


async def _gig_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    gig_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    async with container.db.transaction() as session:
        try:
            gig = await gigs.retrieve(session, gig_id=gig_id, actor=viewer)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
        stream = await live_stream(session, viewer, gig.escrow)
    return render(
        request,
        container,
        "gig.html",
        viewer,
        status=status,
        gig=gig,
        stream=stream,
        event_types=LIVE_TYPES,
        deciding=viewer.is_admin or viewer.user_id == gig.client,
        error=error,
        notice=notice,
    )


@router.get("/gigs/{gig_id}")
async def gig_page(
    gig_id: str, request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    return await _gig_page(request, container, viewer, gig_id, notice=NOTICES.get(done))


def _refused(request: Request, container: ContainerDep, viewer: Principal, gig_id: str) -> Refused:
    async def page(message: str, status: int) -> Response:
        return await _gig_page(request, container, viewer, gig_id, error=message, status=status)

    return page


@router.post("/gigs/{gig_id}/complete")
async def complete(
    gig_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    return await act(
        gigs.complete(container, actor=viewer, gig_id=gig_id, idempotency_key=form_key(form)),
        refused=_refused(request, container, viewer, gig_id),
        done=f"/app/gigs/{quote(gig_id)}?done=completed",
    )


@router.post("/gigs/{gig_id}/cancel")
async def cancel(
    gig_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    return await act(
        gigs.cancel(container, actor=viewer, gig_id=gig_id, reason=None),
        refused=_refused(request, container, viewer, gig_id),
        done=f"/app/gigs/{quote(gig_id)}?done=cancelled",
    )
