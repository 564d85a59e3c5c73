"""Wiring the web app into escrowd's HTTP app: its pages (``routes`` and the page modules
that add theirs to its router: ``payees``, ``reports``; ``auctions`` on a router of its own,
served when the flow runs), its static files, and the answers to the pages' signals."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from escrowd.web import auctions as auction_pages
from escrowd.web import payees, reports  # noqa: F401  (their pages join ``router``)
from escrowd.web.routes import HERE, render, router, see_other
from escrowd.web.service import PageForbidden, PageMissing, SignInRequired, signed_in


def install(app: FastAPI, *, auctions: bool = False) -> None:
    """Mount the pages and their static files, and turn the page signals into answers.
    ``auctions``: serve seed 004's pages too (when ESCROWD_MARKETPLACES runs the flow)."""
    app.state.web_auctions = auctions
    app.include_router(router)
    if auctions:
        app.include_router(auction_pages.router)
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
