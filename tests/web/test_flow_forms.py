"""Creating, publishing and cancelling seed 000's jobs and seed 003's tasks from the app,
without a browser: the forms go through each flow's own service (its rules, its messages), a
refusal stores nothing and is shown next to the form, another user cannot act, and the
money-moving forms (publish, cancel) run once per form key. Both databases."""

from __future__ import annotations

import html

import httpx
from sqlalchemy import func, select

from escrowd.marketplace.jobs import models as job_models
from escrowd.marketplace.tasks.models import Task
from tests.escrows.conftest import Ctx, run_jobs, settle
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import make_user
from tests.web.test_auction_pages import as_
from tests.web.test_flow_pages import api, form_of
from tests.web.test_pages import csrf_of


async def jobs_titled(ctx: Ctx, title: str) -> int:
    async with ctx.container.db.transaction() as s:
        return int(
            await s.scalar(select(func.count()).where(job_models.TestingJob.title == title)) or 0
        )


async def tasks_titled(ctx: Ctx, title: str) -> int:
    async with ctx.container.db.transaction() as s:
        return int(await s.scalar(select(func.count()).where(Task.title == title)) or 0)


async def test_a_client_drafts_publishes_and_cancels_a_job_from_the_app(ctx: Ctx) -> None:
    owner = await make_user(ctx.container, role="client")
    title = f"Try our signup {owner.id}"
    web = await as_(ctx, owner)
    board = await web.get("/app/jobs")
    assert "Post a job" in board.text
    fields = form_of(board, "/app/jobs")
    good = {
        **fields, "title": title, "description": "Sign up twice.", "currency": "usd",
        "budget_per_tester": "25.00", "max_testers": "2",
    }  # fmt: skip

    # Refusals: shown next to the form with the typed values kept, and nothing stored.
    for bad, status, message in (
        ({"budget_per_tester": "25.001"}, 400, "more than 2 decimal places"),
        ({"max_testers": "0"}, 400, "Invalid max_testers"),
        ({"max_testers": "two"}, 400, "as a whole number"),
        ({"title": "  "}, 400, "Invalid title"),
        ({"currency": "xx"}, 400, "currency"),
    ):
        refused = await web.post("/app/jobs", data={**good, **bad})
        assert refused.status_code == status, (bad, refused.text)
        form = refused.text.split('action="/app/jobs"', 1)[1].split("</form>", 1)[0]
        assert message in form, (bad, form)
        assert "Sign up twice." in form  # what was typed stays
    assert await jobs_titled(ctx, title) == 0
    # Without the CSRF token: refused before anything runs.
    assert (await web.post("/app/jobs", data={**good, "csrf_token": ""})).status_code == 403

    # A payee sees no form, and the form posted anyway is the service's 403: nothing stored.
    worker = await make_user(ctx.container, role="worker")
    web = await as_(ctx, worker)
    board = await web.get("/app/jobs")
    assert "Post a job" not in board.text
    refused = await web.post("/app/jobs", data={**good, "csrf_token": csrf_of(board)})
    assert refused.status_code == 403
    assert "Jobs are posted by clients" in refused.text
    assert await jobs_titled(ctx, title) == 0

    web = await as_(ctx, owner)
    board = await web.get("/app/jobs")
    made = await web.post("/app/jobs", data={**good, "csrf_token": csrf_of(board)})
    assert made.status_code == 303, made.text
    job_id = made.headers["location"].split("/app/jobs/")[1].split("?")[0]
    job = await api(ctx, owner, "GET", f"/v1/jobs/{job_id}")
    assert (job["title"], job["status"], job["budget_per_tester"], job["max_testers"]) == (
        title, "draft", 2_500, 2,
    )  # fmt: skip
    path = f"/app/jobs/{job_id}"
    page = await web.get(made.headers["location"])
    assert "Job drafted" in page.text
    assert "save a card first" in page.text  # no saved card: no publish form
    assert f'action="{path}/publish"' not in page.text

    # Someone else: the draft is invisible to them, so its forms are the 404 page.
    other = await make_user(ctx.container, role="client")
    web = await as_(ctx, other)
    assert (await web.get(path)).status_code == 404
    token = csrf_of(await web.get("/app/jobs"))
    for action in ("publish", "cancel"):
        refused = await web.post(f"{path}/{action}", data={"csrf_token": token})
        assert refused.status_code == 404, refused.text
    assert (await api(ctx, owner, "GET", f"/v1/jobs/{job_id}"))["status"] == "draft"

    # A card that attaches but declines charges: refused on the page, the job stays a draft.
    attach = "/v1/payment_methods/attach"
    declining = await api(
        ctx, owner, "POST", attach, {"payment_method": "pm_card_chargeCustomerFail"}
    )
    visa = await api(ctx, owner, "POST", attach, {"payment_method": "pm_card_visa"})
    web = await as_(ctx, owner)
    page = await web.get(path)
    assert "Publish: pay 50.00 USD into escrow" in page.text
    publish = form_of(page, f"{path}/publish")
    assert publish["idempotency_key"].startswith("web_")
    declined = await web.post(
        f"{path}/publish", data={**publish, "payment_method": declining["id"]}
    )
    assert declined.status_code == 402, declined.text
    job = await api(ctx, owner, "GET", f"/v1/jobs/{job_id}")
    assert job["status"] == "draft"
    escrow_id = job["escrow"]
    # The refused form's key is free: the same form with a card that asks for 3-D Secure goes
    # through; the job stays a draft until the card is authenticated, and the page links the
    # authentication page (or publishing with another card).
    strong = await api(
        ctx, owner, "POST", attach, {"payment_method": "pm_card_authenticationRequired"}
    )
    asked = await web.post(f"{path}/publish", data={**publish, "payment_method": strong["id"]})
    assert asked.status_code == 303, asked.text
    page = await web.get(asked.headers["location"])
    assert "asks for 3-D Secure" in page.text
    assert "Published" not in page.text
    pending = await api(ctx, owner, "GET", f"/v1/escrows/{escrow_id}")
    assert pending["status"] == "requires_action"
    assert f'href="{html.escape(pending["next_action"]["url"])}"' in page.text
    assert (await api(ctx, owner, "GET", f"/v1/jobs/{job_id}"))["status"] == "draft"
    # That key is used now: the same form with another card is refused; a new form is not.
    reused = await web.post(f"{path}/publish", data={**publish, "payment_method": visa["id"]})
    assert reused.status_code == 422, reused.text
    assert "sent already with other values" in reused.text
    publish = form_of(page, f"{path}/publish")
    paid = await web.post(f"{path}/publish", data={**publish, "payment_method": visa["id"]})
    assert paid.status_code == 303, paid.text
    assert "Published" in (await web.get(paid.headers["location"])).text
    job = await api(ctx, owner, "GET", f"/v1/jobs/{job_id}")
    assert (job["status"], job["escrow"]) == ("open", escrow_id)
    # The same form again: its answer again, nothing charged twice (a second publish would
    # be refused: the job is no draft any more).
    again = await web.post(f"{path}/publish", data={**publish, "payment_method": visa["id"]})
    assert again.status_code == 303, again.text
    escrow = await api(ctx, owner, "GET", f"/v1/escrows/{escrow_id}")
    assert (escrow["status"], escrow["amount_held"]) == ("held", 5_000)

    # The published job is seen by others, but only its client may cancel it.
    web = await as_(ctx, worker)
    page = await web.get(path)
    assert f'action="{path}/cancel"' not in page.text
    refused = await web.post(f"{path}/cancel", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    assert "Only the job&#39;s client" in refused.text
    assert (await api(ctx, owner, "GET", f"/v1/jobs/{job_id}"))["status"] == "open"

    web = await as_(ctx, owner)
    page = await web.get(path)
    cancel = form_of(page, f"{path}/cancel")
    done = await web.post(f"{path}/cancel", data=cancel)
    assert done.status_code == 303, done.text
    again = await web.post(f"{path}/cancel", data=cancel)
    assert again.status_code == 303  # the same form: refunded once
    job = await api(ctx, owner, "GET", f"/v1/jobs/{job_id}")
    assert job["status"] == "cancelled"
    escrow = await api(ctx, owner, "GET", f"/v1/escrows/{escrow_id}")
    assert escrow["amount_refunded"] == 5_000
    page = await web.get(path)
    assert f'action="{path}/cancel"' not in page.text


async def test_a_customer_posts_and_cancels_a_task_from_the_app(ctx: Ctx) -> None:
    customer = await make_user(ctx.container, role="client")
    title = f"Paint a fence {customer.id}"
    web = await as_(ctx, customer)
    listing = await web.get("/app/tasks")
    assert "Post a task" in listing.text
    good = {**form_of(listing, "/app/tasks"), "title": title, "description": "", "currency": "eur"}
    for bad, message in (({"title": ""}, "Invalid title"), ({"currency": "zz"}, "currency")):
        refused = await web.post("/app/tasks", data={**good, **bad})
        assert refused.status_code == 400, refused.text
        form = refused.text.split('action="/app/tasks"', 1)[1].split("</form>", 1)[0]
        assert message in form, form
    assert await tasks_titled(ctx, title) == 0

    worker = await make_user(ctx.container, role="worker")
    web = await as_(ctx, worker)
    listing = await web.get("/app/tasks")
    assert "Post a task" not in listing.text
    refused = await web.post("/app/tasks", data={**good, "csrf_token": csrf_of(listing)})
    assert refused.status_code == 403
    assert "Tasks are posted by customers" in refused.text
    assert await tasks_titled(ctx, title) == 0

    web = await as_(ctx, customer)
    listing = await web.get("/app/tasks")
    made = await web.post("/app/tasks", data={**good, "csrf_token": csrf_of(listing)})
    assert made.status_code == 303, made.text
    task_id = made.headers["location"].split("/app/tasks/")[1].split("?")[0]
    task = await api(ctx, customer, "GET", f"/v1/tasks/{task_id}")
    assert (task["title"], task["status"], task["currency"]) == (title, "open", "eur")
    path = f"/app/tasks/{task_id}"
    page = await web.get(made.headers["location"])
    assert "Task posted" in page.text

    # Doers see the open task and may bid, but cannot cancel it.
    web = await as_(ctx, worker)
    page = await web.get(path)
    assert "Place bid" in page.text
    assert f'action="{path}/cancel"' not in page.text
    refused = await web.post(f"{path}/cancel", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    assert "Only the task&#39;s customer" in refused.text
    assert (await api(ctx, customer, "GET", f"/v1/tasks/{task_id}"))["status"] == "open"

    web = await as_(ctx, customer)
    page = await web.get(path)
    cancel = form_of(page, f"{path}/cancel")
    assert cancel["idempotency_key"].startswith("web_")
    done = await web.post(f"{path}/cancel", data=cancel)
    assert done.status_code == 303, done.text
    assert "Task cancelled" in (await web.get(done.headers["location"])).text
    again = await web.post(f"{path}/cancel", data=cancel)
    assert again.status_code == 303  # the same form: its answer again
    task = await api(ctx, customer, "GET", f"/v1/tasks/{task_id}")
    assert (task["status"], task["cancel_reason"]) == ("cancelled", "customer")
    # A new form on a cancelled task: the service's 409 on the page.
    refused = await web.post(f"{path}/cancel", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 409
    assert "This task is cancelled." in refused.text


async def test_a_job_paid_with_3d_secure_from_the_app_opens_when_the_client_comes_back(
    ctx: Ctx,
) -> None:
    owner = await make_user(ctx.container, role="client")
    strong = await api(
        ctx, owner, "POST", "/v1/payment_methods/attach",
        {"payment_method": "pm_card_threeDSecureRequired"},
    )  # fmt: skip
    job = await api(
        ctx, owner, "POST", "/v1/jobs",
        {"title": f"3DS {owner.id}", "currency": "usd", "budget_per_tester": 1_000,
         "max_testers": 1},
    )  # fmt: skip
    web = await as_(ctx, owner)
    path = f"/app/jobs/{job['id']}"
    publish = form_of(await web.get(path), f"{path}/publish")
    asked = await web.post(f"{path}/publish", data={**publish, "payment_method": strong["id"]})
    assert asked.status_code == 303, asked.text
    escrow_id = (await api(ctx, owner, "GET", f"/v1/jobs/{job['id']}"))["escrow"]
    escrow = await api(ctx, owner, "GET", f"/v1/escrows/{escrow_id}")
    page = httpx.URL(escrow["next_action"]["url"])
    done = await ctx.client.post(
        page.raw_path.decode(), data={"token": page.params["token"], "outcome": "complete"}
    )
    # The authentication page sends the client back to the job's page.
    assert done.status_code == 303, done.text
    back = httpx.URL(done.headers["location"])
    assert (back.path, back.params["done"]) == (path, "authenticated")
    await settle(ctx.container)  # the payment's webhook: the escrow is held
    shown = await web.get(f"{back.path}?{back.query.decode()}")
    assert shown.status_code == 200
    assert "Complete 3-D Secure" not in shown.text
    opened = await api(ctx, owner, "GET", f"/v1/jobs/{job['id']}")
    assert opened["status"] == "open"
    held = await api(ctx, owner, "GET", f"/v1/escrows/{escrow['id']}")
    assert (held["status"], held["amount_held"]) == ("held", 1_000)
    await run_jobs(ctx.container)  # the payment's fee: leave nothing for other tests to book
