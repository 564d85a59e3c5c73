"""What is refused: illegal transitions (409 naming the state and the allowed actions), bad
input of every kind (the envelope, and nothing written), other people's escrows — for escrows
paid through Stripe and through PayPal (``rail``)."""

from __future__ import annotations

from typing import Any

from escrowd.accounts import service as accounts
from escrowd.users import tokens
from escrowd.users.models import User
from tests.escrows.conftest import (
    Ctx,
    api_key_headers,
    get,
    keyed,
    payees,
    payer,
    post,
    verified_payee,
)
from tests.escrows.rails import Rail
from tests.integration.conftest import assert_error, bearer, count_all, make_user

TABLES = (
    "escrows",
    "escrow_allocations",
    "escrow_operations",
    "events",
    "jobs",
    "ledger_transfers",
    "sandbox_stripe_objects",
)


async def _refused(ctx: Ctx, who: Any, escrow_id: str, action: str, state: str) -> None:
    r = await ctx.client.post(
        f"/v1/escrows/{escrow_id}/{action}", json={}, headers=keyed(who.headers)
    )
    err = assert_error(r, 409, "invalid_request_error", "escrow_state_conflict")
    assert f"is {state}; cannot {action}" in err["message"], err
    assert "Allowed actions:" in err["message"]


async def test_every_action_the_state_does_not_allow_is_a_409_naming_what_is_allowed(
    ctx: Ctx, rail: Rail
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    before = await count_all(ctx.container, "ledger_transfers")

    fresh = await rail.create(ctx, client_, [(tester, 1000)])
    for action in ("capture", "release", "refund"):
        await _refused(ctx, client_, fresh["id"], action, "requires_payment")
    assert fresh["allowed_actions"] == ["fund", "cancel"]

    authorized = await rail.funded(ctx, client_, [(tester, 1000)], capture_mode="authorize")
    for action in ("fund", "release", "refund"):
        await _refused(ctx, client_, authorized["id"], action, "authorized")

    held = await rail.funded(ctx, client_, [(tester, 1000)])
    for action in ("fund", "capture", "cancel"):
        await _refused(ctx, client_, held["id"], action, "held")

    cancelled = await post(ctx, client_, f"/v1/escrows/{fresh['id']}/cancel")
    assert cancelled["allowed_actions"] == []
    for action in ("fund", "capture", "release", "refund", "cancel"):
        await _refused(ctx, client_, fresh["id"], action, "cancelled")

    # Waiting for the payer: Stripe's hosted card form, PayPal's approval page.
    waiting = await rail.create(ctx, client_, [(tester, 1000)])
    form = await post(
        ctx, client_, f"/v1/escrows/{waiting['id']}/fund", {"return_url": "https://m.test/b"}
    )
    assert (form["status"], form["allowed_actions"]) == ("requires_action", ["fund", "cancel"])
    await _refused(ctx, client_, waiting["id"], "capture", "requires_action")
    assert (await post(ctx, client_, f"/v1/escrows/{waiting['id']}/cancel"))["status"] == (
        "cancelled"
    )

    refunded = await post(ctx, client_, f"/v1/escrows/{held['id']}/refund")
    assert refunded["status"] == "refunded"
    for action in ("release", "refund", "cancel"):
        await _refused(ctx, client_, held["id"], action, "refunded")
    after = await count_all(ctx.container, "ledger_transfers")
    # Only the two fundings and the refund moved money (the authorization is a hold).
    assert after["ledger_transfers"] - before["ledger_transfers"] == 4


async def test_amounts_beyond_what_is_left_are_refused_and_move_nothing(
    ctx: Ctx, rail: Rail
) -> None:
    client_ = await payer(ctx)
    tester_a, tester_b = await payees(ctx, 2)
    escrow = await rail.funded(ctx, client_, [(tester_a, 1000), (tester_b, 2000)])
    first, second = (a["id"] for a in escrow["allocations"])
    path = f"/v1/escrows/{escrow['id']}"
    cases: list[tuple[str, dict[str, Any], str, str | None]] = [
        (
            "release",
            {"allocations": [{"id": first, "amount": 1001}]},
            "amount_too_large",
            "allocations[0][amount]",
        ),
        (
            "release",
            {"allocations": [{"id": "alloc_nope"}]},
            "allocation_invalid",
            "allocations[0][id]",
        ),
        (
            "release",
            {"allocations": [{"id": first}, {"id": first}]},
            "allocation_invalid",
            "allocations[1][id]",
        ),
        ("refund", {"amount": 3001}, "amount_too_large", "amount"),
        ("refund", {"amount": 100, "prorated": False}, "refund_ambiguous", "prorated"),
        (
            "refund",
            {"amount": 100, "allocations": [{"id": second}]},
            "parameter_conflict",
            "allocations",
        ),
    ]
    before = await count_all(ctx.container, *TABLES)
    for action, body, code, param in cases:
        r = await ctx.client.post(f"{path}/{action}", json=body, headers=keyed(client_.headers))
        assert_error(r, 400, "invalid_request_error", code, param=param)
    assert await count_all(ctx.container, *TABLES) == before


async def test_bad_input_of_every_kind_gets_the_envelope_and_writes_nothing(
    ctx: Ctx, rail: Rail
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    good: dict[str, Any] = rail.body(
        {"currency": "usd", "amount": 1000, "allocations": [{"payee": tester, "amount": 1000}]}
    )
    bad: list[tuple[dict[str, Any], str, str | None]] = [
        ({**good, "amount": 10.5}, "parameter_invalid", "amount"),
        ({**good, "amount": "1000"}, "parameter_invalid", "amount"),
        ({**good, "amount": True}, "parameter_invalid", "amount"),
        ({**good, "amount": -5}, "parameter_invalid", "amount"),
        ({**good, "amount": 10**13}, "parameter_invalid", "amount"),
        ({**good, "colour": "red"}, "parameter_unknown", "colour"),
        ({**good, "status": "released"}, "parameter_unknown", "status"),
        ({k: v for k, v in good.items() if k != "allocations"}, "parameter_missing", "allocations"),
        ({**good, "allocations": []}, "parameter_invalid", "allocations"),
        ({**good, "amount": 999}, "allocation_mismatch", "allocations"),
        ({**good, "currency": "xyz"}, "currency_invalid", "currency"),
        ({**good, "capture_mode": "later"}, "parameter_invalid", "capture_mode"),
        ({**good, "payment_window": 1.5}, "parameter_invalid", "payment_window"),
        ({**good, "fee_policy": {"rate_bps": 0.15}}, "fee_policy_invalid", "fee_policy[rate_bps]"),
        ({**good, "fee_policy": {"surprise": 1}}, "parameter_unknown", "fee_policy[surprise]"),
        (
            {**good, "allocations": [{"payee": "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV", "amount": 1000}]},
            "payee_invalid",
            "allocations[0][payee]",
        ),
        (
            {**good, "allocations": [{"payee": client_.id, "amount": 1000}]},
            "payee_invalid",
            "allocations[0][payee]",
        ),
        (
            {**good, "allocations": [{"payee": "bob", "amount": 1000}]},
            "parameter_invalid",
            "allocations[0][payee]",
        ),
        ({**good, "payer": tester}, "payer_invalid", "payer"),
    ]
    before = await count_all(ctx.container, *TABLES)
    for body, code, param in bad:
        r = await ctx.client.post("/v1/escrows", json=body, headers=client_.headers)
        assert_error(r, 400, "invalid_request_error", code, param=param)
    r = await ctx.client.post(
        "/v1/escrows",
        content=b"{not json",
        headers={**client_.headers, "Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_request_error", "body_invalid_json")
    worker = await make_user(ctx.container, role="worker")
    r = await ctx.client.post("/v1/escrows", json=good, headers=worker.headers)
    assert_error(r, 403, "permission_error", "role_required")
    r = await ctx.client.post("/v1/escrows", json=good)
    assert_error(r, 401, "authentication_error")
    r = await ctx.client.post("/v1/escrows", json=good, headers=await api_key_headers(ctx))
    assert_error(r, 403, "permission_error", "payer_required", param="payer")
    assert await count_all(ctx.container, *TABLES) == before


async def test_only_the_payer_and_the_platform_act_payees_read_others_see_nothing(
    ctx: Ctx, rail: Rail
) -> None:
    client_ = await payer(ctx)
    stranger = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    issued = tokens.issue(
        settings=ctx.container.settings, clock=ctx.container.clock, user_id=tester, role="worker"
    )
    as_payee = bearer(issued.token)
    escrow = await rail.funded(ctx, client_, [(tester, 1500)])
    path = f"/v1/escrows/{escrow['id']}"
    before = await count_all(ctx.container, *TABLES)
    for action in ("release", "refund", "fund", "capture", "cancel"):
        r = await ctx.client.post(f"{path}/{action}", json={}, headers=keyed(stranger.headers))
        assert_error(r, 404, "invalid_request_error", "resource_missing")
        r = await ctx.client.post(f"{path}/{action}", json={}, headers=keyed(as_payee))
        assert_error(r, 403, "permission_error", "payee_read_only")
    assert await count_all(ctx.container, *TABLES) == before
    assert_error(await ctx.client.get(path, headers=stranger.headers), 404, "invalid_request_error")
    seen = await ctx.client.get(path, headers=as_payee)
    assert seen.status_code == 200
    assert seen.json()["id"] == escrow["id"]
    # Every change's event names the payer and the payees as its audience.
    for who in (as_payee, client_.headers):
        r = await ctx.client.get("/v1/events", params={"object_id": escrow["id"]}, headers=who)
        assert [e["type"] for e in r.json()["data"]] == [
            "escrow.funded",
            *rail.funding_events,
            "escrow.created",
        ]
        assert r.json()["data"][0]["data"]["object"]["status"] == "held"
    r = await ctx.client.get(
        "/v1/events", params={"object_id": escrow["id"]}, headers=stranger.headers
    )
    assert r.json()["data"] == []

    # An API key names the payer and acts on any escrow.
    key = await api_key_headers(ctx)
    r = await ctx.client.post(
        "/v1/escrows",
        json=rail.body(
            {
                "payer": client_.id,
                "currency": "usd",
                "amount": 700,
                "allocations": [{"payee": tester, "amount": 700}],
            }
        ),
        headers=key,
    )
    assert r.status_code == 200, r.text
    assert r.json()["payer"] == client_.id
    r = await ctx.client.post(f"{path}/release", headers=keyed(key))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "released"


async def test_escrows_are_listed_newest_first_with_filters_and_pages(ctx: Ctx, rail: Rail) -> None:
    client_ = await payer(ctx)
    tester_a, tester_b = await payees(ctx, 2)
    one = await rail.create(ctx, client_, [(tester_a, 1000)])
    two = await rail.funded(ctx, client_, [(tester_b, 2000)])
    three = await rail.create(ctx, client_, [(tester_a, 500), (tester_b, 500)])
    listed = await ctx.client.get("/v1/escrows", params={"limit": 2}, headers=client_.headers)
    body = listed.json()
    assert [e["id"] for e in body["data"]] == [three["id"], two["id"]]
    assert body["has_more"] is True
    rest = await ctx.client.get(
        "/v1/escrows",
        params={"limit": 2, "starting_after": two["id"]},
        headers=client_.headers,
    )
    assert [e["id"] for e in rest.json()["data"]] == [one["id"]]
    held = await ctx.client.get("/v1/escrows", params={"status": "held"}, headers=client_.headers)
    assert [e["id"] for e in held.json()["data"]] == [two["id"]]
    by_payee = await ctx.client.get(
        "/v1/escrows", params={"payee": tester_b}, headers=client_.headers
    )
    assert [e["id"] for e in by_payee.json()["data"]] == [three["id"], two["id"]]
    created = await ctx.client.get(
        "/v1/escrows", params={"created[gte]": one["created"]}, headers=client_.headers
    )
    assert len(created.json()["data"]) == 3
    stranger = await payer(ctx)
    none = await ctx.client.get("/v1/escrows", headers=stranger.headers)
    assert none.json()["data"] == []
    bad = await ctx.client.get("/v1/escrows", params={"status": "nope"}, headers=client_.headers)
    assert_error(bad, 400, "invalid_request_error", param="status")
    assert (await get(ctx, client_, two["id"]))["status"] == "held"


async def test_create_checks_every_payee_and_refuses_the_first_bad_one_by_its_allocation(
    ctx: Ctx,
) -> None:
    client_ = await payer(ctx)
    (ready,) = await payees(ctx, 1)
    gone = await verified_payee(ctx)  # its own: its account is disconnected below
    disabled = await make_user(ctx.container, role="worker")
    r = await ctx.client.post(
        "/v1/organizations", json={"name": "Payee Ltd"}, headers=disabled.headers
    )
    assert r.status_code == 200, r.text
    org = r.json()["id"]
    async with ctx.container.db.transaction() as s:
        row = await accounts.account_for(s, party_id=gone.id)
        assert row is not None
        row.deauthorized_at = ctx.container.clock.now()
        user = await s.get(User, disabled.id)
        assert user is not None
        user.disabled = True

    async def create(*parties: str) -> Any:
        body = {
            "currency": "usd",
            "amount": 500 * len(parties),
            "allocations": [{"payee": p, "amount": 500} for p in parties],
        }
        return await ctx.client.post("/v1/escrows", json=body, headers=client_.headers)

    before = await count_all(ctx.container, *TABLES)
    r = await create(ready, gone.id)
    assert_error(r, 409, "invalid_request_error", "payee_account_deauthorized")
    r = await create(ready, disabled.id)
    assert_error(r, 400, "invalid_request_error", "payee_invalid", param="allocations[1][payee]")
    r = await create(disabled.id, gone.id)
    assert_error(r, 400, "invalid_request_error", "payee_invalid", param="allocations[0][payee]")
    r = await create(ready, client_.id)
    assert_error(r, 400, "invalid_request_error", "payee_invalid", param="allocations[1][payee]")
    assert await count_all(ctx.container, *TABLES) == before
    # An organization, and a payee still without an account, may be named.
    r = await create(org, ready)
    assert r.status_code == 200, r.text
    assert [a["payee"] for a in r.json()["allocations"]] == [org, ready]
