"""Refunds: what Stripe refuses, and destination charges' transfer and fee returned in part."""

from __future__ import annotations

from tests.sandbox.conftest import Api, Page, captured_charge, error_of, onboarded_account


async def test_partial_refunds_add_up_and_an_over_refund_is_refused(api: Api) -> None:
    pi = await captured_charge(api, 10000)
    first = await api.ok(
        "POST",
        "/v1/refunds",
        {
            "payment_intent": pi["id"],
            "amount": "4000",
            "reason": "requested_by_customer",
            "metadata[case]": "7",
        },
    )
    assert (first["status"], first["amount"], first["charge"]) == (
        "succeeded",
        4000,
        pi["latest_charge"]["id"],
    )
    txn = await api.ok("GET", f"/v1/balance_transactions/{first['balance_transaction']}")
    assert (txn["amount"], txn["fee"], txn["type"]) == (-4000, 0, "refund")

    over = await api.post("/v1/refunds", {"charge": pi["latest_charge"]["id"], "amount": "6001"})
    err = error_of(over)
    assert (over.status_code, err["code"], err["param"]) == (400, "amount_too_large", "amount")
    assert "$60.01" in err["message"]
    assert "$60.00" in err["message"]

    rest = await api.ok(
        "POST", "/v1/refunds", {"charge": pi["latest_charge"]["id"], "expand[]": "charge"}
    )
    assert rest["amount"] == 6000
    assert (rest["charge"]["amount_refunded"], rest["charge"]["refunded"]) == (10000, True)
    again = await api.post("/v1/refunds", {"payment_intent": pi["id"]})
    assert error_of(again)["code"] == "charge_already_refunded"
    listed = await api.ok("GET", "/v1/refunds", {"payment_intent": pi["id"]})
    assert [r["amount"] for r in listed["data"]] == [6000, 4000]


async def test_an_uncaptured_payment_cannot_be_refunded(api: Api) -> None:
    pi = (
        await api.intent(
            3000, payment_method="pm_card_visa", confirm="true", capture_method="manual"
        )
    ).json()
    by_intent = await api.post("/v1/refunds", {"payment_intent": pi["id"]})
    assert (by_intent.status_code, error_of(by_intent)["code"]) == (400, "charge_not_refundable")
    by_charge = await api.post("/v1/refunds", {"charge": pi["latest_charge"]})
    assert error_of(by_charge)["code"] == "charge_not_refundable"
    neither = await api.post("/v1/refunds", {"amount": "100"})
    assert error_of(neither)["code"] == "parameter_missing"


async def test_a_destination_charge_refund_reverses_the_transfer_and_fee_in_proportion(
    api: Api, page: Page
) -> None:
    acct = await onboarded_account(api, page)
    pi = await captured_charge(
        api,
        10000,
        **{
            "transfer_data[destination]": acct,
            "application_fee_amount": "1500",
            "transfer_group": "esc_1",
        },
    )
    charge = pi["latest_charge"]
    transfer = await api.ok("GET", f"/v1/transfers/{charge['transfer']}")
    assert (transfer["amount"], transfer["destination"]) == (10000, acct)
    fee = await api.ok("GET", f"/v1/application_fees/{charge['application_fee']}")
    assert (fee["amount"], fee["account"]) == (1500, acct)

    refund = await api.ok(
        "POST",
        "/v1/refunds",
        {
            "payment_intent": pi["id"],
            "amount": "5000",
            "reverse_transfer": "true",
            "refund_application_fee": "true",
            "expand[]": "transfer_reversal",
        },
    )
    assert refund["transfer_reversal"]["amount"] == 5000
    assert refund["transfer_reversal"]["source_refund"] == refund["id"]
    transfer = await api.ok("GET", f"/v1/transfers/{charge['transfer']}")
    assert (transfer["amount_reversed"], transfer["reversed"]) == (5000, False)
    fee = await api.ok("GET", f"/v1/application_fees/{charge['application_fee']}")
    assert (fee["amount_refunded"], fee["refunded"]) == (750, False)


async def test_reverse_transfer_needs_a_destination_charge(api: Api) -> None:
    pi = await captured_charge(api, 2000)
    r = await api.post("/v1/refunds", {"payment_intent": pi["id"], "reverse_transfer": "true"})
    assert error_of(r)["param"] == "reverse_transfer"
