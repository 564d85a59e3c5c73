"""Stripe's protocol: keys, errors, request ids, Idempotency-Key replays, accounts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.sandbox.conftest import BASE, KEY, Api, error_of


async def test_a_retry_with_the_same_key_replays_the_first_response(api: Api) -> None:
    cus = await api.customer()
    data = {"amount": "1500", "currency": "usd", "customer": cus["id"]}
    first = await api.post("/v1/payment_intents", data, key=f"order-{cus['id']}")
    again = await api.post("/v1/payment_intents", data, key=f"order-{cus['id']}")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    listed = await api.ok("GET", "/v1/payment_intents", {"customer": cus["id"]})
    assert len(listed["data"]) == 1


async def test_the_same_key_with_other_parameters_is_an_idempotency_error(api: Api) -> None:
    cus = await api.customer()
    key = f"k-{cus['id']}"
    await api.post("/v1/payment_intents", {"amount": "1500", "currency": "usd"}, key=key)
    other = await api.post("/v1/payment_intents", {"amount": "1600", "currency": "usd"}, key=key)
    err = error_of(other)
    assert (other.status_code, err["type"]) == (400, "idempotency_error")


async def test_a_decline_is_replayed_not_retried(api: Api) -> None:
    cus = await api.customer()
    data = {
        "amount": "1500",
        "currency": "usd",
        "confirm": "true",
        "payment_method": "pm_card_chargeDeclined",
    }
    first = await api.post("/v1/payment_intents", data, key=f"d-{cus['id']}")
    again = await api.post("/v1/payment_intents", data, key=f"d-{cus['id']}")
    assert first.status_code == again.status_code == 402
    assert first.json() == again.json()


async def test_a_key_still_in_flight_gets_a_409(api: Api) -> None:
    cus = await api.customer()
    data = {"amount": "1500", "currency": "usd", "customer": cus["id"]}
    key = f"race-{cus['id']}"
    both = await asyncio.gather(*(api.post("/v1/payment_intents", data, key=key) for _ in "ab"))
    statuses = sorted(r.status_code for r in both)
    assert statuses == [200, 409]
    busy = next(r for r in both if r.status_code == 409)
    assert error_of(busy)["code"] == "idempotency_key_in_use"
    replay = await api.post("/v1/payment_intents", data, key=key)
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_a_missing_or_non_test_key_is_refused_with_401(client: httpx.AsyncClient) -> None:
    none = await client.get(f"{BASE}/v1/customers")
    assert none.status_code == 401
    assert "did not provide an API key" in error_of(none)["message"]
    live = await client.get(
        f"{BASE}/v1/customers", headers={"Authorization": "Bearer sk_live_123456789012345"}
    )
    assert live.status_code == 401
    assert "sk_live_" in error_of(live)["message"]
    assert "123456789012345" not in live.text  # the key is masked
    basic = await client.get(f"{BASE}/v1/customers", auth=(KEY, ""))
    assert basic.status_code == 200


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("sk_test_someone_elses_key_xyz1", "sk_test_******************xyz1"),
        ("sk_test_sandbox_", "sk_test_********"),
        ("sk_test_", "sk_test_****"),
        ("not-a-key-at-all", "************-all"),
    ],
)
async def test_only_the_sandboxs_own_key_is_accepted_as_stripe_refuses_a_wrong_one(
    client: httpx.AsyncClient, key: str, shown: str
) -> None:
    r = await client.get(f"{BASE}/v1/customers", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "type": "invalid_request_error",
            "message": f"Invalid API Key provided: {shown}",
        }
    }
    assert r.headers["Request-Id"].startswith("req_")


async def test_unknown_urls_and_objects_are_404s_with_a_request_id(api: Api) -> None:
    url = await api.get("/v1/nothing_here")
    assert url.status_code == 404
    assert "Unrecognized request URL" in error_of(url)["message"]
    obj = await api.get("/v1/payment_intents/pi_missing")
    err = error_of(obj)
    assert (obj.status_code, err["code"]) == (404, "resource_missing")
    assert err["message"] == "No such PaymentIntent: 'pi_missing'"
    assert obj.headers["Request-Id"].startswith("req_")


async def test_an_unknown_connected_account_is_refused(api: Api) -> None:
    r = await api.get("/v1/balance", account="acct_nobody")
    assert (r.status_code, error_of(r)["code"]) == (403, "account_invalid")
