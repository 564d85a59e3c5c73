"""Bad input to customers and payment methods: the error envelope, nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from escrowd.bootstrap import Container
from tests.accounts.test_bad_input import TABLES
from tests.integration.conftest import assert_error, bearer, count_all, make_api_key, make_user


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "param"),
    [
        ("/v1/payment_methods/attach", {"payment_method": "card_123"}, 400, None, "payment_method"),
        ("/v1/payment_methods/attach", {}, 400, "parameter_missing", "payment_method"),
        (
            "/v1/payment_methods/attach",
            {"payment_method": "pm_card_visa", "default": "yes"},
            400,
            "parameter_invalid",
            "default",
        ),
        (
            "/v1/payment_methods/attach",
            {"payment_method": "pm_card_visa", "customer": "cus_x"},
            400,
            "parameter_unknown",
            "customer",
        ),
        # The provider refuses a declining card when it is saved: a 402, nothing stored.
        (
            "/v1/payment_methods/attach",
            {"payment_method": "pm_card_chargeDeclined"},
            402,
            "generic_decline",
            None,
        ),
        (
            "/v1/payment_methods/attach",
            {"payment_method": "pm_nosuchpaymentmethod"},
            400,
            "resource_missing",
            "payment_method",
        ),
        ("/v1/customers/me/setup", {"return_url": "ftp://x.test/"}, 400, None, "return_url"),
        (
            "/v1/customers/me",
            {"default_payment_method": "pm_notmine"},
            404,
            "resource_missing",
            "default_payment_method",
        ),
        ("/v1/payment_methods/pm_notsaved/detach", {}, 404, "resource_missing", "payment_method"),
    ],
)
async def test_bad_payment_method_requests_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
    container: Container,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    payer = await make_user(container)
    # The payer already has a customer, so a refusal has nothing left to create.
    assert (await client.post("/v1/customers/me/setup", json={}, headers=payer.headers)).is_success
    before = await count_all(container, *TABLES)
    r = await client.post(path, json=body, headers=payer.headers)
    kind = "card_error" if status == 402 else "invalid_request_error"
    assert_error(r, status, kind, code, param=param)
    assert await count_all(container, *TABLES) == before
    listed = await client.get("/v1/payment_methods", headers=payer.headers)
    assert listed.json()["data"] == []


async def test_another_customers_card_cannot_be_attached(
    client: httpx.AsyncClient, container: Container
) -> None:
    owner = await make_user(container)
    thief = await make_user(container)
    r = await client.post(
        "/v1/payment_methods/attach", json={"payment_method": "pm_card_visa"}, headers=owner.headers
    )
    pm = r.json()["id"]
    before = await count_all(container, *TABLES)
    r = await client.post(
        "/v1/payment_methods/attach", json={"payment_method": pm}, headers=thief.headers
    )
    # Someone else's card is, to the caller, no card at all: no owner named, nothing written
    # (not even the caller's own customer).
    err = assert_error(r, 400, "invalid_request_error", "resource_missing")
    assert err["param"] == "payment_method"
    assert "cus_" not in err["message"]
    assert await count_all(container, *TABLES) == before
    r = await client.post(
        "/v1/customers/me", json={"default_payment_method": pm}, headers=thief.headers
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing")
    # Nor removed by them: 404, and the owner keeps it.
    r = await client.post(f"/v1/payment_methods/{pm}/detach", headers=thief.headers)
    err = assert_error(r, 404, "invalid_request_error", "resource_missing")
    assert "cus_" not in err["message"]
    assert await count_all(container, *TABLES) == before
    kept = await client.get("/v1/payment_methods", headers=owner.headers)
    assert [c["id"] for c in kept.json()["data"]] == [pm]


async def test_api_keys_and_anonymous_callers_have_no_customer(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, api_key = await make_api_key(container)
    for path in ("/v1/customers/me/setup", "/v1/payment_methods/attach"):
        body = {"payment_method": "pm_card_visa"} if "attach" in path else {}
        r = await client.post(path, json=body, headers=bearer(api_key))
        assert_error(r, 403, "permission_error", "user_token_required")
        assert_error(await client.post(path, json=body), 401, "authentication_error")
    r = await client.get("/v1/payment_methods", headers=bearer(api_key))
    assert_error(r, 403, "permission_error", "user_token_required")
