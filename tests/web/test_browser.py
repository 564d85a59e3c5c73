"""The web app in a real browser (chromium, headless) against a real ``escrowd serve``.

Each test makes its data through the API as a marketplace backend would (users, escrows,
releases), then does in the browser what a person does: sign in, pay on the sandbox's hosted
card form, pass 3-D Secure, request a payout, approve it, resolve a dispute. Escrow states
reached through webhooks (3-D Secure) arrive through the page's live status.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from escrowd.bootstrap import Container
from escrowd.escrows import tasks as escrow_tasks
from escrowd.jobs.registry import JobContext, JobInfo
from escrowd.marketplace.auctions import service as auction_service
from tests.integration.conftest import Account
from tests.web.conftest import Live


def sign_in(page: Page, who: Account) -> None:
    page.goto("/app/sign-in")
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def pay_with(page: Page, live: Live, payer: Account, escrow_id: str, card: str) -> None:
    sign_in(page, payer)
    page.goto("/app/escrows")
    page.get_by_role("link", name=escrow_id).click()
    expect(page.get_by_test_id("escrow-status")).to_have_text("requires payment")
    expect(page.get_by_role("cell", name="4000 0000 0000 0002")).to_be_visible()  # test cards
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page).to_have_url(re.compile(r"/checkout/card-form"))
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry (MM/YY)").fill("12/40")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Save card").click()


def test_a_payer_pays_with_the_4242_card_and_sees_the_money_held(page: Page, live: Live) -> None:
    payer = live.user("client")
    escrow_id = live.escrow(payer, None, 2500, description="Logo design")
    pay_with(page, live, payer, escrow_id, "4242 4242 4242 4242")
    expect(page).to_have_url(re.compile(f"/app/escrows/{escrow_id}$"))
    expect(page.get_by_test_id("escrow-status")).to_have_text("held")
    expect(page.locator(".trail")).to_contain_text("escrow.funded")
    assert live.get(payer, f"/v1/escrows/{escrow_id}")["status"] == "held"
    # With the page open, a change made elsewhere (the marketplace refunds) arrives live.
    live.post(payer, f"/v1/escrows/{escrow_id}/refund")
    expect(page.get_by_test_id("escrow-status")).to_have_text("refunded")


def test_a_payer_saves_a_card_pays_an_escrow_with_it_and_disputes_it(
    page: Page, live: Live
) -> None:
    payer = live.user("client")
    escrow_id = live.escrow(payer, None, 1800, description="Banner")
    sign_in(page, payer)
    page.get_by_role("link", name="Payment methods").click()
    expect(page.get_by_text("No saved cards yet.")).to_be_visible()
    page.get_by_role("button", name="Add a card").click()
    expect(page).to_have_url(re.compile(r"/checkout/card-form"))
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/40")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page).to_have_url(re.compile(r"/app/payment-methods\?done=saved$"))
    expect(page.get_by_role("cell", name="Visa ending 4242", exact=True)).to_be_visible()
    expect(page.get_by_test_id("default-card")).to_be_visible()
    page.goto(f"/app/escrows/{escrow_id}")
    expect(page.get_by_label("Saved card")).to_contain_text("ending 4242")
    page.get_by_role("button", name=re.compile("with this card")).click()
    expect(page.get_by_test_id("escrow-status")).to_have_text("held")
    # Something is wrong: the payer disputes the escrow from its page.
    page.get_by_label("Reason").select_option("not_as_described")
    page.get_by_label("What went wrong").fill("The banner is the wrong size.")
    page.get_by_role("button", name="Open a dispute").click()
    expect(page.get_by_role("status")).to_contain_text("Dispute opened")
    expect(page.get_by_test_id("escrow-status")).to_have_text("disputed")
    expect(page.get_by_role("button", name="Open a dispute")).to_have_count(0)
    (dispute,) = live.get(payer, f"/v1/disputes?escrow={escrow_id}")["data"]
    assert (dispute["reason"], dispute["status"]) == ("not_as_described", "open")
    # Removed, the card is gone from the list and from the next escrow's pay form.
    page.get_by_role("link", name="Payment methods").click()
    page.get_by_role("button", name="Remove the card ending 4242").click()
    expect(page).to_have_url(re.compile(r"/app/payment-methods\?done=removed$"))
    expect(page.get_by_role("status")).to_have_text("Card removed.")
    expect(page.get_by_text("No saved cards yet.")).to_be_visible()
    next_id = live.escrow(payer, None, 900, description="Flyer")
    page.goto(f"/app/escrows/{next_id}")
    expect(page.get_by_role("button", name=re.compile(r"^Pay "))).to_be_visible()
    expect(page.get_by_label("Saved card")).to_have_count(0)


def test_a_3d_secure_card_passes_the_authentication_page(page: Page, live: Live) -> None:
    payer = live.user("client")
    escrow_id = live.escrow(payer, None, 1800)
    pay_with(page, live, payer, escrow_id, "4000 0025 0000 3155")
    expect(page.get_by_role("heading", name="3-D Secure test page")).to_be_visible()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page).to_have_url(re.compile(f"/app/escrows/{escrow_id}"))
    # The payment completes through the provider's webhook: the live status shows it.
    expect(page.get_by_test_id("escrow-status")).to_have_text("held", timeout=30_000)


def test_a_declined_card_shows_the_decline(page: Page, live: Live) -> None:
    payer = live.user("client")
    escrow_id = live.escrow(payer, None, 1200)
    pay_with(page, live, payer, escrow_id, "4000 0000 0000 0002")
    # Back on the escrow's own page (a reload does not pay again), the decline in words.
    expect(page).to_have_url(re.compile(f"/app/escrows/{escrow_id}$"))
    expect(page.get_by_role("alert")).to_contain_text("Payment failed: Your card was declined.")
    expect(page.get_by_test_id("escrow-status")).to_have_text("requires payment")
    # Paying again is offered at once.
    expect(page.get_by_role("button", name=re.compile(r"^Pay "))).to_be_visible()
    # At a phone's width the page fits: nothing scrolls sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    expect(page.get_by_role("button", name=re.compile(r"^Pay "))).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_a_payee_requests_a_payout_and_an_admin_approves_it_and_splits_a_dispute(
    page: Page, live: Live
) -> None:
    payee = live.verified_payee()
    payer = live.user("client")
    # A released escrow makes money available to the payee (no platform fee, for round sums);
    # the 0077 card's funds are available at the provider at once, so the payout can be paid.
    paid = live.escrow(payer, payee.id, 3000, fee_policy={"rate_bps": 0})
    live.post(payer, f"/v1/escrows/{paid}/fund", {"payment_method": "pm_card_bypassPending"})
    live.post(payer, f"/v1/escrows/{paid}/release")

    sign_in(page, payee)
    expect(page).to_have_url(re.compile("/app/balance$"))
    expect(page.get_by_test_id("available-usd")).to_have_text("30.00 USD")
    # This week's bar of the earnings chart is the 30.00 released (drawn on the server).
    chart = page.get_by_role("img", name="Earnings per week (USD)")
    expect(chart.locator("rect").last).to_have_attribute("data-value", "3000")
    assert chart.locator("rect").count() == 13
    page.get_by_label("Amount").fill("12.50")
    page.get_by_role("button", name="Request payout").click()
    expect(page.get_by_role("status")).to_contain_text("Payout of 12.50 USD requested")
    expect(page.get_by_test_id("available-usd")).to_have_text("17.50 USD")
    expect(page.get_by_test_id("in-transit-usd")).to_have_text("12.50 USD")
    (payout,) = live.get(payee, "/v1/payouts")["data"]
    assert payout["status"] == "requested"
    page.get_by_role("button", name="Sign out").click()

    # A second escrow, disputed by the payer.
    disputed = live.escrow(payer, payee.id, 2000, fee_policy={"rate_bps": 0})
    live.post(payer, f"/v1/escrows/{disputed}/fund", {"payment_method": "pm_card_visa"})
    dispute = live.post(payer, "/v1/disputes", {"escrow": disputed, "reason": "quality"})

    admin = live.admin()
    sign_in(page, admin)
    page.goto("/app/admin/payouts")
    # The admin sees whom the payout is for, not only an id.
    expect(page.locator("tr", has_text=payout["id"])).to_contain_text(payee.email)
    page.get_by_role("button", name=f"Approve payout {payout['id']}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Payout {payout['id']} approved")
    got = live.get(payee, f"/v1/payouts/{payout['id']}")
    assert got["status"] in ("in_transit", "paid"), (got["failure_code"], got["failure_message"])

    # The reports: this week's fees and payment attempts include this module's payments.
    page.get_by_role("link", name="Reports").click()
    expect(page.get_by_role("img", name="Platform fees per week (USD)")).to_be_visible()
    rates = page.get_by_role("img", name="Payment success rate per week")
    bar = rates.locator("rect").last
    assert 0 < int(bar.get_attribute("data-value") or 0) <= 10_000
    expect(page.get_by_test_id("success-table")).to_contain_text("%")
    page.get_by_label("Period").select_option("month")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("img", name="Payment success rate per month")).to_be_visible()

    page.get_by_role("link", name="Disputes").click()
    card = page.locator("article", has=page.get_by_text(dispute["id"]))
    card.get_by_label("Split").check()
    card.get_by_label("Amount to release to the payee (USD)").fill("15.00")
    card.get_by_label("Amount to refund to the payer (USD)").fill("4.00")
    card.get_by_role("button", name=f"Resolve dispute {dispute['id']}").click()
    card = page.locator("article", has=page.get_by_text(dispute["id"]))
    expect(card.get_by_role("alert")).to_contain_text("must add up to the disputed amount")
    assert live.get(admin, f"/v1/disputes/{dispute['id']}")["status"] == "open"
    card.get_by_label("Split").check()
    card.get_by_label("Amount to release to the payee (USD)").fill("15.00")
    card.get_by_label("Amount to refund to the payer (USD)").fill("5.00")
    card.get_by_role("button", name=f"Resolve dispute {dispute['id']}").click()
    expect(page.get_by_role("status")).to_contain_text("15.00 USD released, 5.00 USD refunded")
    resolved = live.get(admin, f"/v1/disputes/{dispute['id']}")
    assert (resolved["status"], resolved["amount_released"], resolved["amount_refunded"]) == (
        "resolved",
        1500,
        500,
    )


def test_a_payee_connects_with_stripe_and_sets_a_paypal_email(page: Page, live: Live) -> None:
    worker = live.user("worker")
    sign_in(page, worker)
    page.get_by_role("link", name="Payout settings", exact=True).click()
    expect(page.get_by_test_id("account-status")).to_have_text("not connected")

    # The sandbox's hosted onboarding ends "restricted": back with what is still required.
    page.get_by_role("button", name="Connect with Stripe").click()
    expect(page.get_by_role("heading", name="Connect onboarding (test)")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Restricted")).click()
    expect(page).to_have_url(re.compile(r"/app/payout-settings\?back=onboarding$"))
    expect(page.get_by_test_id("account-status")).to_have_text("restricted")
    expect(page.get_by_role("status")).to_contain_text("your account is restricted")
    expect(page.get_by_test_id("requirements")).to_contain_text("(past due)")

    # Onboarding again, this time verified.
    page.get_by_role("button", name="Continue with Stripe").click()
    page.get_by_role("button", name=re.compile("^Verified")).click()
    expect(page.get_by_test_id("account-status")).to_have_text("verified")
    expect(page.get_by_role("status")).to_contain_text("your account is verified")
    expect(page.get_by_test_id("requirements")).to_have_count(0)
    (account,) = live.get(worker, "/v1/accounts")["data"]
    assert (account["status"], account["payouts_enabled"]) == ("verified", True)

    # A PayPal email: refused when it is not one, saved when it is (as the API stores it).
    page.get_by_label("PayPal email").fill("not an email")
    page.evaluate("document.getElementById('paypal_email').type = 'text'")  # past the browser
    page.get_by_role("button", name="Save PayPal email").click()
    expect(page.get_by_role("alert")).to_contain_text("is not a valid email address")
    page.get_by_label("PayPal email").fill("Payee@Example.com")
    page.get_by_role("button", name="Save PayPal email").click()
    expect(page.get_by_role("status")).to_have_text("PayPal email saved.")
    expect(page.get_by_test_id("paypal-email")).to_have_text("payee@example.com")
    assert live.get(worker, "/v1/payout_destination")["paypal_email"] == "payee@example.com"


def test_a_winning_bid_opens_the_payment_modal_whose_window_lapses(page: Page, live: Live) -> None:
    seller = live.verified_payee()
    art = live.post(
        seller,
        "/v1/auctions/artworks",
        {"title": "Harbour at Dusk", "currency": "usd", "threshold": 10_000},
    )
    buyer = live.user("client")
    sign_in(page, buyer)
    page.get_by_role("link", name="Auctions").click()
    expect(page.get_by_test_id(f"artwork-status-{art['id']}")).to_have_text("active")
    page.get_by_role("link", name="Harbour at Dusk").first.click()
    expect(page.get_by_text("Secret threshold")).to_have_count(0)  # a buyer never sees it

    page.get_by_label("Your bid (USD)").fill("80.00")
    page.get_by_role("button", name="Place bid").click()
    expect(page.get_by_role("status")).to_contain_text("80.00 USD is not winning")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_label("Your bid (USD)").fill("150.00")
    page.get_by_role("button", name="Place bid").click()
    modal = page.get_by_role("dialog", name="You won Harbour at Dusk")
    expect(modal).to_contain_text("Pay 150.00 USD within")
    expect(modal.get_by_role("button", name="Pay 150.00 USD")).to_be_visible()
    expect(page.get_by_test_id("artwork-status")).to_have_text("pending payment")
    countdown = page.get_by_test_id("countdown")
    expect(countdown).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=3_000)  # it counts down, live
    (bid,) = [b for b in live.get(buyer, f"/v1/auctions/artworks/{art['id']}/bids")["data"]
              if b["status"] == "winning"]  # fmt: skip

    # Ten minutes on, unpaid: escrowd's expiry runs and the page, open all along, shows the
    # artwork back on sale without a reload.
    async def expire(container: Container) -> None:
        now = datetime.now(UTC)
        info = JobInfo("job_test", escrow_tasks.EXPIRE_JOB, 1, 1, None, now, now)
        ctx = JobContext(container, info, "web-test")
        await escrow_tasks.expire(ctx, {"escrow_id": bid["escrow"]})

    live.later(601, expire)
    expect(page.get_by_test_id("artwork-status")).to_have_text("active")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Place bid")).to_be_visible()
    assert live.get(buyer, f"/v1/escrows/{bid['escrow']}")["status"] == "expired"
    # The auction's sweep (every 10 s on the server; run here at once) records it: the API
    # agrees and the bid has lapsed.
    live.later(601, auction_service.follow_escrows)
    assert live.get(buyer, f"/v1/auctions/artworks/{art['id']}")["status"] == "active"
    bids = live.get(buyer, f"/v1/auctions/artworks/{art['id']}/bids")["data"]
    assert [b["status"] for b in bids] == ["lapsed", "not_winning"]


def test_a_doer_bids_on_a_task_and_the_customer_accepts_pays_and_completes_it(
    page: Page, live: Live
) -> None:
    """Seed 003 at a phone's width: the bid typed on the task page, the accepted bid paid on
    the escrow page's card form, the task completed (its escrow released to the doer)."""
    customer = live.user("client")
    doer = live.verified_payee()
    task = live.post(customer, "/v1/tasks", {"title": "Fix the gate", "currency": "usd"})
    page.set_viewport_size({"width": 390, "height": 800})

    sign_in(page, doer)
    page.get_by_role("link", name="Tasks").click()
    page.get_by_role("link", name="Fix the gate").click()
    page.get_by_label("Your bid (USD)").fill("42.50")
    page.get_by_role("button", name="Place bid").click()
    expect(page.get_by_role("status")).to_contain_text("Bid placed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, customer)
    page.goto(f"/app/tasks/{task['id']}")
    page.get_by_role("button", name="Accept 42.50 USD").click()
    expect(page.get_by_test_id("task-status")).to_have_text("assigned")
    page.get_by_role("link", name="Pay 42.50 USD").click()
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/40")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_test_id("escrow-status")).to_have_text("held")
    page.goto(f"/app/tasks/{task['id']}")
    expect(page.get_by_test_id("task-payment")).to_have_text("payment in escrow")
    page.get_by_role("button", name="Complete: release 42.50 USD to the doer").click()
    expect(page.get_by_test_id("task-status")).to_have_text("completed")
    assert live.get(customer, f"/v1/tasks/{task['id']}")["payment_status"] == "payment_released"
