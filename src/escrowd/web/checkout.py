"""Stripe.js's Payment Element on the pages, with the real Stripe (``ESCROWD_PROVIDER=stripe``).

The card is typed into Stripe's own frame and confirmed by Stripe.js in the browser
(``confirmPayment`` for an escrow's PaymentIntent, ``confirmSetup`` for a SetupIntent), which
then sends the browser to escrowd's return page. That page reads the intent from the provider
before saying how it went: what the browser brings back (``redirect_status``, the intent's id)
is never trusted. In sandbox mode there is no Stripe.js: the sandbox's hosted card form
collects the card instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from escrowd.bootstrap import Container
from escrowd.config import ProviderMode

#: Where Stripe.js is loaded from: Stripe's own host, never a copy (PCI DSS requires it).
STRIPE_JS_URL = "https://js.stripe.com/v3/"

#: What a page says when the real Stripe runs but Stripe.js has no key to run with.
NO_PUBLISHABLE_KEY = (
    "Paying or saving a new card needs Stripe.js, and this escrowd has no publishable key "
    "(ESCROWD_STRIPE_PUBLISHABLE_KEY): ask the platform to set it."
)


def uses_stripe_js(container: Container) -> bool:
    """Whether new cards are collected with Stripe.js (the real Stripe) rather than the
    sandbox's hosted card form."""
    return container.settings.provider is ProviderMode.stripe


def publishable_key(container: Container) -> str | None:
    return container.settings.stripe_publishable_key or None


@dataclass(frozen=True, slots=True)
class Checkout:
    """What a page's Payment Element needs (``data-*`` attributes app.js reads)."""

    mode: Literal["payment", "setup"]
    publishable_key: str
    client_secret: str
    #: escrowd's return page, which Stripe.js sends the browser to after confirming.
    return_url: str


__all__ = [
    "NO_PUBLISHABLE_KEY",
    "STRIPE_JS_URL",
    "Checkout",
    "publishable_key",
    "uses_stripe_js",
]
