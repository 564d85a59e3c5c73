"""A payer opens a dispute from the escrow's page, without a browser: the disputes service's
rules and messages (a bad reason, an unpaid escrow, a second dispute refused, a stranger
shown the 404 page), nothing changed by a refusal, the form sent twice opening one dispute,
and the dispute's status on the page until an admin decides it. Both databases."""

from __future__ import annotations

from tests.escrows.conftest import Ctx, verified_payee
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import make_user
from tests.web.test_auction_pages import as_
from tests.web.test_flow_pages import api, form_of
from tests.web.test_pages import csrf_of


def disputes_part(html: str) -> str:
    return html.split('id="disputes-heading"', 1)[1].split("</section>", 1)[0]


async def test_a_payer_disputes_a_held_escrow_once_and_follows_it(ctx: Ctx) -> None:
    payer = await make_user(ctx.container, role="client")
    payee = await verified_payee(ctx)
    allocations = [{"payee": payee.id, "amount": 4_000}]
    body = {"currency": "usd", "amount": 4_000, "allocations": allocations}
    escrow = await api(ctx, payer, "POST", "/v1/escrows", body)
    path = f"/app/escrows/{escrow['id']}"

    # Not paid yet: no form, and the form posted anyway is the service's 409.
    web = await as_(ctx, payer)
    page = await web.get(path)
    assert 'id="disputes-heading"' not in page.text
    early = await web.post(
        f"{path}/dispute", data={"csrf_token": csrf_of(page), "reason": "quality"}
    )
    assert early.status_code == 409, early.text
    assert "requires_payment" in disputes_part(early.text)

    card = {"payment_method": "pm_card_visa"}
    await api(ctx, payer, "POST", f"/v1/escrows/{escrow['id']}/fund", card)
    page = await web.get(path)
    form = form_of(page, f"{path}/dispute")
    assert form["idempotency_key"].startswith("web_")
    typed = {**form, "reason": "not_a_reason", "description": "Half the work is missing."}
    bad = await web.post(f"{path}/dispute", data=typed)
    assert bad.status_code == 400, bad.text
    part = disputes_part(bad.text)
    assert "Invalid reason" in part
    assert "Half the work is missing." in part  # what was typed stays
    after = await api(ctx, payer, "GET", f"/v1/escrows/{escrow['id']}")
    assert after["status"] == "held"

    # The payee sees no form; a stranger's post is the 404 page and changes nothing.
    web = await as_(ctx, payee)
    assert f'action="{path}/dispute"' not in (await web.get(path)).text
    stranger = await make_user(ctx.container, role="client")
    web = await as_(ctx, stranger)
    token = csrf_of(await web.get("/app/escrows"))
    refused = await web.post(f"{path}/dispute", data={"csrf_token": token, "reason": "quality"})
    assert refused.status_code == 404
    listed = await api(ctx, payer, "GET", f"/v1/disputes?escrow={escrow['id']}")
    assert listed["data"] == []

    # The refused form's key was left free: the corrected form goes through with it.
    web = await as_(ctx, payer)
    fresh = csrf_of(await web.get(path))  # signing in again made a new CSRF cookie
    sent = {**typed, "csrf_token": fresh, "reason": "incomplete"}
    opened = await web.post(f"{path}/dispute", data=sent)
    assert opened.status_code == 303, opened.text
    page = await web.get(opened.headers["location"])
    assert "Dispute opened" in page.text
    again = await web.post(f"{path}/dispute", data=sent)
    assert again.status_code == 303  # the same form: the same dispute
    listed = await api(ctx, payer, "GET", f"/v1/disputes?escrow={escrow['id']}")
    assert len(listed["data"]) == 1
    dispute = listed["data"][0]
    assert (dispute["reason"], dispute["description"], dispute["amount"]) == (
        "incomplete", "Half the work is missing.", 4_000,
    )  # fmt: skip
    assert f'data-testid="dispute-status-{dispute["id"]}">open<' in page.text
    assert 'data-testid="escrow-status">disputed<' in page.text
    assert f'action="{path}/dispute"' not in page.text  # one open dispute at a time
    second = await web.post(
        f"{path}/dispute", data={"csrf_token": csrf_of(page), "reason": "other"}
    )
    assert second.status_code == 409
    assert "already has an open dispute" in disputes_part(second.text)

    # The admins' queue has it; once decided, the payer's page shows how.
    admin = await make_user(ctx.container, role="admin")
    web = await as_(ctx, admin)
    assert dispute["id"] in (await web.get("/app/admin/disputes")).text
    await api(ctx, admin, "POST", f"/v1/disputes/{dispute['id']}/resolve", {"outcome": "refund"})
    web = await as_(ctx, payer)
    page = await web.get(path)
    assert f'data-testid="dispute-status-{dispute["id"]}">resolved<' in page.text
    assert "0.00 USD released, 40.00 USD refunded." in page.text
