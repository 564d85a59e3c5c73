"""Onboarding links work once; escrowd's own refresh page makes a new one, as Stripe's flow
expects the platform to."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from tests.accounts.conftest import RETURN_URL, Browser, create_account, local, settle
from tests.integration.conftest import Account, make_user


async def _link(client: httpx.AsyncClient, user: Account, account_id: str) -> str:
    r = await client.post(
        f"/v1/accounts/{account_id}/onboarding_link",
        json={"return_url": RETURN_URL},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    url: str = r.json()["url"]
    return url


async def _refresh_location(client: httpx.AsyncClient, url: str) -> str:
    """Open a link twice, as a reload does; where the second visit is sent."""
    first = await client.get(local(url))
    assert first.status_code == 200, first.text
    again = await client.get(local(url))
    assert again.status_code == 303
    location: str = again.headers["location"]
    return location


async def test_the_hosted_page_says_the_link_works_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    page = await client.get(local(await _link(client, worker, acct["id"])))
    assert "This link works once" in page.text


async def test_a_reopened_link_leads_to_a_fresh_one_that_finishes_onboarding(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    location = await _refresh_location(client, await _link(client, worker, acct["id"]))
    public = container.settings.public_url.rstrip("/")
    assert location.startswith(f"{public}/accounts/{acct['id']}/onboarding/refresh?token=")

    refresh = await client.get(local(location))
    assert refresh.status_code == 200, refresh.text
    assert refresh.headers["cache-control"] == "no-store"
    assert "already been used or had expired" in refresh.text
    found = re.search(r"<a class=button href='([^']+)'>Continue onboarding</a>", refresh.text)
    assert found, refresh.text
    fresh = found.group(1).replace("&amp;", "&")

    done = await browser.onboard(fresh, outcome="verified")
    assert done.status_code == 303
    assert done.headers["location"] == RETURN_URL
    await settle(container)
    r = await client.get(f"/v1/accounts/{acct['id']}", headers=worker.headers)
    assert r.json()["status"] == "verified"

    # The refresh page keeps working for the same payee: each visit makes another link.
    again = await client.get(local(location))
    assert again.status_code == 200
    assert fresh not in again.text


async def test_a_callers_own_refresh_url_is_kept(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    r = await client.post(
        f"/v1/accounts/{acct['id']}/onboarding_link",
        json={"refresh_url": "https://market.test/mine", "return_url": RETURN_URL},
        headers=worker.headers,
    )
    assert await _refresh_location(client, r.json()["url"]) == "https://market.test/mine"


async def test_a_refresh_link_that_is_forged_moved_or_old_makes_no_link(
    client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    other = await create_account(client, await make_user(container, role="worker"))
    path = local(await _refresh_location(client, await _link(client, worker, acct["id"])))
    token = httpx.URL(path).params["token"]

    forged = await client.get(path[:-3] + ("abc" if not path.endswith("abc") else "xyz"))
    assert forged.status_code == 404
    moved = await client.get(f"/accounts/{other['id']}/onboarding/refresh", params={"token": token})
    assert moved.status_code == 404
    missing = await client.get(f"/accounts/{acct['id']}/onboarding/refresh")
    assert missing.status_code == 404
    for refused in (forged, moved, missing):
        assert "Continue onboarding" not in refused.text

    clock.advance(timedelta(days=1, seconds=1))
    old = await client.get(path)
    assert old.status_code == 410
    assert "Continue onboarding" not in old.text
