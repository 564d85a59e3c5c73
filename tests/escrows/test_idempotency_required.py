"""The routes that move money refuse a request without an Idempotency-Key before anything
happens: no row written, no call to the payment provider. With a key they work — for escrows
paid through Stripe and through PayPal (``rail``)."""

from __future__ import annotations

from typing import Any

import httpx

from escrowd.escrows.ledgering import escrow_account
from escrowd.providers.base import PaymentProvider
from escrowd.users.api_keys.models import ApiKey
from tests.escrows.conftest import (
    Ctx,
    create_escrow,
    get,
    keyed,
    ledger_balance,
    payees,
    payer,
    provider_switch,
    settle,
)
from tests.escrows.rails import Rail
from tests.integration.conftest import assert_error, count_all, make_api_key

TABLES = (
    "escrows",
    "escrow_allocations",
    "escrow_operations",
    "events",
    "jobs",
    "ledger_transfers",
    "idempotency_keys",
    "api_keys",
    "sandbox_stripe_objects",
)
MONEY_ROUTES = ("fund", "capture", "release", "refund")


class Recording:
    """The real adapter, noting every call that would reach the provider."""

    def __init__(self, real: PaymentProvider) -> None:
        self.real = real
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if not callable(target):
            return target

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return target(*args, **kwargs)

        return recorded


def assert_key_required(r: httpx.Response) -> None:
    err = assert_error(
        r, 400, "invalid_request_error", "idempotency_key_required", param="Idempotency-Key"
    )
    assert "Idempotency-Key: <" in err["message"], err


async def _refused_without_key(
    ctx: Ctx,
    rail: Rail,
    headers: dict[str, str],
    escrow_id: str,
    action: str,
    body: dict[str, Any],
) -> None:
    """The request without a key is refused, and nothing anywhere changed."""
    switch = provider_switch(ctx, rail.name)
    real = switch.target
    spy = Recording(real)
    before = await count_all(ctx.container, *TABLES)
    escrow_before = await get_as(ctx, headers, escrow_id)
    balance = await ledger_balance(ctx, escrow_account(escrow_id))
    switch.target = spy
    try:
        r = await ctx.client.post(f"/v1/escrows/{escrow_id}/{action}", json=body, headers=headers)
    finally:
        switch.target = real
    assert_key_required(r)
    assert spy.calls == []
    assert await count_all(ctx.container, *TABLES) == before
    assert await get_as(ctx, headers, escrow_id) == escrow_before
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == balance


async def get_as(ctx: Ctx, headers: dict[str, str], escrow_id: str) -> dict[str, Any]:
    r = await ctx.client.get(f"/v1/escrows/{escrow_id}", headers=headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_fund_needs_a_key_and_charges_nothing_without_one(ctx: Ctx, rail: Rail) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    created = await rail.create(ctx, client_, [(tester, 1200)])
    await _refused_without_key(ctx, rail, client_.headers, created["id"], "fund", rail.fund_body)
    payment = (await get(ctx, client_, created["id"]))["payment"]
    assert (payment["id"], payment["attempts"]) == (None, 0)
    # PayPal: the order made and approved by the payer, the call that captures it is refused
    # without a key too, and the order stays approved, not captured, at PayPal.
    escrow = await rail.ready_to_fund(ctx, client_, created)
    if escrow is not created:
        await _refused_without_key(ctx, rail, client_.headers, escrow["id"], "fund", {})
        assert await rail.payment_status(ctx, escrow["payment"]["id"]) == "requires_confirmation"

    r = await ctx.client.post(
        f"/v1/escrows/{escrow['id']}/fund", json=rail.fund_body, headers=keyed(client_.headers)
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "held"
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 1200


async def test_capture_needs_a_key_and_captures_nothing_without_one(ctx: Ctx, rail: Rail) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await rail.funded(ctx, client_, [(tester, 1300)], capture_mode="authorize")
    assert escrow["status"] == "authorized"
    await _refused_without_key(ctx, rail, client_.headers, escrow["id"], "capture", {})
    payment_id = escrow["payment"]["id"]
    assert await rail.payment_status(ctx, payment_id) == "requires_capture"

    r = await ctx.client.post(
        f"/v1/escrows/{escrow['id']}/capture", json={}, headers=keyed(client_.headers)
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "held"
    assert await rail.payment_status(ctx, payment_id) == "succeeded"


async def test_release_needs_a_key_and_transfers_nothing_without_one(ctx: Ctx, rail: Rail) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await rail.funded(ctx, client_, [(tester, 1400)])
    await _refused_without_key(ctx, rail, client_.headers, escrow["id"], "release", {})
    assert await rail.paid_to_payees(ctx, escrow["id"]) == []

    r = await ctx.client.post(
        f"/v1/escrows/{escrow['id']}/release", json={}, headers=keyed(client_.headers)
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "released"
    assert await rail.paid_to_payees(ctx, escrow["id"]) == [1400]


async def test_refund_needs_a_key_and_refunds_nothing_without_one(ctx: Ctx, rail: Rail) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await rail.funded(ctx, client_, [(tester, 1500)])
    payment_id = escrow["payment"]["id"]
    await _refused_without_key(ctx, rail, client_.headers, escrow["id"], "refund", {"amount": 500})
    assert await rail.refunds(ctx, payment_id) == []

    r = await ctx.client.post(
        f"/v1/escrows/{escrow['id']}/refund", json={"amount": 500}, headers=keyed(client_.headers)
    )
    assert r.status_code == 200, r.text
    assert await rail.refunds(ctx, payment_id) == [500]
    await settle(ctx.container)


async def test_an_api_key_without_an_idempotency_key_is_refused_before_it_is_even_used(
    ctx: Ctx, rail: Rail
) -> None:
    """The check runs before authentication, so not even the key's last use is recorded."""
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await rail.funded(ctx, client_, [(tester, 1600)])
    key_id, secret = await make_api_key(ctx.container)
    headers = {"Authorization": f"Bearer {secret}"}
    for action in MONEY_ROUTES:
        r = await ctx.client.post(f"/v1/escrows/{escrow['id']}/{action}", headers=headers)
        assert_key_required(r)
    async with ctx.container.db.transaction() as s:
        key = await s.get(ApiKey, key_id)
        assert key is not None
        assert key.last_used_at is None
    assert (await get(ctx, client_, escrow["id"]))["status"] == "held"


async def test_a_missing_key_is_refused_even_without_credentials(ctx: Ctx) -> None:
    r = await ctx.client.post("/v1/escrows/esc_nope/release", json={})
    assert_key_required(r)
    r = await ctx.client.post(
        "/v1/escrows/esc_nope/release", json={}, headers={"Idempotency-Key": "k-1"}
    )
    assert_error(r, 401, "authentication_error", "authentication_required")


async def test_routes_that_move_no_money_take_no_key(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await create_escrow(ctx, client_, [(tester, 1700)])  # no key
    r = await ctx.client.post(f"/v1/escrows/{escrow['id']}/cancel", headers=client_.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"


async def test_openapi_marks_the_key_required_where_money_moves_and_optional_elsewhere(
    ctx: Ctx,
) -> None:
    spec = (await ctx.client.get("/openapi.json")).json()

    def header(path: str) -> dict[str, Any]:
        params = spec["paths"][path]["post"].get("parameters", [])
        (found,) = [p for p in params if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        return dict(found)

    for action in MONEY_ROUTES:
        h = header(f"/v1/escrows/{{escrow_id}}/{action}")
        assert h["required"] is True, (action, h)
        assert h["description"].startswith("Required: this request moves money."), h
        assert h["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    for path in ("/v1/escrows", "/v1/escrows/{escrow_id}/cancel", "/v1/organizations"):
        h = header(path)
        assert h["required"] is False, (path, h)
        assert h["description"].startswith("Optional."), h
    for operations in spec["paths"].values():
        for method, operation in operations.items():
            if method != "post":
                names = [p["name"] for p in operation.get("parameters", [])]
                assert "Idempotency-Key" not in names
