"""Wiring the web app into escrowd's HTTP app: its pages (``routes`` and the page modules
that add theirs to its router: ``payees``, ``reports``, ``admin_escrows``,
``admin_incidents``; each marketplace
flow's on a router of its own, served when the flow runs), its static files, and the answers
to the pages' signals."""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from escrowd.web import (  # noqa: F401  (pages join ``router``)
    admin_escrows,
    admin_incidents,
    cards,
    escrow_disputes,
    organizations,
    payees,
    reports,
)
from escrowd.web import auctions as auction_pages
from escrowd.web import bookings as booking_pages
from escrowd.web import gigs as gig_pages
from escrowd.web import jobs as job_pages
from escrowd.web import tasks as task_pages
from escrowd.web.routes import HERE, render, router, see_other
from escrowd.web.service import PageForbidden, PageMissing, SignInRequired, signed_in

#: Each marketplace flow's pages, served only when ESCROWD_MARKETPLACES runs the flow.
FLOW_PAGES = {
    "jobs": job_pages.router,
    "bookings": booking_pages.router,
    "gigs": gig_pages.router,
    "tasks": task_pages.router,
    "auctions": auction_pages.router,
}


def install(app: FastAPI, *, flows: Collection[str] = ()) -> None:
    """Mount the pages and their static files, and turn the page signals into answers.
    ``flows``: the marketplace flows (by name) whose pages are served too, as
    ESCROWD_MARKETPLACES runs them; the navigation links them."""
    served = frozenset(f for f in flows if f in FLOW_PAGES)
    app.state.web_flows = served
    app.include_router(router)
    for name, pages in FLOW_PAGES.items():
        if name in served:
            app.include_router(pages)
    app.mount("/app/static", StaticFiles(directory=HERE / "static"), name="app-static")

    async def to_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return see_other(f"/app/sign-in?next={quote(exc.next_path, safe='')}")

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        container = request.app.state.container
        viewer = await signed_in(request, container)
        return render(request, container, "forbidden.html", viewer, status=403, message=exc.message)

    async def missing(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageMissing)
        container = request.app.state.container
        viewer = await signed_in(request, container)
        return render(
            request,
            container,
            "forbidden.html",
            viewer,
            status=404,
            message=exc.message,
            heading="Not found",
        )

    app.add_exception_handler(PageMissing, missing)
    app.add_exception_handler(SignInRequired, to_sign_in)
    app.add_exception_handler(PageForbidden, forbidden)


__all__ = ["install"]
