"""Products, prices and subscriptions, renewed (or ended) by the sandbox clock."""

from __future__ import annotations

from typing import Any

from escrowd.bootstrap import Container
from tests.sandbox.conftest import Api, advance, error_of

MONTH = 31 * 86400


async def _price(api: Api, amount: int = 4900) -> str:
    price = await api.ok(
        "POST",
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": str(amount),
            "recurring[interval]": "month",
            "product_data[name]": "Pro",
        },
    )
    assert price["type"] == "recurring"
    return str(price["id"])


async def _payer(api: Api, card: str = "pm_card_visa") -> tuple[str, str]:
    cus = await api.customer()
    pm = await api.ok("POST", f"/v1/payment_methods/{card}/attach", {"customer": cus["id"]})
    await api.ok(
        "POST", f"/v1/customers/{cus['id']}", {"invoice_settings[default_payment_method]": pm["id"]}
    )
    return str(cus["id"]), str(pm["id"])


async def _subscribe(api: Api, customer: str, price: str, **extra: str) -> dict[str, Any]:
    return dict(
        await api.ok(
            "POST",
            "/v1/subscriptions",
            {
                "customer": customer,
                "items[0][price]": price,
                **extra,
            },
        )
    )


async def test_a_default_incomplete_subscription_activates_when_its_invoice_is_paid(
    api: Api,
) -> None:
    cus = await api.customer()
    sub = await _subscribe(
        api,
        cus["id"],
        await _price(api),
        payment_behavior="default_incomplete",
        **{"expand[]": "latest_invoice.payment_intent"},
    )
    assert sub["status"] == "incomplete"
    pi = sub["latest_invoice"]["payment_intent"]
    assert (pi["amount"], pi["status"]) == (4900, "requires_payment_method")
    paid = await api.ok(
        "POST", f"/v1/payment_intents/{pi['id']}/confirm", {"payment_method": "pm_card_visa"}
    )
    assert paid["status"] == "succeeded"
    sub = await api.ok("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": "latest_invoice"})
    assert (sub["status"], sub["latest_invoice"]["status"]) == ("active", "paid")


async def test_a_renewal_bills_the_next_period_and_a_decline_makes_it_past_due(
    api: Api, container: Container
) -> None:
    customer, _ = await _payer(api)
    sub = await _subscribe(api, customer, await _price(api))
    assert sub["status"] == "active"
    first_end = sub["current_period_end"]
    await advance(container, first_end - sub["current_period_start"] + 1)
    sub = await api.ok("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": "latest_invoice"})
    assert (sub["current_period_start"], sub["status"]) == (first_end, "active")
    assert sub["latest_invoice"]["billing_reason"] == "subscription_cycle"
    assert sub["latest_invoice"]["status"] == "paid"

    failing = await api.ok(
        "POST", "/v1/payment_methods/pm_card_chargeCustomerFail/attach", {"customer": customer}
    )
    await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}", {"default_payment_method": failing["id"]}
    )
    await advance(container, sub["current_period_end"] - sub["current_period_start"] + 1)
    sub = await api.ok("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": "latest_invoice"})
    assert (sub["status"], sub["latest_invoice"]["status"]) == ("past_due", "open")
    events = await api.ok(
        "GET", "/v1/events", {"types[]": ["invoice.paid", "invoice.payment_failed"], "limit": "50"}
    )
    mine = [e["type"] for e in events["data"] if e["data"]["object"]["subscription"] == sub["id"]]
    assert mine[0] == "invoice.payment_failed"
    assert "invoice.paid" in mine


async def test_cancel_at_period_end_ends_the_subscription_at_the_period_end(
    api: Api, container: Container
) -> None:
    customer, _ = await _payer(api)
    sub = await _subscribe(api, customer, await _price(api))
    sub = await api.ok("POST", f"/v1/subscriptions/{sub['id']}", {"cancel_at_period_end": "true"})
    assert (sub["cancel_at_period_end"], sub["cancel_at"]) == (True, sub["current_period_end"])
    await advance(container, MONTH)
    sub = await api.ok("GET", f"/v1/subscriptions/{sub['id']}")
    assert (sub["status"], sub["ended_at"]) == ("canceled", sub["current_period_end"])
    events = await api.ok("GET", "/v1/events", {"type": "customer.subscription.deleted"})
    assert any(e["data"]["object"]["id"] == sub["id"] for e in events["data"])


async def test_a_subscription_canceled_now_cannot_be_canceled_again(api: Api) -> None:
    customer, _ = await _payer(api)
    sub = await _subscribe(api, customer, await _price(api, 19900))
    gone = await api.delete(f"/v1/subscriptions/{sub['id']}")
    assert gone.json()["status"] == "canceled"
    again = await api.delete(f"/v1/subscriptions/{sub['id']}")
    assert again.status_code == 404
    assert error_of(again)["code"] == "resource_missing"


async def test_error_if_incomplete_creates_nothing_when_the_card_declines(api: Api) -> None:
    customer, _ = await _payer(api, "pm_card_chargeCustomerFail")
    r = await api.post(
        "/v1/subscriptions",
        {
            "customer": customer,
            "items[0][price]": await _price(api),
            "payment_behavior": "error_if_incomplete",
        },
    )
    assert r.status_code == 402
    listed = await api.ok("GET", "/v1/subscriptions", {"customer": customer, "status": "all"})
    assert listed["data"] == []
