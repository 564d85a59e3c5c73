"""PaymentIntents and test cards, as raw form requests against the mounted sandbox."""

from __future__ import annotations

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.clock import unix
from tests.sandbox.conftest import Api, Page, SpecGuard, error_of

SHOP = "https://shop.example/checkout/done"


async def test_a_manual_capture_payment_is_held_then_captured_with_the_card_fee(
    api: Api, container: Container
) -> None:
    r = await api.intent(
        10000,
        payment_method="pm_card_visa",
        confirm="true",
        capture_method="manual",
        **{"expand[]": "latest_charge"},
    )
    pi = r.json()
    assert r.status_code == 200, pi
    assert (pi["status"], pi["amount_capturable"], pi["amount_received"]) == (
        "requires_capture",
        10000,
        0,
    )
    card = pi["latest_charge"]["payment_method_details"]["card"]
    # Seven days on the sandbox clock (which may run ahead of the test's own clock).
    assert card["capture_before"] == pi["latest_charge"]["created"] + 7 * 86400
    assert pi["created"] >= unix(container.clock.now())
    assert pi["latest_charge"]["captured"] is False

    done = await api.ok(
        "POST",
        f"/v1/payment_intents/{pi['id']}/capture",
        {"expand[]": "latest_charge.balance_transaction"},
    )
    charge = done["latest_charge"]
    assert (done["status"], done["amount_received"], done["amount_capturable"]) == (
        "succeeded",
        10000,
        0,
    )
    assert (charge["captured"], charge["amount_captured"]) == (True, 10000)
    txn = charge["balance_transaction"]
    # 2.9 % of $100.00 + 30¢ = $3.20, net $96.80.
    assert (txn["amount"], txn["fee"], txn["net"], txn["type"]) == (10000, 320, 9680, "charge")
    assert txn["fee_details"][0]["type"] == "stripe_fee"


async def test_the_card_fee_rounds_half_up_once(api: Api) -> None:
    pi = await api.ok(
        "POST",
        "/v1/payment_intents",
        {
            "amount": "1050",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "expand[]": "latest_charge.balance_transaction",
        },
    )
    # 2.9 % of 1050 = 30.45 → 30, plus 30 = 60.
    assert pi["latest_charge"]["balance_transaction"]["fee"] == 60
    assert pi["status"] == "succeeded"


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
    ],
)
async def test_a_declining_card_gets_a_402_and_the_intent_asks_for_another_card(
    api: Api, card: str, code: str, decline_code: str
) -> None:
    r = await api.intent(payment_method=card, confirm="true")
    assert r.status_code == 402
    err = error_of(r)
    assert (err["type"], err["code"], err["decline_code"]) == ("card_error", code, decline_code)
    pi = err["payment_intent"]
    assert pi["status"] == "requires_payment_method"
    assert pi["last_payment_error"]["decline_code"] == decline_code
    charge = await api.ok("GET", f"/v1/charges/{err['charge']}")
    assert (charge["status"], charge["failure_code"], charge["paid"]) == ("failed", code, False)


async def test_the_card_form_is_the_only_place_a_number_is_typed(api: Api, page: Page) -> None:
    shown = await page.client.get("/sandbox/stripe/checkout/card-form", params={"return_url": SHOP})
    assert shown.status_code == 200
    assert "Card number" in shown.text
    sent = await page.client.post(
        "/sandbox/stripe/checkout/card-form",
        data={
            "number": "4000 0000 0000 9995",
            "exp": "12/40",
            "cvc": "123",
            "return_url": SHOP,
        },
    )
    assert sent.status_code == 303
    back = httpx.URL(sent.headers["location"])
    assert str(back).startswith(SHOP)
    pm_id = back.params["payment_method"]
    pm = await api.ok("GET", f"/v1/payment_methods/{pm_id}")
    assert (pm["card"]["last4"], pm["card"]["exp_year"]) == ("9995", 2040)

    declined = await api.intent(payment_method=pm_id, confirm="true")
    assert error_of(declined)["decline_code"] == "insufficient_funds"

    raw = await api.post(
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "40",
        },
    )
    assert raw.status_code == 400
    assert "card form" in error_of(raw)["message"]


@pytest.mark.parametrize(
    ("number", "status", "says"),
    [("4242 4242 4242 4241", 400, "incorrect"), ("4111 1111 1111 1111", 402, "test card")],
)
async def test_the_card_form_refuses_numbers_that_are_not_test_cards(
    page: Page, number: str, status: int, says: str
) -> None:
    r = await page.client.post(
        "/sandbox/stripe/checkout/card-form", data={"number": number, "exp": "12/40", "cvc": "123"}
    )
    assert r.status_code == status
    assert says in r.text


@pytest.mark.parametrize(
    ("outcome", "status"), [("complete", "requires_capture"), ("fail", "requires_payment_method")]
)
async def test_3d_secure_is_completed_or_failed_on_the_hosted_page(
    api: Api, page: Page, outcome: str, status: str
) -> None:
    r = await api.intent(
        payment_method="pm_card_authenticationRequiredOnSetup",
        confirm="true",
        capture_method="manual",
        return_url=SHOP,
    )
    pi = r.json()
    assert pi["status"] == "requires_action"
    url = pi["next_action"]["redirect_to_url"]["url"]
    assert url.startswith("http://127.0.0.1:8000/sandbox/stripe/3ds/")
    back = await page.three_ds(url, outcome)
    assert back.status_code == 303
    params = httpx.URL(back.headers["location"]).params
    assert params["payment_intent"] == pi["id"]
    assert params["redirect_status"] == ("succeeded" if outcome == "complete" else "failed")
    after = await api.ok("GET", f"/v1/payment_intents/{pi['id']}")
    assert after["status"] == status
    if outcome == "fail":
        assert after["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    again = await page.open(url)
    assert again.status_code == 404  # the challenge is over


async def test_a_partial_capture_releases_the_rest(api: Api) -> None:
    pi = (
        await api.intent(
            5000, payment_method="pm_card_visa", confirm="true", capture_method="manual"
        )
    ).json()
    done = await api.ok(
        "POST",
        f"/v1/payment_intents/{pi['id']}/capture",
        {"amount_to_capture": "3000", "expand[]": "latest_charge"},
    )
    charge = done["latest_charge"]
    assert (done["amount_received"], charge["amount_captured"]) == (3000, 3000)
    assert (charge["amount_refunded"], charge["refunded"]) == (2000, False)
    too_much = await api.post(f"/v1/payment_intents/{pi['id']}/capture")
    assert error_of(too_much)["code"] == "payment_intent_unexpected_state"


async def test_capturing_more_than_was_authorized_is_refused(api: Api) -> None:
    pi = (
        await api.intent(
            5000, payment_method="pm_card_visa", confirm="true", capture_method="manual"
        )
    ).json()
    r = await api.post(f"/v1/payment_intents/{pi['id']}/capture", {"amount_to_capture": "5001"})
    assert (r.status_code, error_of(r)["code"]) == (400, "amount_too_large")


async def test_a_canceled_authorization_cannot_be_captured(api: Api) -> None:
    pi = (
        await api.intent(
            5000, payment_method="pm_card_visa", confirm="true", capture_method="manual"
        )
    ).json()
    canceled = await api.ok(
        "POST",
        f"/v1/payment_intents/{pi['id']}/cancel",
        {"cancellation_reason": "requested_by_customer", "expand[]": "latest_charge"},
    )
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_reason"] == "requested_by_customer"
    assert canceled["latest_charge"]["refunded"] is True
    r = await api.post(f"/v1/payment_intents/{pi['id']}/capture")
    err = error_of(r)
    assert (r.status_code, err["code"]) == (400, "payment_intent_unexpected_state")
    assert "status of canceled" in err["message"]


@pytest.mark.parametrize(("amount", "currency"), [("49", "usd"), ("29", "gbp"), ("49", "jpy")])
async def test_amounts_below_the_currency_minimum_are_refused(
    api: Api, amount: str, currency: str
) -> None:
    r = await api.post("/v1/payment_intents", {"amount": amount, "currency": currency})
    err = error_of(r)
    assert (r.status_code, err["code"], err["param"]) == (400, "amount_too_small", "amount")


async def test_unknown_parameters_wrong_types_and_enums_are_refused(
    api: Api, spec: SpecGuard
) -> None:
    r = await api.post(
        "/v1/payment_intents", {"amount": "1000", "currency": "usd", "colour": "blue"}
    )
    assert error_of(r)["message"] == "Received unknown parameter: colour"
    spec.expect("colour")
    r = await api.post("/v1/payment_intents", {"amount": "ten", "currency": "usd"})
    assert error_of(r)["code"] == "parameter_invalid_integer"
    spec.expect("amount")
    r = await api.post(
        "/v1/payment_intents", {"amount": "1000", "currency": "usd", "capture_method": "later"}
    )
    assert error_of(r)["param"] == "capture_method"
    spec.expect("capture_method")
    r = await api.post(
        "/v1/payment_intents",
        {"amount": "1000", "currency": "usd", "metadata[order]": "7", "confirm": "maybe"},
    )
    assert "Invalid boolean" in error_of(r)["message"]
    spec.expect("confirm")


async def test_a_card_saved_with_3d_secure_pays_off_session_without_it(
    api: Api, page: Page
) -> None:
    cus = await api.customer()
    si = await api.ok(
        "POST",
        "/v1/setup_intents",
        {
            "customer": cus["id"],
            "payment_method": "pm_card_authenticationRequiredOnSetup",
            "confirm": "true",
            "usage": "off_session",
            "return_url": SHOP,
        },
    )
    assert si["status"] == "requires_action"
    back = await page.three_ds(si["next_action"]["redirect_to_url"]["url"], "complete")
    assert httpx.URL(back.headers["location"]).params["redirect_status"] == "succeeded"
    si = await api.ok("GET", f"/v1/setup_intents/{si['id']}")
    assert si["status"] == "succeeded"
    pm = await api.ok("GET", f"/v1/payment_methods/{si['payment_method']}")
    assert pm["customer"] == cus["id"]
    paid = await api.intent(
        2000, customer=cus["id"], payment_method=pm["id"], confirm="true", off_session="true"
    )
    assert paid.json()["status"] == "succeeded"

    always = await api.intent(
        2000, payment_method="pm_card_authenticationRequired", confirm="true", off_session="true"
    )
    err = error_of(always)
    assert (always.status_code, err["code"]) == (402, "authentication_required")


async def test_declining_cards_cannot_be_attached_but_0341_fails_only_when_charged(
    api: Api,
) -> None:
    cus = await api.customer()
    refused = await api.post(
        "/v1/payment_methods/pm_card_chargeDeclined/attach", {"customer": cus["id"]}
    )
    assert (refused.status_code, error_of(refused)["decline_code"]) == (402, "generic_decline")
    pm = await api.ok(
        "POST", "/v1/payment_methods/pm_card_chargeCustomerFail/attach", {"customer": cus["id"]}
    )
    assert pm["customer"] == cus["id"]
    r = await api.intent(customer=cus["id"], payment_method=pm["id"], confirm="true")
    assert error_of(r)["code"] == "card_declined"
    listed = await api.ok("GET", f"/v1/customers/{cus['id']}/payment_methods")
    assert [m["id"] for m in listed["data"]] == [pm["id"]]
    detached = await api.ok("POST", f"/v1/payment_methods/{pm['id']}/detach")
    assert detached["customer"] is None


async def test_a_customer_default_payment_method_must_be_attached(api: Api) -> None:
    cus = await api.customer(**{"metadata[ref]": "u1"})
    pm = await api.ok("POST", "/v1/payment_methods", {"type": "card", "card[token]": "tok_visa"})
    r = await api.post(
        f"/v1/customers/{cus['id']}", {"invoice_settings[default_payment_method]": pm["id"]}
    )
    assert error_of(r)["param"] == "invoice_settings[default_payment_method]"
    await api.ok("POST", f"/v1/payment_methods/{pm['id']}/attach", {"customer": cus["id"]})
    cus = await api.ok(
        "POST",
        f"/v1/customers/{cus['id']}",
        {
            "invoice_settings[default_payment_method]": pm["id"],
            "metadata[ref]": "",
        },
    )
    assert cus["invoice_settings"]["default_payment_method"] == pm["id"]
    assert cus["metadata"] == {}
