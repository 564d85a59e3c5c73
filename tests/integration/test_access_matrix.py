"""Who may call what: one row per operation of the app, each caller kind's expected answer.

``MATRIX`` below is the access table of escrowd. Each row is one operation (method + path
template, as /openapi.json names it) and says, per kind of caller, what the answer must be:

- ``anonymous``: no ``Authorization`` header. Every ``/v1`` operation answers 401
  ``authentication_required`` except the ones declared with ``public(...)``.
- ``stranger``: a signed-in client who has nothing to do with the objects in the path. An
  object that is not theirs answers 404 ``resource_missing`` (its existence is not revealed);
  an admin-only operation answers 403 ``admin_required``.
- ``member``: a member (not an admin) of the organization in the path: 403
  ``organization_admin_required`` on what only its admins may do.
- ``payee``: the worker paid by the escrow and owner of the payout in the path: reads, but may
  not act on the escrow (403 ``payee_read_only``) nor review their own payout.
- ``api_key``: a platform API key: 403 ``user_token_required`` where a person must act
  (``payer_required``, ``payee_required`` where the key must name, or cannot be, the party).
- ``revoked_key``, ``disabled_user``: credentials that stopped working: 401 ``api_key_invalid``
  and ``user_inactive`` wherever ``anonymous`` gets 401.

A caller kind a row does not name is not checked for that row. No answer may show a caller
an id of an object that is not theirs (unless they sent it), and every ``/v1`` error must be
the envelope ``{"error": {"type", "code", "message", "param"}}``. The objects in the paths are
real ones, made through the API once per database (``world``): someone else's escrow (funded,
and one still open), payout, saved card, connected account, organization, member, API key.

Adding an endpoint: the completeness test fails, naming it. Add one line to ``MATRIX`` with
the helper that says who may call it (``public``, ``signed_in``, ``person_only``,
``owner_only``, ``admin_only``, ``admin_users_only``), and name any new object its path
takes in ``World.ids`` (built in ``world``).

A refused call must change nothing: every refused case compares escrowd's row counts before
and after, and rows with ``watch=`` also compare the watched objects (escrows, the payee's
balance, the payout, …) as their owners or an admin see them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import text
from starlette.routing import Mount
from ulid import ULID

from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.notifications.sweep import notify_events
from tests.accounts.conftest import Browser, add_member, create_account, make_org
from tests.escrows.conftest import Ctx, create_escrow, funded, payer, verified_payee
from tests.integration.conftest import (
    DEFAULT_PASSWORD,
    USER_TABLES,
    bearer,
    make_user,
    unique_email,
)
from tests.payouts.conftest import earned, request_payout

Caller = Literal[
    "anonymous", "revoked_key", "disabled_user", "stranger", "member", "payee", "api_key"
]
CALLERS: tuple[Caller, ...] = get_args(Caller)


@dataclass(frozen=True)
class Expect:
    """The answer a caller must get: a status and, for errors, the envelope's ``code``."""

    status: int
    code: str | None = None
    #: A known access bug: the case is ``xfail(strict=True)`` with this reason until fixed.
    bug: str | None = None


OK = Expect(200)
UNAUTHENTICATED = Expect(401, "authentication_required")
MISSING = Expect(404, "resource_missing")
ADMIN_REQUIRED = Expect(403, "admin_required")
USER_TOKEN_REQUIRED = Expect(403, "user_token_required")
ORG_ADMIN_REQUIRED = Expect(403, "organization_admin_required")
PAYEE_READ_ONLY = Expect(403, "payee_read_only")

#: Callers without a valid credential: refused on every /v1 operation that is not public.
SIGNED_OUT: dict[str, Expect] = {
    "anonymous": UNAUTHENTICATED,
    "revoked_key": Expect(401, "api_key_invalid"),
    "disabled_user": Expect(401, "user_inactive"),
}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: Mapping[Caller, Expect]
    #: JSON body (POST); strings may name world ids as ``{name}``.
    body: Any = None
    #: Per caller, a body in place of ``body``.
    bodies: Mapping[Caller, Any] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    #: Path placeholder → the ``World.ids`` name it takes, when they differ.
    use: Mapping[str, str] = field(default_factory=dict)
    #: Objects (``WATCHES``) that a refusal must leave exactly as they were.
    watch: tuple[str, ...] = ()
    public: bool = False

    @property
    def op(self) -> tuple[str, str]:
        return self.method, self.path


_OPTIONS = {"body", "bodies", "query", "use", "watch"}


def _row(
    operation: str, base: Mapping[str, Expect], kw: dict[str, Any], public: bool = False
) -> Row:
    method, path = operation.split(" ", 1)
    options = {k: v for k, v in kw.items() if k in _OPTIONS}
    callers = {k: v for k, v in kw.items() if k not in _OPTIONS}
    unknown = set(callers) - set(CALLERS)
    assert not unknown, f"{operation}: unknown option or caller kind {sorted(unknown)}"
    expect = cast(dict[Caller, Expect], {**base, **callers})
    return Row(method, path, expect, public=public, **options)


# --- the common patterns: one helper each ------------------------------------------------------


def public(operation: str, anonymous: Expect, **kw: Any) -> Row:
    """No credentials needed; ``anonymous`` is the answer to a caller without any."""
    return _row(operation, {"anonymous": anonymous}, kw, public=True)


def signed_in(operation: str, **kw: Any) -> Row:
    """Any credential (user token or API key); what each sees is their own."""
    return _row(operation, SIGNED_OUT, kw)


def person_only(operation: str, **kw: Any) -> Row:
    """Acts for a person: a user token; an API key gets 403 ``user_token_required``."""
    return _row(operation, {**SIGNED_OUT, "api_key": USER_TOKEN_REQUIRED}, kw)


def owner_only(operation: str, **kw: Any) -> Row:
    """The path names an object: someone else's answers 404, as if it did not exist."""
    return _row(operation, {**SIGNED_OUT, "stranger": MISSING}, kw)


def admin_only(operation: str, **kw: Any) -> Row:
    """Admin users and platform API keys; any other user gets 403 ``admin_required``."""
    return _row(operation, {**SIGNED_OUT, "stranger": ADMIN_REQUIRED}, kw)


def admin_users_only(operation: str, **kw: Any) -> Row:
    """Admin users only: other users get 403 ``admin_required``, API keys
    ``user_token_required`` (managing keys is a person's act)."""
    base = {**SIGNED_OUT, "stranger": ADMIN_REQUIRED, "api_key": USER_TOKEN_REQUIRED}
    return _row(operation, base, kw)


#: The web app's answers to a caller without its session cookie (see web_page).
REDIRECT = Expect(303)
CSRF_REFUSED = Expect(403)


def web_page(operation: str, expect: Expect, **kw: Any) -> list[Row]:
    """A web app page (HTML, outside the API): the same answer for every caller kind, since
    Bearer credentials do not sign anyone in there. One row, every caller."""
    callers = {c: expect for c in CALLERS if c != "anonymous"}
    return [public(operation, expect, **callers, **kw)]


RETURN_URL = "https://market.test/payouts/done"

NEW_ESCROW = {
    "currency": "usd",
    "amount": 1000,
    "allocations": [{"payee": "{payee_id}", "amount": 1000}],
}

MATRIX: list[Row] = [
    # pages, documents and health: no credentials
    public("GET /", OK),
    public("GET /healthz", OK),
    public("GET /readyz", OK),
    public("GET /openapi.json", OK),
    public("GET /docs", OK),
    public("GET /docs/oauth2-redirect", OK),
    public("GET /redoc", OK),
    public("GET /docs/assets/{path}", OK, use={"path": "docs_asset"}),
    # the payee's browser lands here from an expired onboarding link: the signed token is the
    # credential, and without it the page refuses (an HTML page, not the API's envelope)
    public(
        "GET /accounts/{account_id}/onboarding/refresh",
        Expect(404),
        use={"account_id": "org_account_id"},
    ),
    # the web app's pages: only the session cookie signs in there, never an API credential,
    # so every caller here is signed out: pages redirect to sign in, forms without the CSRF
    # token are refused before anything runs
    *web_page("GET /app", REDIRECT),
    *web_page("GET /app/sign-in", OK),
    *web_page("POST /app/sign-in", CSRF_REFUSED),
    *web_page("GET /app/sign-up", OK),
    *web_page("POST /app/sign-up", CSRF_REFUSED),
    *web_page("POST /app/sign-out", CSRF_REFUSED),
    *web_page("GET /app/escrows", REDIRECT),
    *web_page("GET /app/escrows/{escrow_id}", REDIRECT),
    *web_page("POST /app/escrows/{escrow_id}/pay", CSRF_REFUSED, watch=("escrow",)),
    *web_page("POST /app/escrows/{escrow_id}/dispute", CSRF_REFUSED, watch=("escrow",)),
    *web_page("GET /app/escrows/{escrow_id}/card-return", REDIRECT),
    *web_page("GET /app/escrows/{escrow_id}/stripe-return", REDIRECT, watch=("escrow",)),
    *web_page("GET /app/payment-methods", REDIRECT),
    *web_page("POST /app/payment-methods/setup", CSRF_REFUSED),
    *web_page("GET /app/payment-methods/card-return", REDIRECT),
    *web_page("GET /app/payment-methods/setup-return", REDIRECT, watch=("cards",)),
    *web_page(
        "POST /app/payment-methods/{payment_method}/default",
        CSRF_REFUSED,
        use={"payment_method": "pm_id"},
    ),
    *web_page(
        "POST /app/payment-methods/{payment_method}/remove",
        CSRF_REFUSED,
        use={"payment_method": "pm_id"},
        watch=("cards",),
    ),
    *web_page("GET /app/balance", REDIRECT),
    *web_page("POST /app/payouts", CSRF_REFUSED),
    *web_page("GET /app/payout-settings", REDIRECT),
    *web_page("POST /app/payout-settings/connect", CSRF_REFUSED),
    *web_page("POST /app/payout-settings/paypal", CSRF_REFUSED),
    *web_page("GET /app/organizations", REDIRECT),
    *web_page("GET /app/organizations/{org_id}/payout-settings", REDIRECT),
    *web_page(
        "POST /app/organizations/{org_id}/payout-settings/connect",
        CSRF_REFUSED,
        watch=("org_account",),
    ),
    *web_page("GET /app/jobs", REDIRECT),
    *web_page("GET /app/jobs/{job_id}", REDIRECT),
    *web_page("POST /app/jobs", CSRF_REFUSED),
    *web_page("POST /app/jobs/{job_id}/publish", CSRF_REFUSED, use={"job_id": "draft_job_id"}),
    *web_page("POST /app/jobs/{job_id}/cancel", CSRF_REFUSED, use={"job_id": "draft_job_id"}),
    *web_page("POST /app/jobs/{job_id}/claim", CSRF_REFUSED),
    *web_page(
        "POST /app/jobs/{job_id}/slots/{slot_id}/submit",
        CSRF_REFUSED,
        use={"slot_id": "job_slot_id"},
    ),
    *web_page(
        "POST /app/jobs/{job_id}/slots/{slot_id}/approve",
        CSRF_REFUSED,
        use={"slot_id": "job_slot_id"},
    ),
    *web_page(
        "POST /app/jobs/{job_id}/slots/{slot_id}/reject",
        CSRF_REFUSED,
        use={"slot_id": "job_slot_id"},
    ),
    *web_page("GET /app/bookings", REDIRECT),
    *web_page("POST /app/bookings/{booking_id}/complete", CSRF_REFUSED),
    *web_page("POST /app/bookings/{booking_id}/release", CSRF_REFUSED),
    *web_page("GET /app/gigs", REDIRECT),
    *web_page("GET /app/gigs/{gig_id}", REDIRECT),
    *web_page("POST /app/gigs/{gig_id}/complete", CSRF_REFUSED, watch=("gig",)),
    *web_page("POST /app/gigs/{gig_id}/cancel", CSRF_REFUSED, watch=("gig",)),
    *web_page("GET /app/tasks", REDIRECT),
    *web_page("GET /app/tasks/{task_id}", REDIRECT),
    *web_page("POST /app/tasks/{task_id}/bids", CSRF_REFUSED),
    *web_page("POST /app/tasks/{task_id}/bids/{bid_id}/accept", CSRF_REFUSED),
    *web_page("POST /app/tasks", CSRF_REFUSED),
    *web_page("POST /app/tasks/{task_id}/complete", CSRF_REFUSED),
    *web_page("POST /app/tasks/{task_id}/cancel", CSRF_REFUSED),
    *web_page("GET /app/auctions", REDIRECT),
    *web_page("POST /app/auctions", CSRF_REFUSED),
    *web_page("GET /app/auctions/{artwork_id}", REDIRECT),
    *web_page("POST /app/auctions/{artwork_id}/bids", CSRF_REFUSED),
    *web_page("GET /app/admin/escrows", REDIRECT),
    *web_page("GET /app/admin/payouts", REDIRECT),
    *web_page("POST /app/admin/payouts/{payout_id}/approve", CSRF_REFUSED, watch=("payout",)),
    *web_page("POST /app/admin/payouts/{payout_id}/reject", CSRF_REFUSED, watch=("payout",)),
    *web_page("GET /app/admin/disputes", REDIRECT),
    *web_page("GET /app/admin/reports", REDIRECT),
    *web_page("GET /app/admin/incidents", REDIRECT),
    *web_page("POST /app/admin/incidents/{incident_id}/replay", CSRF_REFUSED),
    *web_page("POST /app/admin/incidents/{incident_id}/dismiss", CSRF_REFUSED),
    *web_page(
        "POST /app/admin/webhooks/{provider}/{event_id}/replay",
        CSRF_REFUSED,
        use={"provider": "webhook_provider"},
    ),
    *web_page("POST /app/admin/disputes/{dispute_id}/resolve", CSRF_REFUSED),
    *web_page("GET /app/static/{path}", OK, use={"path": "web_asset"}),
    # signed by the provider, not by a caller
    public(
        "POST /v1/webhooks/stripe",
        Expect(400, "webhook_signature_invalid"),
        body={"id": "evt_matrix", "object": "event"},
    ),
    public(
        "POST /v1/webhooks/paypal",
        Expect(400, "webhook_signature_invalid"),
        body={"id": "WH-MATRIX", "event_type": "CHECKOUT.ORDER.APPROVED"},
    ),
    # auth and users
    public(
        "POST /v1/auth/tokens", OK, body={"email": "{stranger_email}", "password": "{password}"}
    ),
    public(
        "POST /v1/users",
        OK,
        body={"email": "{fresh_email}", "password": "{password}", "name": "New"},
        stranger=Expect(403, "role_not_allowed"),
        bodies={
            "stranger": {
                "email": "{fresh_email}",
                "password": "{password}",
                "name": "Would-be admin",
                "role": "admin",
            }
        },
    ),
    person_only("GET /v1/users/me", stranger=OK),
    admin_only("GET /v1/users", member=ADMIN_REQUIRED, payee=ADMIN_REQUIRED),
    owner_only("GET /v1/users/{user_id}", payee=MISSING),
    owner_only("POST /v1/users/{user_id}", body={"name": "Not yours"}, watch=("user",)),
    # platform API keys
    admin_users_only("POST /v1/api_keys", body={"name": "matrix"}),
    admin_users_only("GET /v1/api_keys"),
    admin_users_only("GET /v1/api_keys/{key_id}"),
    admin_users_only("POST /v1/api_keys/{key_id}/revoke", watch=("api_key",)),
    # organizations
    person_only("POST /v1/organizations", body={"name": "Matrix Org"}),
    signed_in("GET /v1/organizations", stranger=OK),
    owner_only("GET /v1/organizations/{org_id}", member=OK),
    owner_only("GET /v1/organizations/{org_id}/members", member=OK),
    owner_only(
        "POST /v1/organizations/{org_id}/members",
        body={"user": "{stranger_id}", "role": "admin"},
        member=ORG_ADMIN_REQUIRED,
        watch=("org",),
    ),
    owner_only("GET /v1/organizations/{org_id}/members/{member_id}", member=OK),
    owner_only(
        "POST /v1/organizations/{org_id}/members/{member_id}",
        body={"role": "member"},
        member=ORG_ADMIN_REQUIRED,
        watch=("org",),
    ),
    owner_only(
        "DELETE /v1/organizations/{org_id}/members/{member_id}",
        member=ORG_ADMIN_REQUIRED,
        watch=("org",),
    ),
    # connected accounts (the organization's)
    person_only(
        "POST /v1/accounts",
        body={"organization": "{org_id}"},
        stranger=MISSING,
        member=ORG_ADMIN_REQUIRED,
    ),
    signed_in("GET /v1/accounts", stranger=OK),
    # an organization's account is its admins' alone: a plain member may not even read it
    owner_only(
        "GET /v1/accounts/{account_id}",
        member=ORG_ADMIN_REQUIRED,
        use={"account_id": "org_account_id"},
    ),
    owner_only(
        "POST /v1/accounts/{account_id}/onboarding_link",
        body={"return_url": RETURN_URL},
        member=ORG_ADMIN_REQUIRED,
        use={"account_id": "org_account_id"},
        watch=("org_account",),
    ),
    owner_only(
        "POST /v1/accounts/{account_id}/dashboard_link",
        member=ORG_ADMIN_REQUIRED,
        use={"account_id": "org_account_id"},
    ),
    owner_only(
        "POST /v1/accounts/{account_id}/refresh",
        member=ORG_ADMIN_REQUIRED,
        use={"account_id": "org_account_id"},
        watch=("org_account",),
    ),
    # the payer's customer and saved cards: "me" only, so another's card comes in the body
    person_only("GET /v1/customers/me", stranger=Expect(404, "customer_missing")),
    person_only(
        "POST /v1/customers/me",
        body={"default_payment_method": "{pm_id}"},
        stranger=MISSING,
        watch=("cards",),
    ),
    person_only("POST /v1/customers/me/setup", body={"return_url": RETURN_URL}),
    person_only(
        "POST /v1/payment_methods/attach",
        body={"payment_method": "{pm_id}"},
        payee=Expect(400, "resource_missing"),
        watch=("cards",),
    ),
    person_only("GET /v1/payment_methods", stranger=OK),
    person_only(
        "POST /v1/payment_methods/{payment_method}/detach",
        stranger=MISSING,
        payee=MISSING,
        use={"payment_method": "pm_id"},
        watch=("cards",),
    ),
    # escrows: {escrow_id} is funded (money held for the payee), {open_escrow_id} not yet
    signed_in(
        "POST /v1/escrows",
        body=NEW_ESCROW,
        payee=Expect(403, "role_required"),
        api_key=Expect(403, "payer_required"),
    ),
    signed_in("GET /v1/escrows", stranger=OK),
    owner_only("GET /v1/escrows/{escrow_id}", member=MISSING),
    owner_only(
        "POST /v1/escrows/{escrow_id}/fund",
        body={"payment_method": "pm_card_visa"},
        payee=PAYEE_READ_ONLY,
        use={"escrow_id": "open_escrow_id"},
        watch=("open_escrow",),
    ),
    owner_only("POST /v1/escrows/{escrow_id}/capture", payee=PAYEE_READ_ONLY, watch=("escrow",)),
    owner_only("POST /v1/escrows/{escrow_id}/release", payee=PAYEE_READ_ONLY, watch=("escrow",)),
    owner_only("POST /v1/escrows/{escrow_id}/refund", payee=PAYEE_READ_ONLY, watch=("escrow",)),
    owner_only(
        "POST /v1/escrows/{escrow_id}/cancel",
        payee=PAYEE_READ_ONLY,
        use={"escrow_id": "open_escrow_id"},
        watch=("open_escrow",),
    ),
    owner_only(
        "POST /v1/escrows/{escrow_id}/allocations/{allocation_id}/assign",
        body={"payee": "{stranger_id}"},
        payee=PAYEE_READ_ONLY,
        use={"escrow_id": "open_escrow_id"},
        watch=("open_escrow",),
    ),
    # payee fee policies
    admin_only(
        "POST /v1/fee_policies/{party_id}",
        body={"fee_policy": {"rate_bps": 0}},
        payee=ADMIN_REQUIRED,
        watch=("fee_policy",),
    ),
    admin_only("GET /v1/fee_policies/{party_id}"),
    admin_only("DELETE /v1/fee_policies/{party_id}", payee=ADMIN_REQUIRED, watch=("fee_policy",)),
    # money views: ?party= names someone else's
    signed_in("GET /v1/balance", query={"party": "{payee_id}"}, stranger=MISSING, member=MISSING),
    signed_in("GET /v1/transactions", query={"party": "{payee_id}"}, stranger=MISSING),
    signed_in("GET /v1/transactions/summary", query={"party": "{payee_id}"}, stranger=MISSING),
    admin_only("GET /v1/reports/revenue", query={"period": "day"}, payee=ADMIN_REQUIRED),
    # payouts
    signed_in(
        "POST /v1/payouts",
        body={"amount": 100, "currency": "usd", "party": "{payee_id}"},
        bodies={"member": {"amount": 100, "currency": "usd", "party": "{org_id}"}},
        stranger=MISSING,
        member=Expect(403, "organization_admin_required"),
        api_key=Expect(403, "payee_required"),
        watch=("payout",),
    ),
    signed_in("GET /v1/payouts", stranger=OK),
    owner_only("GET /v1/payouts/{payout_id}", member=MISSING),
    admin_only(
        "POST /v1/payouts/{payout_id}/approve",
        payee=ADMIN_REQUIRED,
        member=ADMIN_REQUIRED,
        watch=("payout",),
    ),
    admin_only(
        "POST /v1/payouts/{payout_id}/reject",
        body={"reason": "not yours to reject"},
        payee=ADMIN_REQUIRED,
        watch=("payout",),
    ),
    # the ledger
    admin_only("POST /v1/ledger/accounts", body={"code": "matrix:refused", "currency": "usd"}),
    admin_only("GET /v1/ledger/accounts"),
    admin_only("GET /v1/ledger/accounts/{account_id}", use={"account_id": "ledger_account_id"}),
    admin_only(
        "POST /v1/ledger/transfers",
        body={
            "id": "matrix_refused",
            "debit_account": "{ledger_account_id}",
            "credit_account": "{ledger_account_id}",
            "amount": 1,
            "currency": "usd",
        },
    ),
    admin_only("GET /v1/ledger/transfers/{transfer_id}"),
    # events
    signed_in("GET /v1/events", stranger=OK),
    owner_only("GET /v1/events/{event_id}", member=MISSING),
    signed_in("GET /v1/events/stream", stranger=OK, query={"seconds": "1"}),
    # the sandbox's clock
    admin_only("GET /v1/sandbox/clock"),
    admin_only("POST /v1/sandbox/clock/advance", body={"seconds": 1}),
    # incidents (failed jobs)
    admin_only("GET /v1/incidents"),
    admin_only("GET /v1/incidents/{incident_id}"),
    admin_only("POST /v1/incidents/{incident_id}/replay"),
    admin_only("POST /v1/incidents/{incident_id}/dismiss"),
    # disputes: {dispute_id} is open on the owner's {disputed_escrow_id}, paid to the payee
    owner_only(
        "POST /v1/disputes",
        body={"escrow": "{disputed_escrow_id}", "reason": "quality"},
        member=MISSING,
        payee=Expect(409, "dispute_already_open"),
        watch=("dispute",),
    ),
    signed_in("GET /v1/disputes", stranger=OK),
    owner_only("GET /v1/disputes/{dispute_id}", member=MISSING),
    owner_only(
        "POST /v1/disputes/{dispute_id}/evidence",
        body={"note": "not yours"},
        member=MISSING,
        watch=("dispute",),
    ),
    admin_only(
        "POST /v1/disputes/{dispute_id}/review",
        payee=ADMIN_REQUIRED,
        member=ADMIN_REQUIRED,
        watch=("dispute",),
    ),
    admin_only(
        "POST /v1/disputes/{dispute_id}/resolve",
        body={"outcome": "refund"},
        payee=ADMIN_REQUIRED,
        member=ADMIN_REQUIRED,
        watch=("dispute",),
    ),
    owner_only(
        "POST /v1/disputes/{dispute_id}/close",
        member=MISSING,
        payee=Expect(403, "not_dispute_opener"),
        watch=("dispute",),
    ),
    # payout schedules (the payee's own, or an organization's by its admins) and metrics
    signed_in(
        "GET /v1/payout_schedule",
        query={"party": "{payee_id}"},
        stranger=MISSING,
        member=MISSING,
        api_key=Expect(403, "payee_required"),
    ),
    signed_in(
        "POST /v1/payout_schedule",
        body={"interval": "daily", "party": "{payee_id}"},
        bodies={"member": {"interval": "daily", "party": "{org_id}"}},
        stranger=MISSING,
        member=ORG_ADMIN_REQUIRED,
        api_key=Expect(403, "payee_required"),
    ),
    # payout destinations: where a party's PayPal payouts go (the same rule as schedules)
    signed_in(
        "GET /v1/payout_destination",
        query={"party": "{payee_id}"},
        stranger=MISSING,
        member=MISSING,
        api_key=Expect(403, "payee_required"),
    ),
    signed_in(
        "POST /v1/payout_destination",
        body={"paypal_email": "payee@example.com", "party": "{payee_id}"},
        bodies={"member": {"paypal_email": "org@example.com", "party": "{org_id}"}},
        stranger=MISSING,
        member=ORG_ADMIN_REQUIRED,
        api_key=Expect(403, "payee_required"),
    ),
    admin_only("GET /v1/reports/metrics", payee=ADMIN_REQUIRED),
    # notifications: a person's own
    person_only("GET /v1/notifications", stranger=OK),
    person_only("GET /v1/notifications/unread_count", stranger=OK),
    person_only(
        "POST /v1/notifications/{notification_id}/read",
        stranger=MISSING,
        payee=MISSING,
        member=MISSING,
        watch=("notifications",),
    ),
    person_only("POST /v1/notifications/read_all", stranger=OK, watch=("notifications",)),
    person_only("GET /v1/notification_preferences", stranger=OK),
    person_only(
        "POST /v1/notification_preferences",
        body={"email": {"payment_received": False}},
        stranger=OK,
        watch=("notification_preferences",),
    ),
    # outbound webhook endpoints (the marketplace operator's)
    admin_only(
        "POST /v1/webhook_endpoints",
        body={"url": "https://market.test/hooks", "enabled_events": ["*"]},
        payee=ADMIN_REQUIRED,
    ),
    admin_only("GET /v1/webhook_endpoints"),
    admin_only("GET /v1/webhook_endpoints/{endpoint_id}"),
    admin_only("POST /v1/webhook_endpoints/{endpoint_id}", body={"disabled": True}),
    admin_only("POST /v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
    admin_only("GET /v1/webhook_endpoints/{endpoint_id}/deliveries"),
    admin_only("POST /v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"),
    # marketplace flows: seed 000's job marketplace ({job_id}: another client's open job of
    # three slots, {job_slot_id} claimed by a tester of its own and not submitted, so that no
    # matrix call moves its money; {draft_job_id}: that client's draft)
    person_only(
        "POST /v1/jobs",
        body={"title": "Matrix", "currency": "usd", "budget_per_tester": 1000, "max_testers": 2},
        stranger=OK,
        payee=Expect(403, "role_required"),
        member=Expect(403, "role_required"),
    ),
    signed_in("GET /v1/jobs", stranger=OK, payee=OK, api_key=OK),
    signed_in("GET /v1/jobs/{job_id}", stranger=OK, payee=OK, api_key=OK),
    signed_in(
        "POST /v1/jobs/{job_id}/publish",
        body={"payment_method": "pm_card_visa"},
        stranger=Expect(403, "job_client_required"),
        payee=Expect(403, "job_client_required"),
        api_key=Expect(409, "job_not_draft"),
    ),
    person_only(
        "POST /v1/jobs/{job_id}/claim",
        stranger=Expect(403, "role_required"),
        member=Expect(409, "payee_account_missing"),
        payee=OK,
    ),
    signed_in(
        "POST /v1/jobs/{job_id}/slots/{slot_id}/submit",
        body={"submission": "Not my slot"},
        use={"slot_id": "job_slot_id"},
        stranger=Expect(403, "slot_tester_required"),
        payee=Expect(403, "slot_tester_required"),
        api_key=Expect(403, "slot_tester_required"),
    ),
    signed_in(
        "POST /v1/jobs/{job_id}/slots/{slot_id}/approve",
        use={"slot_id": "job_slot_id"},
        stranger=Expect(403, "job_client_required"),
        payee=Expect(403, "job_client_required"),
        api_key=Expect(409, "slot_state_conflict"),
    ),
    signed_in(
        "POST /v1/jobs/{job_id}/slots/{slot_id}/reject",
        use={"slot_id": "job_slot_id"},
        stranger=Expect(403, "job_client_required"),
        payee=Expect(403, "job_client_required"),
        api_key=Expect(409, "slot_state_conflict"),
    ),
    signed_in(
        "POST /v1/jobs/{job_id}/slots/{slot_id}/dispute",
        body={"reason": "quality"},
        use={"slot_id": "job_slot_id"},
        stranger=Expect(403, "slot_party_required"),
        payee=Expect(403, "slot_party_required"),
        api_key=Expect(409, "slot_state_conflict"),
    ),
    signed_in(
        "POST /v1/jobs/{job_id}/cancel",
        use={"job_id": "draft_job_id"},
        stranger=MISSING,
        payee=MISSING,
        api_key=OK,
    ),
    # marketplace flows: seed 004's auction (a stranger's bid stays below the threshold)
    person_only(
        "POST /v1/auctions/artworks",
        body={"title": "Matrix", "currency": "usd", "threshold": 1000},
        stranger=Expect(409, "payee_account_missing"),
    ),
    signed_in("GET /v1/auctions/artworks", stranger=OK, payee=OK, api_key=OK),
    signed_in("GET /v1/auctions/artworks/{artwork_id}", stranger=OK, payee=OK, api_key=OK),
    person_only(
        "POST /v1/auctions/artworks/{artwork_id}/bids",
        body={"amount": 100, "currency": "usd"},
        stranger=OK,
        payee=Expect(403, "role_required"),
        member=Expect(403, "role_required"),
    ),
    signed_in("GET /v1/auctions/artworks/{artwork_id}/bids", stranger=OK, payee=OK, api_key=OK),
    # seed 002's gigs: {gig_id} is the payer's gig with the payee as its expert (authorized)
    person_only(
        "POST /v1/gigs",
        body={
            "expert": "{payee_id}",
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
        },
        payee=Expect(403, "role_required"),
        member=Expect(403, "role_required"),
    ),
    signed_in("GET /v1/gigs", stranger=OK, payee=OK, api_key=OK),
    owner_only("GET /v1/gigs/{gig_id}", payee=OK, member=MISSING),
    owner_only("GET /v1/gigs/{gig_id}/status", payee=OK, member=MISSING),
    owner_only(
        "POST /v1/gigs/{gig_id}/complete", payee=PAYEE_READ_ONLY, member=MISSING, watch=("gig",)
    ),
    owner_only(
        "POST /v1/gigs/{gig_id}/cancel", payee=PAYEE_READ_ONLY, member=MISSING, watch=("gig",)
    ),
    # marketplace flows: seed 001's handwork marketplace. Jobs are a public board; the world's
    # booking is another client's, with the payee as its hired worker (not paid yet).
    person_only(
        "POST /v1/bookings/jobs",
        body={"title": "Matrix", "currency": "usd", "budget": 1000},
        stranger=OK,
        payee=Expect(403, "role_required"),
        member=Expect(403, "role_required"),
    ),
    signed_in("GET /v1/bookings/jobs", stranger=OK, payee=OK, member=OK, api_key=OK),
    signed_in(
        "GET /v1/bookings/jobs/{job_id}",
        stranger=OK,
        payee=OK,
        member=OK,
        api_key=OK,
        use={"job_id": "booking_job_id"},
    ),
    person_only(
        "POST /v1/bookings/jobs/{job_id}/applications",
        use={"job_id": "booking_job_id"},
        stranger=Expect(403, "role_required"),
        payee=OK,
        member=Expect(409, "payee_account_missing"),
    ),
    signed_in(
        "GET /v1/bookings/jobs/{job_id}/applications",
        use={"job_id": "booking_job_id"},
        stranger=OK,
        payee=OK,
        member=OK,
        api_key=OK,
    ),
    person_only("GET /v1/bookings/summary/client", stranger=OK, payee=OK, member=OK),
    person_only("GET /v1/bookings/earnings/worker", stranger=OK, payee=OK, member=OK),
    person_only(
        "POST /v1/bookings",
        body={"application": "{booking_application_id}"},
        stranger=MISSING,
        payee=MISSING,
        member=MISSING,
        watch=("booking_job",),
    ),
    signed_in("GET /v1/bookings", stranger=OK, payee=OK, member=OK, api_key=OK),
    owner_only("GET /v1/bookings/{booking_id}", payee=OK, member=MISSING, api_key=OK),
    person_only(
        "POST /v1/bookings/{booking_id}/pay",
        body={"payment_method": "pm_card_visa"},
        stranger=MISSING,
        member=MISSING,
        payee=Expect(403, "booking_client_required"),
        watch=("booking",),
    ),
    person_only(
        "POST /v1/bookings/{booking_id}/complete",
        stranger=MISSING,
        member=MISSING,
        payee=Expect(409, "booking_not_paid"),
        watch=("booking",),
    ),
    person_only(
        "POST /v1/bookings/{booking_id}/release",
        stranger=MISSING,
        member=MISSING,
        payee=Expect(403, "booking_client_required"),
        watch=("booking",),
    ),
    # seed 003's tasks ({task_id}: an open task of a customer of its own, {bid_id}: a doer's
    # pending bid on it); only the task's customer (or the platform) accepts, completes, cancels
    person_only("GET /v1/tasks/dashboard/customer", stranger=OK, payee=OK, member=OK),
    # the doer's dashboard of an organization: its members' (the account part: its admins')
    person_only(
        "GET /v1/tasks/dashboard/doer",
        query={"organization": "{org_id}"},
        stranger=MISSING,
        payee=MISSING,
        member=OK,
    ),
    person_only(
        "POST /v1/tasks",
        body={"title": "Matrix", "currency": "usd"},
        stranger=OK,
        payee=Expect(403, "role_required"),
        member=Expect(403, "role_required"),
    ),
    signed_in("GET /v1/tasks", stranger=OK, payee=OK, member=OK, api_key=OK),
    signed_in("GET /v1/tasks/{task_id}", stranger=OK, payee=OK, api_key=OK),
    person_only(
        "POST /v1/tasks/{task_id}/bids",
        body={"amount": 100, "currency": "usd"},
        stranger=OK,
        payee=OK,
        member=Expect(404, "resource_missing"),
        bodies={"member": {"amount": 100, "currency": "usd", "organization": "{stranger_org}"}},
    ),
    signed_in("GET /v1/tasks/{task_id}/bids", stranger=OK, payee=OK, api_key=OK),
    signed_in(
        "POST /v1/tasks/{task_id}/bids/{bid_id}/accept",
        stranger=Expect(403, "customer_required"),
        payee=Expect(403, "customer_required"),
        member=Expect(403, "customer_required"),
    ),
    signed_in(
        "POST /v1/tasks/{task_id}/complete",
        stranger=Expect(403, "customer_required"),
        payee=Expect(403, "customer_required"),
    ),
    signed_in(
        "POST /v1/tasks/{task_id}/cancel",
        stranger=Expect(403, "customer_required"),
        payee=Expect(403, "customer_required"),
    ),
    # plans, subscriptions ({subscription_id}: the organization's Team plan) and plan limits
    public("GET /v1/plans", OK),
    admin_only(
        "POST /v1/plans",
        body={"code": "matrix", "name": "Matrix", "amount": 100, "currency": "usd"},
        member=ADMIN_REQUIRED,
        payee=ADMIN_REQUIRED,
    ),
    person_only(
        "POST /v1/subscriptions",
        body={"plan": "team", "organization": "{org_id}", "payment_method": "pm_card_visa"},
        stranger=MISSING,
        member=ORG_ADMIN_REQUIRED,
        watch=("subscription",),
    ),
    signed_in("GET /v1/subscriptions", stranger=OK),
    owner_only("GET /v1/subscriptions/{subscription_id}", member=OK, payee=MISSING),
    owner_only(
        "POST /v1/subscriptions/{subscription_id}/change_plan",
        body={"plan": "pro"},
        member=ORG_ADMIN_REQUIRED,
        payee=MISSING,
        watch=("subscription",),
    ),
    owner_only(
        "POST /v1/subscriptions/{subscription_id}/cancel",
        member=ORG_ADMIN_REQUIRED,
        payee=MISSING,
        watch=("subscription",),
    ),
    signed_in(
        "POST /v1/limits/check",
        body={"limit": "published_jobs_per_month", "owner": "{org_id}"},
        stranger=MISSING,
        member=OK,
    ),
    signed_in(
        "POST /v1/usage",
        body={"limit": "published_jobs_per_month", "owner": "{org_id}", "key": "matrix"},
        stranger=MISSING,
        payee=MISSING,
    ),
]

#: What a refusal must leave unchanged: (who reads it, path) per watched object.
WATCHES: dict[str, list[tuple[str, str]]] = {
    "escrow": [
        ("admin", "/v1/escrows/{escrow_id}"),
        ("admin", "/v1/balance?party={payee_id}"),
        ("admin", "/v1/events?object_id={escrow_id}&limit=100"),
    ],
    "open_escrow": [
        ("admin", "/v1/escrows/{open_escrow_id}"),
        ("admin", "/v1/events?object_id={open_escrow_id}&limit=100"),
    ],
    "payout": [
        ("admin", "/v1/payouts/{payout_id}"),
        ("admin", "/v1/balance?party={payee_id}"),
        ("admin", "/v1/payouts?party={payee_id}&limit=100"),
    ],
    "user": [("admin", "/v1/users/{user_id}")],
    "fee_policy": [("admin", "/v1/fee_policies/{party_id}")],
    "api_key": [("admin", "/v1/api_keys/{key_id}")],
    "org": [("admin", "/v1/organizations/{org_id}/members?limit=100")],
    "org_account": [("admin", "/v1/accounts/{org_account_id}")],
    "cards": [("owner", "/v1/customers/me"), ("owner", "/v1/payment_methods?limit=100")],
    "dispute": [
        ("admin", "/v1/disputes/{dispute_id}"),
        ("admin", "/v1/escrows/{disputed_escrow_id}"),
        ("admin", "/v1/events?object_id={dispute_id}&limit=100"),
    ],
    "gig": [
        ("admin", "/v1/gigs/{gig_id}"),
        ("admin", "/v1/balance?party={payee_id}"),
    ],
    "notifications": [("owner", "/v1/notifications?limit=100")],
    "booking": [
        ("admin", "/v1/bookings/{booking_id}"),
        ("admin", "/v1/escrows/{booking_escrow_id}"),
    ],
    "booking_job": [
        ("admin", "/v1/bookings/jobs/{booking_job_id}"),
        ("admin", "/v1/bookings/jobs/{booking_job_id}/applications?limit=100"),
    ],
    "notification_preferences": [("owner", "/v1/notification_preferences")],
    "subscription": [
        ("admin", "/v1/subscriptions/{subscription_id}"),
        ("admin", "/v1/events?object_id={subscription_id}&limit=100"),
    ],
}

#: escrowd's tables: a refused call adds or removes no row in any of them.
TABLES = (
    *USER_TABLES,
    "customers",
    "payment_methods",
    "connected_accounts",
    "escrows",
    "escrow_allocations",
    "escrow_operations",
    "payouts",
    "payee_fee_policies",
    "ledger_accounts",
    "ledger_transfers",
    "ledger_entries",
    "events",
    "jobs",
    "incidents",
    "disputes",
    "payout_schedules",
    "payout_destinations",
    "notifications",
    "notification_preferences",
    "plans",
    "subscriptions",
    "usage_counters",
    "usage_records",
    "gigs",
    "rate_limit_buckets",
    "testing_jobs",
    "testing_slots",
    "booking_jobs",
    "booking_applications",
    "bookings",
    "task_tasks",
    "task_bids",
)

_COUNT_ROWS = text("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES))


async def row_counts(container: Container) -> dict[str, int]:
    """Rows per table of ``TABLES``, read in one statement."""
    async with container.db.engine.connect() as conn:
        counts = (await conn.execute(_COUNT_ROWS)).one()
    return dict(zip(TABLES, (int(c) for c in counts), strict=True))


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


# --- the world: real objects, made once per database -----------------------------------------


@dataclass
class World:
    app: FastAPI
    container: Container
    client: httpx.AsyncClient
    ids: dict[str, str]
    #: The headers of each caller kind (``anonymous``: none), and of ``admin`` / ``owner``.
    headers: dict[str, dict[str, str]]
    #: Per caller kind, the ids it must never be shown (unless it sent them itself).
    private: dict[str, set[str]]

    def fill(self, value: Any) -> Any:
        """``value`` with each ``{name}`` replaced by that world id (``fresh_email``: a new
        one each time)."""
        if isinstance(value, str):
            return _PLACEHOLDER.sub(lambda m: self._id(m.group(1)), value)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    def _id(self, name: str) -> str:
        if name == "fresh_email":
            return unique_email("matrix")
        return self.ids[name]

    def path(self, row: Row) -> str:
        return _PLACEHOLDER.sub(lambda m: self._id(row.use.get(m.group(1), m.group(1))), row.path)

    def request_headers(self, caller: str, method: str) -> dict[str, str]:
        headers = dict(self.headers[caller])
        if method != "GET":  # fund, capture, release, refund and payouts require one
            headers["Idempotency-Key"] = f"matrix-{ULID()}"
        return headers

    async def snapshot(self, name: str) -> list[Any]:
        seen = []
        for who, path in WATCHES[name]:
            r = await self.client.get(self.fill(path), headers=self.headers[who])
            assert r.status_code == 200, r.text
            seen.append(r.json())
        return seen


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def matrix_db_url(request: pytest.FixtureRequest, shared_db_urls: dict[str, str]) -> str:
    backend: str = request.param
    if backend not in shared_db_urls:
        pytest.skip(f"{backend} not in ESCROWD_TEST_BACKENDS")
    return shared_db_urls[backend]


async def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(matrix_db_url: str) -> AsyncIterator[World]:
    settings = Settings(
        env=Environment.test,
        database_url=matrix_db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        marketplaces="all",
    )
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    container = build(settings, clock=clock)
    app = create_app(container, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as client:
        ctx = Ctx(client, container, Browser(client))
        admin = await make_user(container, role="admin")
        stranger = await make_user(container, role="client")
        # The platform's key the api_key caller uses, and another one, made by an admin.
        key = await _ok(
            await client.post("/v1/api_keys", json={"name": "matrix"}, headers=admin.headers)
        )
        target = await _ok(
            await client.post("/v1/api_keys", json={"name": "target"}, headers=admin.headers)
        )
        # A payee (a worker with a verified account) with money available, and their payout.
        payee = await earned(ctx, 5000)
        payout = await request_payout(ctx, payee, 1000)
        # The payer, her escrows (one funded, one open with an unassigned slot), her card.
        alice = await payer(ctx)
        escrow = await funded(ctx, alice, [(payee.id, 2000)])
        open_escrow = await create_escrow(ctx, alice, [(payee.id, 1000), (None, 500)])
        slot = next(a for a in open_escrow["allocations"] if a["payee"] is None)
        card = await _ok(
            await client.post(
                "/v1/payment_methods/attach",
                json={"payment_method": "pm_card_visa"},
                headers=alice.headers,
            )
        )
        customer = await _ok(await client.get("/v1/customers/me", headers=alice.headers))
        disputed = await funded(ctx, alice, [(payee.id, 1000)])
        dispute = await _ok(
            await client.post(
                "/v1/disputes",
                json={"escrow": disputed["id"], "reason": "quality"},
                headers={**alice.headers, "Idempotency-Key": f"matrix-{ULID()}"},
            )
        )
        # An organization, its admin, a plain member, and its connected account.
        org_admin = await make_user(container, role="worker")
        member = await make_user(container, role="worker")
        org_id = await make_org(client, org_admin, name="Matrix Studio")
        await add_member(client, org_id, org_admin, member)
        members = await _ok(
            await client.get(f"/v1/organizations/{org_id}/members", headers=org_admin.headers)
        )
        admin_membership = next(m for m in members["data"] if m["role"] == "admin")
        org_account = await create_account(client, org_admin, organization=org_id)
        team = await _ok(
            await client.post(
                "/v1/subscriptions",
                json={"plan": "team", "organization": org_id, "payment_method": "pm_card_visa"},
                headers={**org_admin.headers, "Idempotency-Key": f"matrix-{ULID()}"},
            )
        )
        await _ok(
            await client.post(
                f"/v1/fee_policies/{payee.id}",
                json={"fee_policy": {"rate_bps": 250}},
                headers=admin.headers,
            )
        )
        payee_accounts = await _ok(await client.get("/v1/accounts", headers=payee.headers))
        events = await _ok(
            await client.get(
                "/v1/events", params={"object_id": escrow["id"]}, headers=alice.headers
            )
        )
        ledger_accounts = await _ok(
            await client.get("/v1/ledger/accounts", params={"limit": 1}, headers=admin.headers)
        )
        # Seed 004: an artwork of a seller of its own (any signed-in caller may read the
        # artwork, and with it its seller's id), its threshold out of any matrix bid's reach.
        seller = await verified_payee(ctx)
        artwork = await _ok(
            await client.post(
                "/v1/auctions/artworks",
                json={"title": "Matrix", "currency": "usd", "threshold": 10**9},
                headers=seller.headers,
            )
        )
        # Seed 002: the payer's gig, the payee its expert, the card authorized.
        gig = await _ok(
            await client.post(
                "/v1/gigs",
                json={
                    "expert": payee.id,
                    "amount": 1500,
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                },
                headers={**alice.headers, "Idempotency-Key": f"matrix-{ULID()}"},
            )
        )
        # Seed 000: another client's job, published (its card paid), one slot claimed by a
        # tester of its own; and a draft of that client's.
        job_client = await payer(ctx)
        job_tester = await verified_payee(ctx)
        job = await _ok(
            await client.post(
                "/v1/jobs",
                json={
                    "title": "Matrix",
                    "currency": "usd",
                    "budget_per_tester": 1000,
                    "max_testers": 3,
                },
                headers=job_client.headers,
            )
        )
        await _ok(
            await client.post(
                f"/v1/jobs/{job['id']}/publish",
                json={"payment_method": "pm_card_visa"},
                headers={**job_client.headers, "Idempotency-Key": f"matrix-{ULID()}"},
            )
        )
        job_slot = await _ok(
            await client.post(f"/v1/jobs/{job['id']}/claim", headers=job_tester.headers)
        )
        draft_job = await _ok(
            await client.post(
                "/v1/jobs",
                json={
                    "title": "Matrix draft",
                    "currency": "usd",
                    "budget_per_tester": 1000,
                    "max_testers": 1,
                },
                headers=job_client.headers,
            )
        )
        # Seed 001: a client of its own posts two jobs (the board is public, and with it the
        # client's id): one open with a verified worker's application the matrix tries to
        # hire; on the other, the payee was hired (a booking, not paid yet).
        poster = await make_user(container, role="client")
        booking_job = await _ok(
            await client.post(
                "/v1/bookings/jobs",
                json={"title": "Matrix job", "currency": "usd", "budget": 1000},
                headers=poster.headers,
            )
        )
        application = await _ok(
            await client.post(
                f"/v1/bookings/jobs/{booking_job['id']}/applications",
                json={},
                headers=seller.headers,
            )
        )
        hired_job = await _ok(
            await client.post(
                "/v1/bookings/jobs",
                json={"title": "Matrix booking", "currency": "usd", "budget": 1000},
                headers=poster.headers,
            )
        )
        payee_application = await _ok(
            await client.post(
                f"/v1/bookings/jobs/{hired_job['id']}/applications", headers=payee.headers
            )
        )
        booking = await _ok(
            await client.post(
                "/v1/bookings",
                json={"application": payee_application["id"]},
                headers=poster.headers,
            )
        )
        # Seed 003: an open task of a customer of its own, the seller's pending bid on it, and
        # an organization the member does not belong to (a bid for it is refused).
        task_customer = await payer(ctx)
        task = await _ok(
            await client.post(
                "/v1/tasks",
                json={"title": "Matrix task", "currency": "usd"},
                headers=task_customer.headers,
            )
        )
        task_bid = await _ok(
            await client.post(
                f"/v1/tasks/{task['id']}/bids",
                json={"amount": 1000, "currency": "usd"},
                headers=seller.headers,
            )
        )
        stranger_org = await make_org(client, seller, name="Matrix Outsiders")
        # The payer's notifications, made from the events so far (emails are not sent here).
        await notify_events(container, email=False)
        notes = await _ok(await client.get("/v1/notifications", headers=alice.headers))
        ids = {
            "password": DEFAULT_PASSWORD,
            "stranger_id": stranger.id,
            "stranger_email": stranger.email,
            "user_id": alice.id,
            "payee_id": payee.id,
            "party_id": payee.id,
            "key_id": target["id"],
            "payout_id": payout["id"],
            "escrow_id": escrow["id"],
            "open_escrow_id": open_escrow["id"],
            "allocation_id": slot["id"],
            "pm_id": card["id"],
            "customer_id": customer["id"],
            "org_id": org_id,
            "member_id": admin_membership["id"],
            "org_account_id": org_account["id"],
            "subscription_id": team["id"],
            "payee_account_id": payee_accounts["data"][0]["id"],
            "event_id": events["data"][0]["id"],
            "ledger_account_id": ledger_accounts["data"][0]["id"],
            # Admin-only routes refuse before reading the id: well-formed ones suffice.
            "transfer_id": f"matrix_{ULID()}",
            "incident_id": f"inc_{ULID()}",
            "docs_asset": "swagger-ui.css",
            "web_asset": "app.css",
            "webhook_provider": "stripe",
            "disputed_escrow_id": disputed["id"],
            "dispute_id": dispute["id"],
            "notification_id": notes["data"][0]["id"],
            "endpoint_id": f"we_{ULID()}",
            "delivery_id": f"dlv_{ULID()}",
            "artwork_id": artwork["id"],
            "gig_id": gig["id"],
            "gig_escrow_id": gig["escrow"],
            "job_id": job["id"],
            "job_slot_id": job_slot["id"],
            "draft_job_id": draft_job["id"],
            "booking_job_id": booking_job["id"],
            "booking_application_id": application["id"],
            "booking_id": booking["id"],
            "booking_escrow_id": booking["payment"]["escrow"],
            "task_id": task["id"],
            "bid_id": task_bid["id"],
            "stranger_org": stranger_org,
        }
        payers = {ids[k] for k in ("user_id", "pm_id", "customer_id", "notification_id")}
        escrows = {
            ids[k]
            for k in (
                "escrow_id",
                "open_escrow_id",
                "allocation_id",
                "event_id",
                "disputed_escrow_id",
                "dispute_id",
                "gig_id",
                "gig_escrow_id",
            )
        }
        payees = {ids[k] for k in ("payee_id", "payout_id", "payee_account_id")}
        orgs = {ids[k] for k in ("org_id", "member_id", "org_account_id", "subscription_id")}
        bookings = {ids[k] for k in ("booking_id", "booking_escrow_id")}
        everything = payers | escrows | payees | orgs | bookings | {ids["key_id"]}
        private = {
            "anonymous": everything,
            "revoked_key": everything,
            "disabled_user": everything,
            "stranger": everything,
            # an organization's account is its admins' alone, not its members'
            "member": everything - (orgs - {ids["org_account_id"]}),
            # the payer is shown; the payee is the booking's worker
            "payee": everything - escrows - payees - bookings - {ids["user_id"]},
        }
        # Callers whose credential no longer works: a revoked key, a disabled user's token.
        revoked = await _ok(
            await client.post("/v1/api_keys", json={"name": "revoked"}, headers=admin.headers)
        )
        await _ok(await client.post(f"/v1/api_keys/{revoked['id']}/revoke", headers=admin.headers))
        disabled = await make_user(container, role="client")
        await _ok(
            await client.post(
                f"/v1/users/{disabled.id}", json={"disabled": True}, headers=admin.headers
            )
        )
        headers: dict[str, dict[str, str]] = {
            "anonymous": {},
            "stranger": stranger.headers,
            "member": member.headers,
            "payee": payee.headers,
            "api_key": bearer(key["secret"]),
            "revoked_key": bearer(revoked["secret"]),
            "disabled_user": disabled.headers,
            "admin": admin.headers,
            "owner": alice.headers,
        }
        yield World(app, container, client, ids, headers, private)
    await container.close()


# --- the checks -----------------------------------------------------------------------------------


def _cases() -> list[Any]:
    cases = []
    for row in MATRIX:
        for caller, expect in row.expect.items():
            marks = [pytest.mark.xfail(strict=True, reason=expect.bug)] if expect.bug else []
            cases.append(
                pytest.param(row, caller, id=f"{row.method} {row.path} [{caller}]", marks=marks)
            )
    return cases


def _assert_envelope(r: httpx.Response, expect: Expect, what: str) -> None:
    body = r.json()
    assert set(body) == {"error"}, f"{what}: not the error envelope: {body}"
    err = body["error"]
    assert set(err) == {"type", "code", "message", "param"}, f"{what}: {err}"
    for key in ("type", "code", "message"):
        assert isinstance(err[key], str), f"{what}: {err}"
        assert err[key], f"{what}: {err}"
    if expect.code is not None:
        assert err["code"] == expect.code, f"{what}: expected code {expect.code!r}: {err}"


@pytest.mark.parametrize(("row", "caller"), _cases())
@pytest.mark.asyncio(loop_scope="module")
async def test_access(world: World, row: Row, caller: Caller) -> None:
    expect = row.expect[caller]
    path = world.path(row)
    body = world.fill(row.bodies.get(caller, row.body))
    query = world.fill(dict(row.query))
    refused = expect.status >= 400
    counts = await row_counts(world.container) if refused else {}
    before = {name: await world.snapshot(name) for name in row.watch} if refused else {}

    r = await world.client.request(
        row.method,
        path,
        params=query,
        json=body,
        headers=world.request_headers(caller, row.method),
    )

    what = f"{row.method} {row.path} as {caller}"
    assert r.status_code == expect.status, (
        f"{what}: expected {expect.status} {expect.code or ''}, got {r.status_code}: {r.text}"
    )
    if refused and path.startswith("/v1/"):
        _assert_envelope(r, expect, what)
    sent = f"{path} {query} {body}"
    leaked = {i for i in world.private.get(caller, set()) if i in r.text and i not in sent}
    assert not leaked, f"{what}: shows another party's objects {sorted(leaked)}: {r.text}"
    if refused:
        assert await row_counts(world.container) == counts, (
            f"{what} was refused, yet rows were added or removed"
        )
        for name, seen in before.items():
            assert await world.snapshot(name) == seen, f"{what} was refused, yet {name} changed"


#: What each owner reads of their own objects: the 404s above hide objects that do exist.
OWN_READS = [
    ("owner", "/v1/escrows/{escrow_id}"),
    ("owner", "/v1/escrows/{open_escrow_id}"),
    ("owner", "/v1/users/{user_id}"),
    ("owner", "/v1/events/{event_id}"),
    ("owner", "/v1/disputes/{dispute_id}"),
    ("payee", "/v1/disputes/{dispute_id}"),
    ("payee", "/v1/payouts/{payout_id}"),
    ("payee", "/v1/accounts/{payee_account_id}"),
    ("payee", "/v1/balance"),
    ("member", "/v1/organizations/{org_id}/members/{member_id}"),
    ("admin", "/v1/api_keys/{key_id}"),
    ("admin", "/v1/fee_policies/{party_id}"),
]


@pytest.mark.asyncio(loop_scope="module")
async def test_the_hidden_objects_exist_and_their_owners_see_them(world: World) -> None:
    for who, path in OWN_READS:
        r = await world.client.get(world.fill(path), headers=world.headers[who])
        assert r.status_code == 200, f"{who} GET {path}: {r.text}"
    cards = await world.client.get("/v1/payment_methods", headers=world.headers["owner"])
    assert world.ids["pm_id"] in cards.text


def app_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every operation in /openapi.json and every route the app serves."""
    ops = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            ops.add(("GET", f"{route.path}/{{path}}"))
            continue
        for method in route.methods or ():
            if method != "HEAD":
                ops.add((method, str(route.path)))
    return ops


@pytest.mark.asyncio(loop_scope="module")
async def test_every_operation_of_the_app_has_a_row(world: World) -> None:
    served = app_operations(world.app)
    declared = {row.op for row in MATRIX}
    missing = sorted(served - declared)
    assert not missing, (
        "These operations have no row in the access matrix "
        "(tests/integration/test_access_matrix.py, MATRIX): add one line each, with the "
        "helper that says who may call it (public, signed_in, person_only, owner_only, "
        "admin_only, admin_users_only):\n"
        + "\n".join(f"  {method} {path}" for method, path in missing)
    )
    gone = sorted(declared - served)
    assert not gone, "MATRIX has rows for operations the app no longer serves: " + ", ".join(
        f"{method} {path}" for method, path in gone
    )


def test_the_matrix_is_well_formed() -> None:
    ops = [row.op for row in MATRIX]
    twice = sorted({op for op in ops if ops.count(op) > 1})
    assert not twice, f"operations with more than one row: {twice}"
    for row in MATRIX:
        if row.path.startswith("/v1/") and not row.public:
            assert row.expect.get("anonymous") == UNAUTHENTICATED, row.op
        for name in row.watch:
            assert name in WATCHES, (row.op, name)
