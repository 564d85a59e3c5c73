"""Seed 003, a task marketplace paid through Stripe Connect, walked through the HTTP API.

The seed's numbers: a task paid $1,000.00 (its ``amount: 1000.00``) with a 10 % platform fee
(``application_fee = amount * 0.10``, meant in dollars: $100.00) on a destination charge, so
the platform bears Stripe's 2.9 % + 30¢ ($29.30) and the doer receives $900.00. The seed's
second kind of doer, an organization, is paid for a second task of $450.00 (our number; the
seed gives one price only): $45.00 fee, $405.00 to the organization, $13.35 Stripe's.

Then the seed's ``account.application.deauthorized``: a forged event changes nothing; the
doer really disconnecting its account (the sandbox's Express dashboard) cancels its open
tasks — the paid one refunded to the customer, the unpaid one's escrow cancelled — and no new
escrow, bid acceptance or payout reaches that account any more. And an organization's plain
member can neither see nor set up its connected account.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS
from escrowd.ledger.verify import summary_lines, verify
from escrowd.marketplace.tasks import sweeps as task_sweeps
from escrowd.webhooks.models import InboundWebhookEvent
from tests.accounts.conftest import add_member, local, make_org, onboarded
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    Sandbox,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    keyed,
    ledger_balance,
    payer,
    person,
    quiet,
    settle,
    sweep,
    verified_payee,
)
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.escrows.test_forged_events import deliver, event_about
from tests.integration.conftest import Account, make_user

USER_TASK = 100_000  # $1,000.00, the seed's amount
USER_FEE = 10_000  # 10 %
USER_NET = USER_TASK - USER_FEE  # $900.00
USER_STRIPE = 2_900 + 30  # 2.9 % + 30¢, borne by the platform
ORG_TASK = 45_000  # $450.00
ORG_FEE = 4_500
ORG_NET = ORG_TASK - ORG_FEE  # $405.00
ORG_STRIPE = 1_305 + 30

Json = dict[str, Any]


async def ok(ctx: Ctx, who: Account, method: str, path: str, body: Json | None = None) -> Json:
    headers = keyed(who.headers) if method == "POST" else who.headers
    r = await ctx.client.request(method, path, json=body, headers=headers)
    assert r.status_code == 200, r.text
    out: Json = r.json()
    return out


async def refused(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None, status: int, code: str
) -> Json:
    headers = keyed(who.headers) if method == "POST" else who.headers
    r = await ctx.client.request(method, path, json=body, headers=headers)
    assert r.status_code == status, r.text
    error: Json = r.json()["error"]
    assert error["code"] == code, error
    return error


async def balance(ctx: Ctx, who: Account, party: str | None = None) -> Json:
    path = "/v1/balance" + (f"?party={party}" if party else "")
    found = await ok(ctx, who, "GET", path)
    usd = [b["amount"] for b in found["available"] if b["currency"] == "usd"]
    pending = [b["amount"] for b in found["pending"] if b["currency"] == "usd"]
    return {"available": sum(usd), "pending": sum(pending)}


async def post_task(ctx: Ctx, customer: Account, title: str) -> Json:
    task = await ok(ctx, customer, "POST", "/v1/tasks", {"title": title, "currency": "usd"})
    assert (task["status"], task["escrow"], task["payment_status"]) == ("open", None, None)
    return task


async def bid(ctx: Ctx, who: Account, task: Json, amount: int, org: str | None = None) -> Json:
    body: Json = {"amount": amount, "currency": "usd"}
    if org is not None:
        body["organization"] = org
    out = await ok(ctx, who, "POST", f"/v1/tasks/{task['id']}/bids", body)
    assert out["status"] == "pending"
    return out


async def accept(ctx: Ctx, customer: Account, task: Json, bid: Json) -> Json:
    out = await ok(ctx, customer, "POST", f"/v1/tasks/{task['id']}/bids/{bid['id']}/accept")
    assert (out["status"], out["doer"], out["payment_status"]) == (
        "assigned",
        bid["doer"],
        "pending_payment",
    )
    return out


async def pay(ctx: Ctx, customer: Account, task: Json) -> Json:
    paid = await ok(
        ctx,
        customer,
        "POST",
        f"/v1/escrows/{task['escrow']}/fund",
        {"payment_method": "pm_card_visa"},
    )
    assert paid["status"] == "held"
    shown = await ok(ctx, customer, "GET", f"/v1/tasks/{task['id']}")
    assert shown["payment_status"] == "payment_in_escrow"
    return paid


async def test_seed_003_tasks_for_a_user_and_an_organization_end_to_end(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    customer = await payer(ctx)
    doer = person(ctx, await verified_payee(ctx))
    newcomer = person(ctx, await make_user(ctx.container, role="worker"))  # no account yet
    org_admin = person(ctx, await make_user(ctx.container, role="worker"))
    member = person(ctx, await make_user(ctx.container, role="worker"))
    org = await make_org(ctx.client, org_admin, name="Seed 003 Agency")
    await add_member(ctx.client, org, org_admin, member)
    org_account = await onboarded(
        ctx.client, ctx.browser, ctx.container, org_admin, organization=org
    )
    assert (org_account["owner_id"], org_account["status"]) == (org, "verified")
    await quiet(ctx.container)  # earlier tests' leftovers are booked first
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    costs_before = await ledger_balance(ctx, PROCESSING_COSTS)

    # 1. The customer posts a task; three doers bid: a user, a newcomer without a verified
    # account, and an organization (its plain member bids for it).
    task = await post_task(ctx, customer, "Build a landing page")
    mine = await bid(ctx, doer, task, USER_TASK)
    early = await bid(ctx, newcomer, task, 95_000)
    agency = await bid(ctx, member, task, 120_000, org=org)
    assert (agency["doer"], agency["doer_type"], agency["placed_by"]) == (
        org,
        "organization",
        member.id,
    )
    await refused(
        ctx,
        customer,
        "POST",
        f"/v1/tasks/{task['id']}/bids",
        {"amount": 1, "currency": "usd"},
        403,
        "own_task",
    )
    seen = await ok(ctx, customer, "GET", f"/v1/tasks/{task['id']}/bids")
    assert {b["id"] for b in seen["data"]} == {mine["id"], early["id"], agency["id"]}
    own = await ok(ctx, doer, "GET", f"/v1/tasks/{task['id']}/bids")
    assert [b["id"] for b in own["data"]] == [mine["id"]]

    # 2. Accepting the newcomer's bid is refused: no verified account. Nothing changes.
    error = await refused(
        ctx,
        customer,
        "POST",
        f"/v1/tasks/{task['id']}/bids/{early['id']}/accept",
        None,
        409,
        "payee_account_missing",
    )
    assert newcomer.id in error["message"]
    still = await ok(ctx, customer, "GET", f"/v1/tasks/{task['id']}")
    assert (still["status"], still["escrow"]) == ("open", None)

    # 3. The customer accepts the user's bid: the task's escrow pays the user $1,000.00 less
    # the platform's 10 %; the other bids are rejected.
    task = await accept(ctx, customer, task, mine)
    escrow = await ok(ctx, customer, "GET", f"/v1/escrows/{task['escrow']}")
    assert escrow["payer"] == customer.id
    (alloc,) = escrow["allocations"]
    assert (alloc["payee"], alloc["amount"], alloc["platform_fee"]) == (
        doer.id,
        USER_TASK,
        USER_FEE,
    )
    assert (escrow["payment_window"], escrow["inspection_period"]) == (None, None)
    bids = await ok(ctx, customer, "GET", f"/v1/tasks/{task['id']}/bids")
    assert {b["id"]: b["status"] for b in bids["data"]} == {
        mine["id"]: "accepted",
        early["id"]: "rejected",
        agency["id"]: "rejected",
    }
    stranger = await payer(ctx)
    await refused(ctx, stranger, "GET", f"/v1/tasks/{task['id']}", None, 404, "resource_missing")
    await refused(
        ctx, customer, "POST", f"/v1/tasks/{task['id']}/complete", None, 409, "task_not_paid"
    )

    # 4. The customer pays into escrow, then completes the task: the user is paid $900.00.
    paid = await pay(ctx, customer, task)
    assert paid["payment"]["processing_fee"] == USER_STRIPE
    await refused(ctx, customer, "POST", f"/v1/tasks/{task['id']}/cancel", None, 409, "task_paid")
    await refused(
        ctx, doer, "POST", f"/v1/tasks/{task['id']}/complete", None, 403, "customer_required"
    )
    done = await ok(ctx, customer, "POST", f"/v1/tasks/{task['id']}/complete")
    assert (done["status"], done["payment_status"]) == ("completed", "payment_released")
    (transfer,) = await sandbox.transfers(task["escrow"])
    assert (transfer["amount"], transfer["destination"]) == (
        USER_NET,
        (await ok(ctx, doer, "GET", "/v1/accounts"))["data"][0]["provider_account_id"],
    )
    assert await balance(ctx, doer) == {"available": USER_NET, "pending": 0}

    # 5. A second task for the organization: $450.00, $405.00 to the organization.
    second = await post_task(ctx, customer, "Translate the site")
    org_bid = await bid(ctx, org_admin, second, ORG_TASK, org=org)
    second = await accept(ctx, customer, second, org_bid)
    paid = await pay(ctx, customer, second)
    assert paid["payment"]["processing_fee"] == ORG_STRIPE
    done = await ok(ctx, customer, "POST", f"/v1/tasks/{second['id']}/complete")
    assert done["status"] == "completed"
    (transfer,) = await sandbox.transfers(second["escrow"])
    assert (transfer["amount"], transfer["destination"]) == (
        ORG_NET,
        org_account["provider_account_id"],
    )
    assert await balance(ctx, org_admin, org) == {"available": ORG_NET, "pending": 0}
    assert await balance(ctx, doer) == {"available": USER_NET, "pending": 0}

    # 6. The dashboards: tasks, payments and totals, to the cent.
    board = await ok(ctx, customer, "GET", "/v1/tasks/dashboard/customer")
    assert [t["id"] for t in board["tasks"]] == [second["id"], task["id"]]
    assert sorted(
        (p["task"], p["amount"], p["platform_fee"], p["net"]) for p in board["payments"]
    ) == sorted(
        [(task["id"], USER_TASK, USER_FEE, USER_NET), (second["id"], ORG_TASK, ORG_FEE, ORG_NET)]
    )
    assert board["totals"] == [
        {"currency": "usd", "in_escrow": 0, "released": USER_TASK + ORG_TASK, "refunded": 0}
    ]
    mine_board = await ok(ctx, doer, "GET", "/v1/tasks/dashboard/doer")
    assert mine_board["account"]["status"] == "verified"
    assert [t["id"] for t in mine_board["tasks"]] == [task["id"]]
    assert mine_board["totals"] == [
        {"currency": "usd", "in_escrow": 0, "released": USER_NET, "refunded": 0}
    ]
    org_board = await ok(ctx, org_admin, "GET", f"/v1/tasks/dashboard/doer?organization={org}")
    assert (org_board["doer"], org_board["account"]["id"]) == (org, org_account["id"])
    assert [(p["task"], p["net"]) for p in org_board["payments"]] == [(second["id"], ORG_NET)]
    assert org_board["totals"] == [
        {"currency": "usd", "in_escrow": 0, "released": ORG_NET, "refunded": 0}
    ]
    member_board = await ok(ctx, member, "GET", f"/v1/tasks/dashboard/doer?organization={org}")
    assert member_board["account"] is None
    assert member_board["totals"] == org_board["totals"]
    await refused(
        ctx,
        stranger,
        "GET",
        f"/v1/tasks/dashboard/doer?organization={org}",
        None,
        404,
        "resource_missing",
    )

    # The platform earned its 10 % of both and paid Stripe's fees on both.
    assert await ledger_balance(ctx, PLATFORM_FEES) - fees_before == USER_FEE + ORG_FEE
    assert costs_before - await ledger_balance(ctx, PROCESSING_COSTS) == USER_STRIPE + ORG_STRIPE
    report = await verify(ctx.container.db)
    assert report.ok, summary_lines(report)


async def test_a_plain_member_can_neither_see_nor_set_up_the_organizations_account(
    ctx: Ctx,
) -> None:
    org_admin = await make_user(ctx.container, role="worker")
    member = await make_user(ctx.container, role="worker")
    org = await make_org(ctx.client, org_admin, name="Members only")
    await add_member(ctx.client, org, org_admin, member)

    await refused(
        ctx,
        member,
        "POST",
        "/v1/accounts",
        {"organization": org},
        403,
        "organization_admin_required",
    )
    account = await onboarded(ctx.client, ctx.browser, ctx.container, org_admin, organization=org)
    await refused(
        ctx,
        member,
        "GET",
        f"/v1/accounts/{account['id']}",
        None,
        403,
        "organization_admin_required",
    )
    listed = await ok(ctx, member, "GET", "/v1/accounts")
    assert account["id"] not in [a["id"] for a in listed["data"]]
    for action in ("onboarding_link", "dashboard_link", "refresh"):
        await refused(
            ctx,
            member,
            "POST",
            f"/v1/accounts/{account['id']}/{action}",
            {"return_url": "https://market.test/back"} if action == "onboarding_link" else None,
            403,
            "organization_admin_required",
        )
    board = await ok(ctx, member, "GET", f"/v1/tasks/dashboard/doer?organization={org}")
    assert board["account"] is None
    # Its admins do see it.
    assert (await ok(ctx, org_admin, "GET", f"/v1/accounts/{account['id']}"))["id"] == account["id"]
    board = await ok(ctx, org_admin, "GET", f"/v1/tasks/dashboard/doer?organization={org}")
    assert board["account"]["id"] == account["id"]


async def test_a_deauthorized_doer_loses_its_open_tasks_and_its_account_gets_no_money(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    customer = await payer(ctx)
    doer = person(ctx, await verified_payee(ctx))
    (acct,) = (await ok(ctx, doer, "GET", "/v1/accounts"))["data"]

    # A finished task: $100.00, $90.00 to the doer, stays theirs.
    finished = await post_task(ctx, customer, "Logo")
    finished = await accept(ctx, customer, finished, await bid(ctx, doer, finished, 10_000))
    await pay(ctx, customer, finished)
    await ok(ctx, customer, "POST", f"/v1/tasks/{finished['id']}/complete")
    # A paid task ($200.00, held), an accepted unpaid one ($80.00), a pending bid.
    held = await post_task(ctx, customer, "Copy")
    held = await accept(ctx, customer, held, await bid(ctx, doer, held, 20_000))
    held_escrow = await pay(ctx, customer, held)
    unpaid = await post_task(ctx, customer, "Icons")
    unpaid = await accept(ctx, customer, unpaid, await bid(ctx, doer, unpaid, 8_000))
    bidding = await post_task(ctx, customer, "Photos")
    pending_bid = await bid(ctx, doer, bidding, 5_000)
    assert await balance(ctx, doer) == {"available": 9_000, "pending": 0}

    # A forged deauthorization (validly signed; the account is still the platform's): the
    # provider says otherwise, the event is rejected, nothing changes.
    forged = event_about(
        {"id": "ca_forged", "object": "application", "name": "escrowd"},
        "account.application.deauthorized",
        account=acct["provider_account_id"],
    )
    await deliver(ctx, forged)
    async with ctx.container.db.transaction() as s:
        status = await s.scalar(
            select(InboundWebhookEvent.status).where(InboundWebhookEvent.event_id == forged["id"])
        )
    assert status == "rejected"
    assert (await ok(ctx, doer, "GET", f"/v1/accounts/{acct['id']}"))["deauthorized"] is None
    assert await sweep(ctx.container, task_sweeps.deauthorized_doers) == 0
    assert (await ok(ctx, customer, "GET", f"/v1/tasks/{held['id']}"))["status"] == "assigned"

    # The doer really disconnects (the Express dashboard's button): Stripe sends the event,
    # escrowd confirms it with Stripe and marks the account.
    link = await ok(ctx, doer, "POST", f"/v1/accounts/{acct['id']}/dashboard_link")
    page = await ctx.client.get(local(link["url"]))
    assert "Disconnect from the platform" in page.text, page.text
    gone = await ctx.client.post(local(link["url"]), data={"action": "deauthorize"})
    assert gone.status_code == 200, gone.text
    await settle(ctx.container)
    assert (await ok(ctx, doer, "GET", f"/v1/accounts/{acct['id']}"))["deauthorized"] is not None

    # The sweep cancels its open tasks through the core: the paid one refunded in full to
    # the customer, the unpaid one's escrow cancelled, the pending bid rejected.
    assert await sweep(ctx.container, task_sweeps.deauthorized_doers) == 2
    for t, pay_status in ((held, "refunded"), (unpaid, "cancelled")):
        shown = await ok(ctx, customer, "GET", f"/v1/tasks/{t['id']}")
        assert (shown["status"], shown["cancel_reason"], shown["payment_status"]) == (
            "cancelled",
            "doer_account_deauthorized",
            pay_status,
        )
    (refund,) = await sandbox.refunds(held_escrow["payment"]["id"])
    assert refund["amount"] == 20_000
    assert await sandbox.transfers(held["escrow"]) == []
    bids = await ok(ctx, doer, "GET", f"/v1/tasks/{bidding['id']}/bids")
    assert [(b["id"], b["status"]) for b in bids["data"]] == [(pending_bid["id"], "rejected")]
    assert await sweep(ctx.container, task_sweeps.deauthorized_doers) == 0
    board = await ok(ctx, customer, "GET", "/v1/tasks/dashboard/customer")
    assert board["totals"] == [
        {"currency": "usd", "in_escrow": 0, "released": 10_000, "refunded": 20_000}
    ]
    # What the doer had earned stays theirs; nothing new reaches the account.
    assert await balance(ctx, doer) == {"available": 9_000, "pending": 0}
    late = await bid(ctx, doer, bidding, 6_000)
    await refused(
        ctx,
        customer,
        "POST",
        f"/v1/tasks/{bidding['id']}/bids/{late['id']}/accept",
        None,
        409,
        "payee_account_deauthorized",
    )
    await refused(
        ctx,
        customer,
        "POST",
        "/v1/escrows",
        {"currency": "usd", "amount": 1_000, "allocations": [{"payee": doer.id, "amount": 1_000}]},
        409,
        "payee_account_deauthorized",
    )
    await refused(
        ctx,
        doer,
        "POST",
        "/v1/payouts",
        {"amount": 1_000, "currency": "usd"},
        409,
        "payee_account_deauthorized",
    )
    assert re.search(r"disconnected", (await ctx.client.get(local(link["url"]))).text)
    report = await verify(ctx.container.db)
    assert report.ok, summary_lines(report)
