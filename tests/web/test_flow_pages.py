"""The marketplace flows' pages without a browser (seed 000 jobs, 001 bookings, 002 gigs,
003 tasks): each page shows what its flow's API shows the viewer, and each form goes through
the flow's own service, so the API's rules (who may do what, in which state) hold on the
page. Both databases; the flows' data is made through the API, as a marketplace backend
would."""

from __future__ import annotations

import re
from typing import Any

import httpx

from escrowd.app import create_app
from escrowd.bootstrap import build
from tests.escrows.conftest import Ctx, keyed, verified_payee
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import Account, make_user
from tests.web.test_auction_pages import as_
from tests.web.test_pages import BASE, csrf_of, sign_in

Json = dict[str, Any]


async def api(ctx: Ctx, who: Account, method: str, path: str, body: Json | None = None) -> Json:
    r = await ctx.client.request(method, path, json=body, headers=keyed(who.headers))
    assert r.status_code == 200, r.text
    out: Json = r.json()
    return out


def form_of(page: httpx.Response, action: str) -> dict[str, str]:
    """The hidden fields (CSRF token, idempotency key) of the form posting to ``action``."""
    found = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page.text, re.S
    )
    assert found, f"no form for {action} in:\n{page.text}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found[1]))


async def test_jobs_a_tester_claims_and_submits_and_the_client_rejects_then_approves(
    ctx: Ctx,
) -> None:
    client_ = await make_user(ctx.container, role="client")
    job = await api(
        ctx, client_, "POST", "/v1/jobs",
        {"title": "Test our checkout", "currency": "usd", "budget_per_tester": 10_000,
         "max_testers": 2},
    )  # fmt: skip
    job = await api(
        ctx, client_, "POST", f"/v1/jobs/{job['id']}/publish", {"payment_method": "pm_card_visa"}
    )
    assert job["status"] == "open"
    path = f"/app/jobs/{job['id']}"

    tester = await verified_payee(ctx)
    web = await as_(ctx, tester)
    board = await web.get("/app/jobs")
    assert board.status_code == 200, board.text
    assert 'href="/app/jobs"' in board.text  # the navigation links the flow
    assert "Test our checkout" in board.text
    assert "2 of 2" in board.text
    page = await web.get(path)
    assert "Claim a slot" in page.text
    claimed = await web.post(f"{path}/claim", data=form_of(page, f"{path}/claim"))
    assert claimed.status_code == 303, claimed.text
    page = await web.get(claimed.headers["location"])
    assert "You claimed a slot" in page.text
    assert "Claim a slot" not in page.text  # one slot per tester
    slot_id = (await api(ctx, tester, "GET", f"/v1/jobs/{job['id']}"))["slots"][0]["id"]
    submit = f"{path}/slots/{slot_id}/submit"
    empty = await web.post(submit, data={**form_of(page, submit), "submission": " "})
    assert empty.status_code == 400
    sent = await web.post(submit, data={**form_of(page, submit), "submission": "Found 3 bugs."})
    assert sent.status_code == 303, sent.text
    # The tester cannot approve their own slot, even by posting the form the page hides.
    mine = await web.get(path)
    assert "Approve" not in mine.text
    approve = f"{path}/slots/{slot_id}/approve"
    no = await web.post(approve, data={"csrf_token": csrf_of(mine)})
    assert no.status_code == 403
    assert "Only the job&#39;s client" in no.text

    # A payee without a verified account cannot claim: the service's 409, on the page.
    novice = await make_user(ctx.container, role="worker")
    web = await as_(ctx, novice)
    page = await web.get(path)
    refused = await web.post(f"{path}/claim", data=form_of(page, f"{path}/claim"))
    assert refused.status_code == 409, refused.text
    assert "Found 3 bugs." not in refused.text  # another tester's report stays hidden

    web = await as_(ctx, client_)
    page = await web.get(path)
    assert "Found 3 bugs." in page.text
    reject = f"{path}/slots/{slot_id}/reject"
    # Without the CSRF token: refused before anything runs.
    forged = await web.post(reject, data={"feedback": "no"})
    assert forged.status_code == 403
    rejected = await web.post(reject, data={**form_of(page, reject), "feedback": "Steps?"})
    assert rejected.status_code == 303
    slot = (await api(ctx, client_, "GET", f"/v1/jobs/{job['id']}"))["slots"][0]
    assert (slot["status"], slot["feedback"]) == ("rejected", "Steps?")

    web = await as_(ctx, tester)
    page = await web.get(path)
    assert "Steps?" in page.text
    await web.post(submit, data={**form_of(page, submit), "submission": "Steps: 1, 2, 3."})
    web = await as_(ctx, client_)
    page = await web.get(path)
    fields = form_of(page, approve)
    assert fields["idempotency_key"].startswith("web_")
    paid = await web.post(approve, data={**fields, "feedback": "Thanks"})
    assert paid.status_code == 303, paid.text
    after = await web.get(paid.headers["location"])
    assert "Approved" in after.text
    slot = (await api(ctx, client_, "GET", f"/v1/jobs/{job['id']}"))["slots"][0]
    assert slot["status"] == "paid"
    escrow = await api(ctx, client_, "GET", f"/v1/escrows/{job['escrow']}")
    assert escrow["amount_released"] == 10_000
    # The same form sent again releases nothing more: the slot is paid.
    again = await web.post(approve, data={**fields, "feedback": "Thanks"})
    assert again.status_code == 409
    escrow = await api(ctx, client_, "GET", f"/v1/escrows/{job['escrow']}")
    assert escrow["amount_released"] == 10_000


async def test_bookings_the_worker_completes_and_the_client_releases(ctx: Ctx) -> None:
    client_ = await make_user(ctx.container, role="client")
    worker = await verified_payee(ctx)
    job = await api(
        ctx, client_, "POST", "/v1/bookings/jobs",
        {"title": "Paint the fence", "currency": "usd", "budget": 20_000},
    )  # fmt: skip
    application = await api(ctx, worker, "POST", f"/v1/bookings/jobs/{job['id']}/applications")
    booking = await api(ctx, client_, "POST", "/v1/bookings", {"application": application["id"]})
    escrow_id = booking["payment"]["escrow"]
    complete = f"/app/bookings/{booking['id']}/complete"
    release = f"/app/bookings/{booking['id']}/release"

    # Unpaid: the client is offered Pay (the escrow page); the worker cannot complete yet.
    web = await as_(ctx, client_)
    mine = await web.get("/app/bookings")
    assert mine.status_code == 200, mine.text
    assert "Paint the fence" in mine.text
    assert "the client" in mine.text
    assert f'href="/app/escrows/{escrow_id}">Pay 200.00 USD' in mine.text.replace("\n", "")
    web = await as_(ctx, worker)
    page = await web.get("/app/bookings")
    assert "Mark the work complete" not in page.text
    early = await web.post(complete, data={"csrf_token": csrf_of(page)})
    assert early.status_code == 409
    assert "has not paid this booking yet" in early.text

    await api(
        ctx,
        client_,
        "POST",
        f"/v1/bookings/{booking['id']}/pay",
        {"payment_method": "pm_card_visa"},
    )
    # The client cannot mark the work complete; the worker cannot release the money.
    web = await as_(ctx, client_)
    page = await web.get("/app/bookings")
    assert f'data-testid="booking-payment-{booking["id"]}">held<' in page.text
    no = await web.post(complete, data={"csrf_token": csrf_of(page)})
    assert no.status_code == 403
    assert "Only the booking&#39;s worker" in no.text
    too_soon = await web.post(release, data={"csrf_token": csrf_of(page)})
    assert too_soon.status_code == 409
    assert "has not marked this booking complete" in too_soon.text

    web = await as_(ctx, worker)
    page = await web.get("/app/bookings")
    done = await web.post(complete, data=form_of(page, complete))
    assert done.status_code == 303, done.text
    page = await web.get(done.headers["location"])
    assert "Marked complete" in page.text
    assert "Release" not in page.text
    not_theirs = await web.post(release, data={"csrf_token": csrf_of(page)})
    assert not_theirs.status_code == 403

    # A stranger's posts find no such booking.
    stranger = await make_user(ctx.container, role="client")
    web = await as_(ctx, stranger)
    page = await web.get("/app/bookings")
    assert "Paint the fence" not in page.text
    hidden = await web.post(release, data={"csrf_token": csrf_of(page)})
    assert hidden.status_code == 404

    web = await as_(ctx, client_)
    page = await web.get("/app/bookings")
    released = await web.post(release, data=form_of(page, release))
    assert released.status_code == 303, released.text
    after = await api(ctx, client_, "GET", f"/v1/bookings/{booking['id']}")
    assert after["payment"]["status"] == "released"
    assert after["payment"]["amount_released"] == 20_000


def hire_gig(expert: str, description: str) -> Json:
    return {"expert": expert, "amount": 20_000, "currency": "usd",
            "description": description, "payment_method": "pm_card_visa"}  # fmt: skip


async def test_gigs_the_client_completes_one_and_cancels_another_the_expert_only_reads(
    ctx: Ctx,
) -> None:
    client_ = await make_user(ctx.container, role="client")
    expert = await verified_payee(ctx)
    done_gig = await api(ctx, client_, "POST", "/v1/gigs", hire_gig(expert.id, "Build the site"))
    void_gig = await api(ctx, client_, "POST", "/v1/gigs", hire_gig(expert.id, "Logo design"))
    assert done_gig["status"] == void_gig["status"] == "authorized"
    path = f"/app/gigs/{done_gig['id']}"

    web = await as_(ctx, expert)
    listed = await web.get("/app/gigs")
    assert listed.status_code == 200, listed.text
    assert "Build the site" in listed.text
    assert "the expert" in listed.text
    page = await web.get(path)
    assert "180.00 USD" in page.text  # $200.00 less the 10 % commission
    assert "Complete" not in page.text
    assert "Only the gig's client completes or cancels it." in page.text
    # The expert cannot complete or cancel, even by posting the forms the page hides.
    for action in ("complete", "cancel"):
        no = await web.post(f"{path}/{action}", data={"csrf_token": csrf_of(page)})
        assert no.status_code == 403, no.text
        assert "only its client or the platform" in no.text
    # Someone else's gig is not found.
    stranger = await make_user(ctx.container, role="client")
    web = await as_(ctx, stranger)
    assert (await web.get(path)).status_code == 404
    assert "Build the site" not in (await web.get("/app/gigs")).text

    web = await as_(ctx, client_)
    page = await web.get(path)
    completed = await web.post(f"{path}/complete", data=form_of(page, f"{path}/complete"))
    assert completed.status_code == 303, completed.text
    page = await web.get(completed.headers["location"])
    assert 'data-testid="gig-status">completed<' in page.text
    assert "Cancel the gig" not in page.text
    late = await web.post(f"{path}/cancel", data={"csrf_token": csrf_of(page)})
    assert late.status_code == 409
    assert "Open a dispute" in late.text
    gig = await api(ctx, client_, "GET", f"/v1/gigs/{done_gig['id']}")
    assert (gig["status"], gig["escrow_status"]) == ("completed", "released")

    other = f"/app/gigs/{void_gig['id']}"
    page = await web.get(other)
    voided = await web.post(f"{other}/cancel", data=form_of(page, f"{other}/cancel"))
    assert voided.status_code == 303
    gig = await api(ctx, client_, "GET", f"/v1/gigs/{void_gig['id']}")
    assert (gig["status"], gig["escrow_status"]) == ("voided", "cancelled")
    listed = await web.get("/app/gigs")
    assert f'data-testid="gig-status-{void_gig["id"]}">voided<' in listed.text


async def test_tasks_doers_bid_the_customer_accepts_one_pays_and_completes(ctx: Ctx) -> None:
    customer = await make_user(ctx.container, role="client")
    task = await api(
        ctx, customer, "POST", "/v1/tasks",
        {"title": "Assemble a wardrobe", "currency": "usd"},
    )  # fmt: skip
    path = f"/app/tasks/{task['id']}"
    novice = await make_user(ctx.container, role="worker")  # no verified payout account
    doer = await verified_payee(ctx)

    web = await as_(ctx, novice)
    page = await web.get(path)
    assert page.status_code == 200, page.text
    bad = await web.post(f"{path}/bids", data={**form_of(page, f"{path}/bids"), "amount": "1.234"})
    assert bad.status_code == 400
    assert "more than 2 decimal places" in bad.text
    placed = await web.post(f"{path}/bids", data={**form_of(page, f"{path}/bids"), "amount": "80"})
    assert placed.status_code == 303, placed.text
    twice = await web.post(f"{path}/bids", data={**form_of(page, f"{path}/bids"), "amount": "70"})
    assert twice.status_code == 409  # one pending bid per doer
    web = await as_(ctx, doer)
    page = await web.get(path)
    assert "80.00 USD" not in page.text  # another doer's bid is not shown
    await web.post(f"{path}/bids", data={**form_of(page, f"{path}/bids"), "amount": "75.50"})
    assert "Your bids" in (await web.get(path)).text
    listed = await api(ctx, customer, "GET", f"/v1/tasks/{task['id']}/bids")
    bids = {b["amount"]: b["id"] for b in listed["data"]}
    assert set(bids) == {8_000, 7_550}
    # A doer cannot accept a bid.
    accept_own = f"{path}/bids/{bids[7_550]}/accept"
    no = await web.post(accept_own, data={"csrf_token": csrf_of(page)})
    assert no.status_code == 403
    assert "Only the task&#39;s customer" in no.text

    web = await as_(ctx, customer)
    page = await web.get(path)
    assert "Place bid" not in page.text
    assert "Accept 80.00 USD" in page.text
    assert "Accept 75.50 USD" in page.text
    # The KYC gate: the novice's bid cannot be accepted, and nothing changes.
    gate = f"{path}/bids/{bids[8_000]}/accept"
    refused = await web.post(gate, data=form_of(page, gate))
    assert refused.status_code == 409, refused.text
    assert (await api(ctx, customer, "GET", f"/v1/tasks/{task['id']}"))["status"] == "open"
    accepted = await web.post(accept_own, data=form_of(page, accept_own))
    assert accepted.status_code == 303, accepted.text
    page = await web.get(accepted.headers["location"])
    task = await api(ctx, customer, "GET", f"/v1/tasks/{task['id']}")
    assert (task["status"], task["doer"], task["amount"]) == ("assigned", doer.id, 7_550)
    assert f'href="/app/escrows/{task["escrow"]}">Pay 75.50 USD' in page.text
    assert "Complete" not in page.text  # not paid yet
    unpaid = await web.post(f"{path}/complete", data={"csrf_token": csrf_of(page)})
    assert unpaid.status_code == 409
    assert "not paid yet" in unpaid.text

    # The doer sees the task it does; the other bidder no longer sees it at all.
    web = await as_(ctx, doer)
    assert "(you do it)" in (await web.get("/app/tasks")).text
    web = await as_(ctx, novice)
    assert (await web.get(path)).status_code == 404

    await api(
        ctx, customer, "POST", f"/v1/escrows/{task['escrow']}/fund",
        {"payment_method": "pm_card_visa"},
    )  # fmt: skip
    web = await as_(ctx, customer)
    page = await web.get(path)
    assert 'data-testid="task-payment">payment in escrow<' in page.text
    done = await web.post(f"{path}/complete", data=form_of(page, f"{path}/complete"))
    assert done.status_code == 303, done.text
    task = await api(ctx, customer, "GET", f"/v1/tasks/{task['id']}")
    assert (task["status"], task["payment_status"]) == ("completed", "payment_released")


async def test_only_the_flows_escrowd_runs_have_pages_and_links(ctx: Ctx) -> None:
    settings = ctx.container.settings.model_copy(update={"marketplaces": "002"})
    only_gigs = build(settings, clock=ctx.container.clock)
    transport = httpx.ASGITransport(app=create_app(only_gigs, background=False))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as web:
            for flow in ("jobs", "bookings", "tasks", "auctions"):
                assert (await web.get(f"/app/{flow}")).status_code == 404
            assert (await web.get("/app/gigs")).status_code == 303  # served: sign in first
            who = await make_user(ctx.container, role="client")
            assert (await sign_in(web, who)).status_code == 303
            page = await web.get("/app/gigs")
            assert page.status_code == 200
            links = re.findall(r'<a href="(/app/[a-z]+)"', page.text)
            assert "/app/gigs" in links
            assert not {"/app/jobs", "/app/bookings", "/app/tasks", "/app/auctions"} & set(links)
    finally:
        await only_gigs.close()
