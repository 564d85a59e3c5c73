"""Connect: hosted onboarding, links, transfers and reversals, payouts settling on the clock."""

from __future__ import annotations

from typing import Any

from escrowd.bootstrap import Container
from tests.sandbox.conftest import (
    Api,
    Page,
    advance,
    captured_charge,
    error_of,
    onboarded_account,
)

DAY = 86400


async def _account(api: Api, **extra: str) -> dict[str, Any]:
    return dict(
        await api.ok(
            "POST",
            "/v1/accounts",
            {
                "type": "express",
                "country": "US",
                "email": "payee@example.com",
                "business_type": "company",
                "capabilities[transfers][requested]": "true",
                "metadata[owner]": "org_1",
                **extra,
            },
        )
    )


async def _link(api: Api, acct: str) -> dict[str, Any]:
    return dict(
        await api.ok(
            "POST",
            "/v1/account_links",
            {
                "account": acct,
                "type": "account_onboarding",
                "refresh_url": "https://shop.example/refresh",
                "return_url": "https://shop.example/done",
            },
        )
    )


async def test_a_new_account_has_everything_due_until_onboarding_verifies_it(
    api: Api, page: Page
) -> None:
    acct = await _account(api)
    req = acct["requirements"]
    assert (acct["charges_enabled"], acct["payouts_enabled"], acct["details_submitted"]) == (
        False,
        False,
        False,
    )
    assert "company.tax_id" in req["currently_due"]
    assert req["past_due"] == req["currently_due"]
    assert req["disabled_reason"] == "requirements.past_due"
    assert acct["capabilities"] == {"transfers": "inactive"}

    link = await _link(api, acct["id"])
    assert link["expires_at"] == link["created"] + 300
    assert link["url"].startswith("http://127.0.0.1:8000/sandbox/stripe/connect/onboarding/")
    done = await page.onboard(link["url"], "verified")
    assert done.headers["location"] == "https://shop.example/done"
    acct = await api.ok("GET", f"/v1/accounts/{acct['id']}")
    assert (acct["charges_enabled"], acct["payouts_enabled"], acct["details_submitted"]) == (
        True,
        True,
        True,
    )
    assert acct["requirements"]["currently_due"] == []
    assert acct["capabilities"]["transfers"] == ("active")
    assert acct["external_accounts"]["data"][0]["last4"] == "6789"
    caps = await api.ok("GET", f"/v1/accounts/{acct['id']}/capabilities")
    assert caps["data"][0]["status"] == "active"
    events = await api.ok("GET", "/v1/events", {"type": "capability.updated", "limit": "100"})
    mine = [e for e in events["data"] if e.get("account") == acct["id"]]
    assert mine
    assert mine[0]["data"]["previous_attributes"] == {"status": "inactive"}


async def test_a_restricted_outcome_leaves_a_document_past_due(api: Api, page: Page) -> None:
    acct_id = await onboarded_account(api, page, "restricted")
    acct = await api.ok("GET", f"/v1/accounts/{acct_id}")
    assert acct["requirements"]["past_due"] == ["individual.verification.document"]
    assert (acct["payouts_enabled"], acct["capabilities"]["transfers"]) == (False, "inactive")
    refused = await api.post(
        "/v1/transfers", {"amount": "100", "currency": "usd", "destination": acct_id}
    )
    assert error_of(refused)["code"] == "insufficient_capabilities_for_transfer"


async def test_account_links_are_single_use_and_expire_after_300_seconds(
    api: Api, page: Page, container: Container
) -> None:
    acct = await _account(api)
    used = await _link(api, acct["id"])
    assert (await page.open(used["url"])).status_code == 200
    second = await page.open(used["url"])
    assert (second.status_code, second.headers["location"]) == (303, "https://shop.example/refresh")
    stale = await _link(api, acct["id"])
    await advance(container, 301)
    late = await page.open(stale["url"])
    assert late.headers["location"] == "https://shop.example/refresh"


async def test_a_login_link_opens_the_express_dashboard(api: Api, page: Page) -> None:
    acct = await onboarded_account(api, page)
    link = await api.ok("POST", f"/v1/accounts/{acct}/login_links")
    assert link["object"] == "login_link"
    shown = await page.open(link["url"])
    assert shown.status_code == 200
    assert acct in shown.text


async def test_transfers_need_funds_and_reversals_never_exceed_the_transfer(
    api: Api, page: Page
) -> None:
    acct = await onboarded_account(api, page)
    pi = await captured_charge(api, 10000, transfer_group="esc_t")
    charge = pi["latest_charge"]["id"]
    too_much = await api.post(
        "/v1/transfers",
        {"amount": "10001", "currency": "usd", "destination": acct, "source_transaction": charge},
    )
    assert error_of(too_much)["code"] == "balance_insufficient"
    tr = await api.ok(
        "POST",
        "/v1/transfers",
        {
            "amount": "8500",
            "currency": "usd",
            "destination": acct,
            "source_transaction": charge,
            "transfer_group": "esc_t",
            "metadata[escrow]": "esc_t",
        },
    )
    assert (tr["amount"], tr["source_transaction"], tr["reversed"]) == (8500, charge, False)
    rest = await api.post(
        "/v1/transfers",
        {"amount": "1501", "currency": "usd", "destination": acct, "source_transaction": charge},
    )
    assert error_of(rest)["code"] == "balance_insufficient"

    rev = await api.ok("POST", f"/v1/transfers/{tr['id']}/reversals", {"amount": "3000"})
    assert (rev["amount"], rev["transfer"]) == (3000, tr["id"])
    over = await api.post(f"/v1/transfers/{tr['id']}/reversals", {"amount": "5501"})
    assert error_of(over)["code"] == "amount_too_large"
    await api.ok("POST", f"/v1/transfers/{tr['id']}/reversals")
    tr = await api.ok("GET", f"/v1/transfers/{tr['id']}")
    assert (tr["amount_reversed"], tr["reversed"]) == (8500, True)
    listed = await api.ok("GET", f"/v1/transfers/{tr['id']}/reversals")
    assert [r["amount"] for r in listed["data"]] == [5500, 3000]
    events = await api.ok("GET", "/v1/events", {"type": "transfer.reversed", "limit": "20"})
    assert any(e["data"]["object"]["id"] == tr["id"] for e in events["data"])


async def test_payouts_wait_for_available_funds_then_settle_on_the_clock(
    api: Api, page: Page, container: Container
) -> None:
    paid_to = await onboarded_account(api, page)
    fails_to = await onboarded_account(api, page, bank="000111111116")
    for acct in (paid_to, fails_to):
        pi = await captured_charge(api, 5000)
        await api.ok(
            "POST",
            "/v1/transfers",
            {
                "amount": "4000",
                "currency": "usd",
                "destination": acct,
                "source_transaction": pi["latest_charge"]["id"],
            },
        )
    balance = await api.ok("GET", "/v1/balance", account=paid_to)
    assert (balance["available"][0]["amount"], balance["pending"][0]["amount"]) == (0, 4000)
    early = await api.post("/v1/payouts", {"amount": "4000", "currency": "usd"}, account=paid_to)
    assert error_of(early)["code"] == "balance_insufficient"

    await advance(container, 2 * DAY)
    paid = await api.ok(
        "POST", "/v1/payouts", {"amount": "4000", "currency": "usd"}, account=paid_to
    )
    failed = await api.ok(
        "POST", "/v1/payouts", {"amount": "4000", "currency": "usd"}, account=fails_to
    )
    assert paid["status"] == failed["status"] == "pending"
    assert paid["arrival_date"] == paid["created"] + 2 * DAY
    assert (await api.ok("GET", "/v1/balance", account=paid_to))["available"][0]["amount"] == 0

    await advance(container, 2 * DAY)
    paid = await api.ok("GET", f"/v1/payouts/{paid['id']}", account=paid_to)
    failed = await api.ok("GET", f"/v1/payouts/{failed['id']}", account=fails_to)
    assert paid["status"] == "paid"
    assert (failed["status"], failed["failure_code"]) == ("failed", "no_account")
    back = await api.ok("GET", "/v1/balance", account=fails_to)
    assert back["available"][0]["amount"] == 4000
    events = await api.ok(
        "GET", "/v1/events", {"types[]": ["payout.paid", "payout.failed"], "limit": "50"}
    )
    seen = {e["data"]["object"]["id"]: (e["type"], e["account"]) for e in events["data"]}
    assert seen[paid["id"]] == ("payout.paid", paid_to)
    assert seen[failed["id"]] == ("payout.failed", fails_to)


async def test_a_payout_from_an_account_that_is_not_verified_is_refused(
    api: Api, page: Page
) -> None:
    acct = await onboarded_account(api, page, "restricted")
    r = await api.post("/v1/payouts", {"amount": "100", "currency": "usd"}, account=acct)
    assert error_of(r)["code"] == "payouts_not_allowed"
