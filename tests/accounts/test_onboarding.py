"""Connected accounts end to end: create, onboard on the sandbox's hosted page, webhooks."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock, unix
from escrowd.sandbox.stripe.app import deliver_pending
from escrowd.webhooks.inbound import process_pending
from escrowd.webhooks.models import InboundWebhookEvent
from tests.accounts.conftest import (
    RETURN_URL,
    Browser,
    add_member,
    create_account,
    make_org,
    onboarded,
    onboarding_url,
    settle,
)
from tests.integration.conftest import assert_error, make_user


async def test_a_user_onboards_as_an_individual_and_the_webhook_makes_the_account_verified(
    client: httpx.AsyncClient, browser: Browser, container: Container, clock: FrozenClock
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker, metadata={"tier": "gold"})
    assert acct["id"].startswith("acct_")
    assert acct["provider"] == "stripe"
    assert acct["provider_account_id"].startswith("acct_")
    assert acct["provider_account_id"] != acct["id"]
    assert (acct["owner_type"], acct["owner_id"]) == ("user", worker.id)
    assert acct["business_type"] == "individual"
    assert acct["status"] == "pending_verification"
    assert not acct["charges_enabled"]
    assert not acct["payouts_enabled"]
    assert "individual.first_name" in acct["requirements"]["currently_due"]
    assert acct["metadata"] == {"tier": "gold"}

    r = await client.post(
        f"/v1/accounts/{acct['id']}/onboarding_link",
        json={"refresh_url": "https://market.test/again", "return_url": RETURN_URL},
        headers=worker.headers,
    )
    assert r.status_code == 200, r.text
    link = r.json()
    assert link["object"] == "account_link"
    assert link["account"] == acct["id"]
    assert link["expires_at"] == unix(clock.now()) + 300

    done = await browser.onboard(link["url"], outcome="verified")
    assert done.status_code == 303
    assert done.headers["location"] == RETURN_URL
    # The page only changed the provider's account; escrowd learns it from the webhook.
    still = await client.get(f"/v1/accounts/{acct['id']}", headers=worker.headers)
    assert still.json()["status"] == "pending_verification"
    # A used link is single use: opening it again goes to refresh_url.
    again = await client.get(httpx.URL(link["url"]).raw_path.decode())
    assert again.status_code == 303
    assert again.headers["location"] == "https://market.test/again"

    assert await settle(container) >= 2  # account.updated, capability.updated
    r = await client.get(f"/v1/accounts/{acct['id']}", headers=worker.headers)
    verified = r.json()
    assert verified["status"] == "verified"
    assert verified["charges_enabled"]
    assert verified["payouts_enabled"]
    assert verified["details_submitted"]
    assert verified["capabilities"] == {"transfers": "active"}
    assert verified["requirements"]["currently_due"] == []
    assert verified["requirements"]["past_due"] == []

    events = await client.get(
        "/v1/events", params={"type": "account.updated"}, headers=worker.headers
    )
    mine = [e for e in events.json()["data"] if e["data"]["object"]["id"] == acct["id"]]
    assert len(mine) == 1  # the capability event changed nothing more
    assert mine[0]["data"]["object"]["status"] == "verified"
    assert mine[0]["data"]["previous_attributes"]["status"] == "pending_verification"


async def test_the_capability_event_processed_first_still_records_the_change_once(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    """Stripe does not promise an order: when ``capability.updated`` is processed before
    ``account.updated``, the account still becomes verified with one escrowd event."""
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    await browser.onboard(await onboarding_url(client, worker, acct["id"]), outcome="verified")
    assert await deliver_pending(container) >= 2
    # Put the capability event first in the processing order (events of the same second are
    # otherwise taken in arrival order).
    async with container.db.transaction() as session:
        rows = (
            await session.scalars(
                select(InboundWebhookEvent).where(
                    InboundWebhookEvent.type.in_(("capability.updated", "account.updated")),
                    InboundWebhookEvent.status == "received",
                )
            )
        ).all()
        kinds = {row.type for row in rows}
        assert kinds == {"capability.updated", "account.updated"}
        first = min(row.event_created for row in rows) - timedelta(seconds=1)
        for row in rows:
            if row.type == "capability.updated":
                row.event_created = first
    assert await process_pending(container) >= 2
    assert await process_pending(container) == 0  # nothing failed, to be retried

    r = await client.get(f"/v1/accounts/{acct['id']}", headers=worker.headers)
    assert r.json()["status"] == "verified"
    assert r.json()["capabilities"] == {"transfers": "active"}
    events = await client.get(
        "/v1/events", params={"type": "account.updated"}, headers=worker.headers
    )
    mine = [e for e in events.json()["data"] if e["data"]["object"]["id"] == acct["id"]]
    assert len(mine) == 1
    assert mine[0]["data"]["previous_attributes"]["status"] == "pending_verification"


async def test_a_restricted_onboarding_shows_what_is_past_due(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await onboarded(client, browser, container, worker, outcome="restricted")
    assert acct["status"] == "restricted"
    assert acct["details_submitted"]
    assert acct["requirements"]["past_due"] == ["individual.verification.document"]
    assert acct["requirements"]["disabled_reason"] == "requirements.past_due"
    assert acct["capabilities"] == {"transfers": "inactive"}


async def test_an_organization_admin_onboards_the_organization_as_a_company(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    admin = await make_user(container, role="worker")
    member = await make_user(container, role="worker")
    org = await make_org(client, admin)
    await add_member(client, org, admin, member)

    refused = await client.post("/v1/accounts", json={"organization": org}, headers=member.headers)
    assert_error(refused, 403, "permission_error", "organization_admin_required")

    acct = await onboarded(client, browser, container, admin, organization=org)
    assert (acct["owner_type"], acct["owner_id"]) == ("organization", org)
    assert acct["business_type"] == "company"
    assert acct["status"] == "verified"

    # Only admins see or manage it: it holds the organization's payout details.
    seen = await client.get(f"/v1/accounts/{acct['id']}", headers=member.headers)
    assert_error(seen, 403, "permission_error", "organization_admin_required")
    listed = await client.get("/v1/accounts", headers=member.headers)
    assert [a["id"] for a in listed.json()["data"]] == []
    listed = await client.get("/v1/accounts", headers=admin.headers)
    assert [a["id"] for a in listed.json()["data"]] == [acct["id"]]
    for path in ("onboarding_link", "dashboard_link"):
        r = await client.post(
            f"/v1/accounts/{acct['id']}/{path}",
            json={"refresh_url": RETURN_URL, "return_url": RETURN_URL},
            headers=member.headers,
        )
        assert_error(r, 403, "permission_error", "organization_admin_required")

    dash = await client.post(f"/v1/accounts/{acct['id']}/dashboard_link", headers=admin.headers)
    assert dash.status_code == 200, dash.text
    page = await client.get(httpx.URL(dash.json()["url"]).raw_path.decode())
    assert page.status_code == 200
    assert "payouts enabled" in page.text

    # The organization's admin may still have an account of their own.
    own = await create_account(client, admin)
    assert own["owner_id"] == admin.id


async def test_someone_elses_account_is_not_found(
    client: httpx.AsyncClient, container: Container
) -> None:
    owner = await make_user(container, role="worker")
    other = await make_user(container, role="worker")
    acct = await create_account(client, owner)
    path = f"/v1/accounts/{acct['id']}"
    assert_error(await client.get(path, headers=other.headers), 404, "invalid_request_error")
    for action, body in (
        ("onboarding_link", {"refresh_url": RETURN_URL, "return_url": RETURN_URL}),
        ("dashboard_link", None),
        ("refresh", None),
    ):
        r = await client.post(f"{path}/{action}", json=body, headers=other.headers)
        assert_error(r, 404, "invalid_request_error", "resource_missing")
    listed = await client.get("/v1/accounts", headers=other.headers)
    assert acct["id"] not in [a["id"] for a in listed.json()["data"]]
    # An organization you are not in is not found either.
    org = await make_org(client, owner)
    r = await client.post("/v1/accounts", json={"organization": org}, headers=other.headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="organization")


async def test_admins_see_every_account_and_filter_by_status(
    client: httpx.AsyncClient, container: Container
) -> None:
    owner = await make_user(container, role="worker")
    admin = await make_user(container, role="admin")
    acct = await create_account(client, owner)
    r = await client.get(f"/v1/accounts/{acct['id']}", headers=admin.headers)
    assert r.status_code == 200
    r = await client.get(
        "/v1/accounts",
        params={"status": "pending_verification", "limit": 100},
        headers=admin.headers,
    )
    assert all(a["status"] == "pending_verification" for a in r.json()["data"])
    r = await client.get("/v1/accounts", params={"status": "verified"}, headers=owner.headers)
    assert r.json()["data"] == []


async def test_one_account_per_owner_and_an_api_key_cannot_create_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    from tests.integration.conftest import bearer, make_api_key

    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    again = await client.post("/v1/accounts", json={}, headers=worker.headers)
    err = assert_error(again, 409, "invalid_request_error", "account_exists")
    assert acct["id"] in err["message"]
    _, secret = await make_api_key(container)
    r = await client.post("/v1/accounts", json={}, headers=bearer(secret))
    assert_error(r, 403, "permission_error", "user_token_required")
    assert_error(await client.post("/v1/accounts", json={}), 401, "authentication_error")


async def test_refresh_pulls_the_status_when_the_webhook_has_not_arrived(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    url = await onboarding_url(client, worker, acct["id"])
    assert (await browser.onboard(url, outcome="verified")).status_code == 303
    r = await client.post(f"/v1/accounts/{acct['id']}/refresh", headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"
    # The webhooks arriving afterwards describe the same state: no second event.
    await settle(container)
    r = await client.get(
        "/v1/events", params={"type": "account.updated", "limit": 100}, headers=worker.headers
    )
    assert [e["data"]["object"]["id"] for e in r.json()["data"]].count(acct["id"]) == 1


async def test_the_event_a_webhook_causes_is_dated_by_escrowds_clock_not_the_providers(
    client: httpx.AsyncClient, browser: Browser, container: Container, clock: FrozenClock
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    url = await onboarding_url(client, worker, acct["id"])
    assert (await browser.onboard(url, outcome="verified")).status_code == 303
    provider_time = unix(clock.now())
    # The webhook is processed ten minutes after the provider made it: escrowd learned of
    # the change then, and its event says so; the provider's time only orders the events.
    clock.advance(timedelta(minutes=10))
    assert await settle(container) >= 1
    r = await client.get(
        "/v1/events", params={"type": "account.updated", "limit": 100}, headers=worker.headers
    )
    assert r.status_code == 200, r.text
    ours = [e for e in r.json()["data"] if e["data"]["object"]["id"] == acct["id"]]
    assert len(ours) == 1
    assert ours[0]["data"]["object"]["status"] == "verified"
    assert ours[0]["created"] == provider_time + 600


async def test_a_dashboard_link_waits_for_onboarding(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    r = await client.post(f"/v1/accounts/{acct['id']}/dashboard_link", headers=worker.headers)
    assert_error(r, 409, "invalid_request_error", "account_onboarding_unfinished")


@pytest.mark.parametrize("outcome", ["restricted", "verified"])
async def test_an_account_updated_event_older_than_the_stored_state_is_ignored(
    client: httpx.AsyncClient,
    browser: Browser,
    container: Container,
    clock: FrozenClock,
    outcome: str,
) -> None:
    """Onboarding ends one way, then (two minutes later) the other way; the second outcome's
    events arrive first and the first outcome's late: the account keeps the newer state."""
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    first, second = outcome, "verified" if outcome == "restricted" else "restricted"
    url = await onboarding_url(client, worker, acct["id"])
    assert (await browser.onboard(url, outcome=first)).status_code == 303
    clock.advance(timedelta(seconds=120))
    url = await onboarding_url(client, worker, acct["id"])
    assert (await browser.onboard(url, outcome=second)).status_code == 303

    captured: list[tuple[str, bytes, dict[str, str]]] = []

    async def capture(path: str, body: bytes, headers: dict[str, str]) -> int:
        if acct["provider_account_id"].encode() in body:
            captured.append((path, body, headers))
        return 200

    from escrowd.sandbox.stripe.app import deliver_pending
    from escrowd.webhooks.inbound import process_pending

    while await deliver_pending(container, send=capture):
        pass
    older: list[tuple[str, bytes, dict[str, str]]] = []
    newer: list[tuple[str, bytes, dict[str, str]]] = []
    for item in captured:
        created = json.loads(item[1])["created"]
        (older if created < unix(clock.now()) else newer).append(item)
    assert older
    assert newer
    for batch in (newer, older):
        for path, body, headers in batch:
            r = await client.post(path, content=body, headers=headers)
            assert r.status_code == 200, r.text
        await process_pending(container)

    r = await client.get(f"/v1/accounts/{acct['id']}", headers=worker.headers)
    assert r.json()["status"] == second
    events = await client.get(
        "/v1/events", params={"type": "account.updated", "limit": 100}, headers=worker.headers
    )
    statuses = [
        e["data"]["object"]["status"]
        for e in events.json()["data"]
        if e["data"]["object"]["id"] == acct["id"]
    ]
    assert statuses == [second]
