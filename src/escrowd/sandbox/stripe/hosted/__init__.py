"""The sandbox's hosted test pages (what Stripe hosts for real): card form, 3-D Secure,
Connect onboarding and the Express dashboard. Plain HTML forms, no JavaScript needed."""

from __future__ import annotations

from fastapi import FastAPI

from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.hosted import checkout, connect, three_ds


def install(app: FastAPI, container: Host) -> None:
    for module in (checkout, three_ds, connect):
        for path, endpoint, methods in module.routes(container):
            app.add_route(path, endpoint, methods=methods, include_in_schema=False)
