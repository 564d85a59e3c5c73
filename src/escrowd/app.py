"""create_app(): routers, error handlers, middleware, background loops and lifespan."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from escrowd import __version__, marketplace
from escrowd.accounts.refresh_links import router as onboarding_refresh_router
from escrowd.accounts.routes import routers as account_routers
from escrowd.api import docs_pages, errors, openapi
from escrowd.api.auth import principal_scope
from escrowd.api.health import router as health_router
from escrowd.api.idempotency import IdempotencyMiddleware
from escrowd.api.request_id import RequestIdMiddleware
from escrowd.api.telemetry import telemetry
from escrowd.balances.routes import router as balance_router
from escrowd.bootstrap import Container, build
from escrowd.config import PAYPAL_SANDBOX_PREFIX, SANDBOX_PREFIX, Settings
from escrowd.customers.routes import routers as customer_routers
from escrowd.disputes.routes import routers as dispute_routers
from escrowd.escrows.routes import routers as escrow_routers
from escrowd.events.routes import router as events_router
from escrowd.fees.routes import router as fee_policy_router
from escrowd.home import router as home_router
from escrowd.jobs import background as background_work
from escrowd.jobs.routes import router as incidents_router
from escrowd.ledger.routes import router as ledger_router
from escrowd.logging import get_logger
from escrowd.notifications.routes import routers as notification_routers
from escrowd.notifications.sweep import notify_new
from escrowd.outbound.routes import router as webhook_endpoints_router
from escrowd.payouts.routes import destination_router as payout_destination_router
from escrowd.payouts.routes import router as payout_router
from escrowd.payouts.routes import schedule_router as payout_schedule_router
from escrowd.sandbox import clock_routes
from escrowd.sandbox.paypal.app import mounted_paypal_sandbox
from escrowd.sandbox.stripe.app import deliver_pending
from escrowd.subscriptions.routes import routers as subscription_routers
from escrowd.transactions.routes import reports as reports_router
from escrowd.transactions.routes import router as transactions_router
from escrowd.users.routes import routers as user_routers
from escrowd.web.mount import install as install_web
from escrowd.webhooks import inbound

log = get_logger(__name__)

DESCRIPTION = """\
escrowd holds marketplace payments in escrow and releases them to payees, minus a platform fee.

Conventions: amounts are integers in the currency's minor unit; every POST accepts an
`Idempotency-Key`, and those that move money (fund, capture, release, refund) require one;
errors come as `{"error": {"type", "code", "message", "param"}}`; lists are
cursor-paginated with `limit`, `starting_after` and `ending_before`. See docs/api.md.
"""

#: Loops processing stored inbound webhooks at once in a serving process on PostgreSQL.
WEBHOOK_LOOPS = 4


class _SandboxShortcut:
    """Send sandbox traffic straight to the emulator, past escrowd's own middleware.

    The sandbox stands in for Stripe: escrowd's request ids, access log and Idempotency-Key
    handling do not apply to it (it has Stripe's own), and skipping them is most of a
    sandbox request's overhead.
    """

    def __init__(self, app: ASGIApp, *, prefix: str, sandbox: ASGIApp) -> None:
        self.app = app
        self.prefix = prefix
        self.sandbox = sandbox  # answers under the prefix itself (mounted_sandbox)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(self.prefix + "/"):
            await self.sandbox(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(container: Container | None = None, *, background: bool = True) -> FastAPI:
    container = container or build()
    # Inbound webhooks are claimed with SKIP LOCKED on PostgreSQL, so several loops take
    # different events; SQLite has a single writer, where more loops would only queue.
    copies = WEBHOOK_LOOPS if container.db.dialect == "postgresql" else 1
    loops = [
        background_work.Loop(inbound.process_pending, copies),
        background_work.Loop(notify_new),
    ]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = (
            asyncio.create_task(background_work.run(container, stop=stop, loops=loops))
            if background
            else None
        )
        try:
            yield
        finally:
            if task is not None:
                # Through the event: a cancellation inside a statement can hang SQLite's close.
                await background_work.stop(task, stop)
            await container.close()

    app = FastAPI(
        title="escrowd",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # docs_pages serves both from installed files: no CDN
        redoc_url=None,
        telemetry=telemetry(container.settings.opentelemetry),
    )
    app.state.container = container
    errors.install(app)
    openapi.install(app)
    docs_pages.install(app)
    app.include_router(home_router)
    app.include_router(health_router)
    routers = [
        *user_routers,
        *account_routers,
        *customer_routers,
        *escrow_routers,
        fee_policy_router,
        balance_router,
        payout_router,
        transactions_router,
        reports_router,
        ledger_router,
        events_router,
        inbound.router,
        clock_routes.router,
        incidents_router,
        *dispute_routers,
        payout_schedule_router,
        payout_destination_router,
        *notification_routers,
        webhook_endpoints_router,
        *subscription_routers,
        *marketplace.routers(marketplace.choose(container.settings.marketplaces)),
    ]
    for router in routers:
        app.include_router(router, prefix="/v1")
    # The pages after the API: a request is matched against the routes one by one, in order,
    # and API calls are the many; none of the pages' paths (under /app) overlaps theirs.
    flows = {f.name for f in marketplace.choose(container.settings.marketplaces)}
    install_web(app, flows=flows)  # the web app's pages under /app
    app.include_router(onboarding_refresh_router)  # a page for payees' browsers, not the API

    if container.sandbox is not None:
        loops.append(background_work.Loop(deliver_pending))

    # Starlette runs the last-added middleware first: request ids wrap everything.
    app.add_middleware(
        IdempotencyMiddleware, container=container, resolve_scope=principal_scope(container)
    )
    app.add_middleware(RequestIdMiddleware)
    if container.sandbox is not None:
        app.add_middleware(_SandboxShortcut, prefix=SANDBOX_PREFIX, sandbox=container.sandbox)
        # The PayPal sandbox rides with the Stripe one: same mode, same tables, same clock.
        app.add_middleware(
            _SandboxShortcut,
            prefix=PAYPAL_SANDBOX_PREFIX,
            sandbox=mounted_paypal_sandbox(container),
        )
    return app


#: Set by ``escrowd serve --workers N --no-background`` for the processes it starts.
_BACKGROUND_ENV = "ESCROWD_SERVE_BACKGROUND"


def serving_environment(settings: Settings, *, background: bool) -> dict[str, str]:
    """What a serving process started by uvicorn needs in its environment to build the same
    app as ``escrowd serve`` would: the database it was told on the command line, and whether
    it does the background work."""
    return {
        "ESCROWD_DATABASE_URL": settings.effective_database_url,
        _BACKGROUND_ENV: "1" if background else "0",
    }


def app_from_environment() -> FastAPI:
    """The app of one of ``escrowd serve --workers N``'s processes (a uvicorn factory)."""
    return create_app(build(Settings()), background=os.environ.get(_BACKGROUND_ENV, "1") != "0")
