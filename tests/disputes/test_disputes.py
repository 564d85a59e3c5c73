"""Internal disputes: a party opens one, the money is frozen, an admin resolves it with the
escrow's own release and refund (or it is withdrawn); each path, and what is refused."""

from __future__ import annotations

from datetime import timedelta

from escrowd.clock import FrozenClock, unix
from escrowd.disputes import service
from escrowd.escrows.ledgering import PLATFORM_FEES, escrow_account, payee_available
from tests.disputes.conftest import (
    act,
    admin,
    deal,
    dispute,
    escrow_of,
    payee_person,
)
from tests.escrows.conftest import Ctx, event_types, ledger_balance, payer, post


async def test_a_disputed_escrow_is_frozen_until_resolved(ctx: Ctx) -> None:
    who, (_payee,), escrow = await deal(ctx, [10_000])
    opened = await dispute(
        ctx, who, escrow["id"], description="half the tests were not run", evidence=["log.txt"]
    )
    assert (opened["status"], opened["amount"], opened["kind"]) == ("open", 10_000, "internal")
    assert opened["opened_by"] == who.id
    assert opened["evidence"][0]["note"] == "log.txt"
    assert (await escrow_of(ctx, who, escrow["id"]))["status"] == "disputed"
    for verb in ("release", "refund"):
        refused = await post(ctx, who, f"/v1/escrows/{escrow['id']}/{verb}", status=409)
        assert refused["error"]["code"] == "escrow_state_conflict"
        assert "frozen until the dispute is resolved" in refused["error"]["message"]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 10_000
    assert "dispute.opened" in await event_types(ctx, who, opened["id"])


async def test_an_admin_resolves_with_a_release_and_the_payee_is_paid(
    ctx: Ctx, clock: FrozenClock
) -> None:
    who, (payee,), escrow = await deal(ctx, [10_000])
    key = await admin(ctx)
    opened = await dispute(ctx, payee_person(ctx, payee), escrow["id"], reason="not_delivered")
    reviewing = await act(ctx, key, opened["id"], "review")
    assert reviewing["status"] == "under_review"
    await act(ctx, payee_person(ctx, payee), opened["id"], "evidence", {"note": "I did it"})
    before = await ledger_balance(ctx, payee_available(payee))
    clock.advance(timedelta(hours=2))
    done = await act(ctx, key, opened["id"], "resolve", {"outcome": "release"})
    assert (done["status"], done["outcome"], done["amount_released"]) == (
        "resolved",
        "release",
        10_000,
    )
    assert done["resolution_seconds"] == 7200
    assert (await escrow_of(ctx, who, escrow["id"]))["status"] == "released"
    assert await ledger_balance(ctx, payee_available(payee)) - before == 10_000
    assert await event_types(ctx, who, opened["id"]) == [
        "dispute.opened",
        "dispute.under_review",
        "dispute.evidence_added",
        "dispute.resolved",
    ]
    now = ctx.container.clock.now()
    async with ctx.container.db.transaction() as s:
        average = await service.average_resolution_seconds(
            s, start=now - timedelta(minutes=1), end=now + timedelta(minutes=1)
        )
    assert average is not None
    assert average >= 7200
    # The admins' metrics report counts it (the window is shared with other tests' disputes).
    window = {"start": unix(now) - 60, "end": unix(now) + 60}
    r = await ctx.client.get("/v1/reports/metrics", params=window, headers=key.headers)
    assert r.status_code == 200, r.text
    figures = r.json()["disputes"]
    assert figures["resolved"] >= 1
    assert figures["average_resolution_seconds"] is not None


async def test_a_full_refund_gives_the_payer_everything_back(ctx: Ctx) -> None:
    who, (_payee,), escrow = await deal(ctx, [10_000])
    key = await admin(ctx)
    opened = await dispute(ctx, who, escrow["id"])
    done = await act(ctx, key, opened["id"], "resolve", {"outcome": "refund", "notes": "agreed"})
    assert (done["amount_refunded"], done["amount_released"]) == (10_000, 0)
    after = await escrow_of(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"]) == ("refunded", 10_000)
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0


async def test_a_partial_refund_leaves_the_rest_held_and_unfrozen(ctx: Ctx) -> None:
    who, (_payee,), escrow = await deal(ctx, [10_000])
    key = await admin(ctx)
    opened = await dispute(ctx, who, escrow["id"])
    await act(
        ctx, key, opened["id"], "resolve", {"outcome": "partial_refund", "refund_amount": 2_500}
    )
    after = await escrow_of(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 2_500)
    released = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    assert (released["status"], released["amount_released"]) == ("released", 7_500)


async def test_a_split_over_two_allocations_adds_up_to_the_disputed_amount(ctx: Ctx) -> None:
    who, _payee_ids, escrow = await deal(ctx, [6_000, 4_000])
    key = await admin(ctx)
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    opened = await dispute(ctx, who, escrow["id"])
    done = await act(
        ctx,
        key,
        opened["id"],
        "resolve",
        {"outcome": "split", "release_amount": 7_000, "refund_amount": 3_000},
    )
    assert (done["amount_released"], done["amount_refunded"]) == (7_000, 3_000)
    after = await escrow_of(ctx, who, escrow["id"])
    assert (after["status"], after["amount_released"], after["amount_refunded"]) == (
        "released",
        7_000,
        3_000,
    )
    allocations = after["allocations"]
    assert sum(a["amount_released"] for a in allocations) == 7_000
    assert all(a["amount_released"] + a["amount_refunded"] == a["amount"] for a in allocations)
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
    assert await ledger_balance(ctx, PLATFORM_FEES) == fees_before


async def test_a_split_that_does_not_add_up_is_refused_and_writes_nothing(ctx: Ctx) -> None:
    who, (_payee,), escrow = await deal(ctx, [10_000])
    key = await admin(ctx)
    opened = await dispute(ctx, who, escrow["id"])
    events_before = await event_types(ctx, who, opened["id"])
    refused = await act(
        ctx,
        key,
        opened["id"],
        "resolve",
        {"outcome": "split", "release_amount": 7_000, "refund_amount": 2_999},
        status=400,
    )
    error = refused["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "split_mismatch",
        "refund_amount",
    )
    assert "= 99.99 USD, not 100.00 USD" in error["message"]
    r = await ctx.client.get(f"/v1/disputes/{opened['id']}", headers=who.headers)
    assert r.json()["status"] == "open"
    assert (await escrow_of(ctx, who, escrow["id"]))["status"] == "disputed"
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 10_000
    assert await event_types(ctx, who, opened["id"]) == events_before
    for body in (
        {"outcome": "partial_refund", "refund_amount": 10_000},
        {"outcome": "split", "release_amount": 10_000},
        {"outcome": "release", "refund_amount": 1},
        {"outcome": "won"},
    ):
        await act(ctx, key, opened["id"], "resolve", body, status=400)


async def test_a_payee_disputes_their_own_allocation_and_only_it_is_decided(ctx: Ctx) -> None:
    who, (_first, second), escrow = await deal(ctx, [6_000, 4_000])
    key = await admin(ctx)
    allocation = escrow["allocations"][1]["id"]
    stranger_allocation = escrow["allocations"][0]["id"]
    refused = await dispute(
        ctx, payee_person(ctx, second), escrow["id"], allocation=stranger_allocation, status=403
    )
    assert refused["error"]["code"] == "allocation_not_yours"
    opened = await dispute(ctx, payee_person(ctx, second), escrow["id"], allocation=allocation)
    assert (opened["amount"], opened["allocation"]) == (4_000, allocation)
    await act(ctx, key, opened["id"], "resolve", {"outcome": "refund"})
    after = await escrow_of(ctx, who, escrow["id"])
    assert [a["amount_refunded"] for a in after["allocations"]] == [0, 4_000]
    released = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    assert (released["status"], released["amount_released"]) == ("released", 6_000)


async def test_who_may_do_what(ctx: Ctx) -> None:
    who, (payee,), escrow = await deal(ctx, [10_000])
    stranger = await payer(ctx)
    key = await admin(ctx)
    assert (await dispute(ctx, stranger, escrow["id"], status=404))["error"]["code"] == (
        "resource_missing"
    )
    opened = await dispute(ctx, who, escrow["id"])
    again = await dispute(ctx, payee_person(ctx, payee), escrow["id"], status=409)
    assert again["error"]["code"] == "dispute_already_open"
    r = await ctx.client.get(f"/v1/disputes/{opened['id']}", headers=stranger.headers)
    assert r.status_code == 404
    r = await ctx.client.get("/v1/disputes", headers=stranger.headers)
    assert r.json()["data"] == []
    r = await ctx.client.get(
        "/v1/disputes", params={"escrow": escrow["id"]}, headers=payee_person(ctx, payee).headers
    )
    assert [d["id"] for d in r.json()["data"]] == [opened["id"]]
    for verb, body in (("review", None), ("resolve", {"outcome": "refund"})):
        denied = await act(ctx, who, opened["id"], verb, body, status=403)
        assert denied["error"]["code"] == "admin_required"
    await act(ctx, stranger, opened["id"], "evidence", {"note": "me too"}, status=404)
    not_opener = await act(ctx, payee_person(ctx, payee), opened["id"], "close", status=403)
    assert not_opener["error"]["code"] == "not_dispute_opener"
    closed = await act(ctx, who, opened["id"], "close", {"notes": "sorted it out"})
    assert closed["status"] == "closed"
    assert closed["resolved_at"] is not None
    assert (await escrow_of(ctx, who, escrow["id"]))["status"] == "held"
    late = await act(ctx, key, opened["id"], "resolve", {"outcome": "refund"}, status=409)
    assert late["error"]["code"] == "dispute_state_conflict"
    await act(ctx, key, opened["id"], "review", status=409)
    released = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    nothing = await dispute(ctx, who, escrow["id"], status=409)
    assert nothing["error"]["code"] == "nothing_to_dispute"


async def test_an_unpaid_escrow_cannot_be_disputed(ctx: Ctx) -> None:
    from tests.escrows.conftest import create_escrow, payees

    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    created = await create_escrow(ctx, who, [(payee, 5_000)])
    refused = await dispute(ctx, who, created["id"], status=409)
    assert refused["error"]["code"] == "escrow_state_conflict"
    bad = await dispute(ctx, who, created["id"], reason="because", status=400)
    assert bad["error"]["param"] == "reason"


async def test_resolving_needs_a_key_and_a_replay_moves_no_money_twice(ctx: Ctx) -> None:
    who, (_payee,), escrow = await deal(ctx, [10_000])
    key = await admin(ctx)
    opened = await dispute(ctx, who, escrow["id"])
    path = f"/v1/disputes/{opened['id']}/resolve"
    body = {"outcome": "partial_refund", "refund_amount": 4_000}
    unkeyed = await ctx.client.post(path, json=body, headers=key.headers)
    assert unkeyed.status_code == 400, unkeyed.text
    assert unkeyed.json()["error"]["code"] == "idempotency_key_required"
    headers = {**key.headers, "Idempotency-Key": "resolve-once"}
    first = await ctx.client.post(path, json=body, headers=headers)
    again = await ctx.client.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json()
    after = await escrow_of(ctx, who, escrow["id"])
    assert (after["amount_refunded"], after["status"]) == (4_000, "partially_refunded")
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 6_000


async def test_both_sides_of_a_dispute_are_notified_not_only_its_opener(ctx: Ctx) -> None:
    from sqlalchemy import select

    from escrowd.notifications.models import Notification
    from tests.notifications.conftest import notify

    who, (payee,), escrow = await deal(ctx, [10_000])
    opened = await dispute(ctx, who, escrow["id"])
    await notify(ctx.container)
    async with ctx.container.db.transaction() as s:
        rows = (
            await s.execute(
                select(Notification.user_id).where(
                    Notification.type == "dispute_opened", Notification.object_id == opened["id"]
                )
            )
        ).all()
    assert sorted(r.user_id for r in rows) == sorted([who.id, payee])
