"""An organization's payout settings in the app, without a browser: its admin connects the
organization's Stripe account through the sandbox's hosted onboarding and comes back to its
status (restricted with what is still required, then verified); a plain member is refused
(403), a stranger shown the 404 page, and neither creates anything. Both databases."""

from __future__ import annotations

from escrowd.accounts import service as accounts
from tests.accounts.conftest import add_member, local, make_org
from tests.escrows.conftest import Ctx
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import make_user
from tests.web.test_auction_pages import as_
from tests.web.test_flow_pages import form_of
from tests.web.test_pages import csrf_of


async def org_account_status(ctx: Ctx, org_id: str) -> str | None:
    async with ctx.container.db.transaction() as s:
        row = await accounts.account_for(s, party_id=org_id)
        return None if row is None else row.status


async def test_an_organizations_admin_onboards_its_account_and_only_they_may(ctx: Ctx) -> None:
    boss = await make_user(ctx.container, role="worker")
    member = await make_user(ctx.container, role="worker")
    stranger = await make_user(ctx.container, role="worker")
    org_id = await make_org(ctx.client, boss, name=f"Crew {boss.id}")
    await add_member(ctx.client, org_id, boss, member)
    settings = f"/app/organizations/{org_id}/payout-settings"
    connect = f"{settings}/connect"

    # A plain member sees the organization but not its payout settings, and cannot connect.
    web = await as_(ctx, member)
    listing = await web.get("/app/organizations")
    assert listing.status_code == 200, listing.text
    assert f"Crew {boss.id}" in listing.text
    assert f'href="{settings}"' not in listing.text
    page = await web.get(settings)
    assert page.status_code == 403
    refused = await web.post(connect, data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    # A stranger: as if the organization did not exist.
    web = await as_(ctx, stranger)
    assert f"Crew {boss.id}" not in (await web.get("/app/organizations")).text
    page = await web.get(settings)
    assert page.status_code == 404
    refused = await web.post(connect, data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 404
    assert await org_account_status(ctx, org_id) is None

    web = await as_(ctx, boss)
    listing = await web.get("/app/organizations")
    assert 'href="/app/organizations"' in listing.text  # in a payee's navigation
    assert f'href="{settings}"' in listing.text
    page = await web.get(settings)
    assert page.status_code == 200, page.text
    assert 'data-testid="account-status">not connected<' in page.text
    assert "Connect with Stripe" in page.text
    assert (await web.post(connect, data={})).status_code == 403  # no CSRF token
    assert await org_account_status(ctx, org_id) is None

    # Onboarding ends restricted: back on the organization's page with what is required.
    started = await web.post(connect, data=form_of(page, connect))
    assert started.status_code == 303, started.text
    assert "/connect/onboarding/" in started.headers["location"]
    back = await ctx.browser.onboard(started.headers["location"], outcome="restricted")
    assert back.status_code == 303, back.text
    assert local(back.headers["location"]) == f"{settings}?back=onboarding"
    page = await web.get(local(back.headers["location"]))
    assert 'data-testid="account-status">restricted<' in page.text
    assert "account is restricted" in page.text
    assert "(past due)" in page.text
    assert await org_account_status(ctx, org_id) == "restricted"
    # The boss's own account is untouched: the organization's is another.
    async with ctx.container.db.transaction() as s:
        assert await accounts.account_for(s, party_id=boss.id) is None

    # Onboarding again, this time verified.
    started = await web.post(connect, data=form_of(page, connect))
    assert started.status_code == 303, started.text
    back = await ctx.browser.onboard(started.headers["location"], outcome="verified")
    page = await web.get(local(back.headers["location"]))
    assert 'data-testid="account-status">verified<' in page.text
    assert "account is verified" in page.text
    assert f'action="{connect}"' not in page.text
    assert await org_account_status(ctx, org_id) == "verified"

    # The member is still refused the page now that the account exists.
    web = await as_(ctx, member)
    assert (await web.get(settings)).status_code == 403
