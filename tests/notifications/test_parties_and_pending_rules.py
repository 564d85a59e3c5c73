"""Who a notification goes to beyond payer and payee: organization admins, and the rules that
wait for event types escrowd does not write yet."""

from __future__ import annotations

import json

from sqlalchemy import delete

from escrowd.events import service as events
from escrowd.events.domain import EventType
from escrowd.events.models import Event
from escrowd.ids import Prefix, new_id
from escrowd.notifications.domain import PENDING_EVENT_TYPES
from escrowd.notifications.models import Notification
from tests.accounts.conftest import add_member, make_org
from tests.escrows.conftest import Ctx, person
from tests.integration.conftest import make_user
from tests.notifications.conftest import SmtpServer, about, notifications_of, notify, send_emails


async def test_an_organizations_payout_notifies_its_admins_not_its_members(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    admin = person(ctx, await make_user(ctx.container, role="worker"))
    member = person(ctx, await make_user(ctx.container, role="worker"))
    org_id = await make_org(ctx.client, admin, name="Notified Studio")
    await add_member(ctx.client, org_id, admin, member)
    payout_id = new_id(Prefix.payout)
    async with ctx.container.db.transaction() as s:
        await events.record(
            s,
            clock=ctx.container.clock,
            type=EventType.payout_failed,
            object_id=payout_id,
            data={
                "id": payout_id,
                "object": "payout",
                "amount": 4250,
                "currency": "eur",
                "party": org_id,
                "failure_code": "account_closed",
                "failure_message": "The bank account has been closed",
            },
            audience=[org_id],
        )
    await notify(ctx.container)

    [ntf] = about(await notifications_of(ctx, admin), payout_id)
    assert ntf["type"] == "payout_failed"
    assert ntf["title"] == "Your payout of 42.50 EUR failed"
    assert "The bank account has been closed" in ntf["body"]
    assert ntf["related_object"] == {"object": "payout", "id": payout_id}
    assert about(await notifications_of(ctx, member), payout_id) == []
    await send_emails(ctx.container)
    assert [str(m["Subject"]) for m in smtp.to(admin.email)] == [ntf["title"]]
    assert smtp.to(member.email) == []


async def test_a_dispute_resolved_event_notifies_the_parties_it_names(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    assert "dispute.resolved" not in PENDING_EVENT_TYPES
    assert "dispute.resolved" in {t.value for t in EventType}
    payer = person(ctx, await make_user(ctx.container, role="client"))
    payee = person(ctx, await make_user(ctx.container, role="worker"))
    dispute_id = new_id(Prefix.dispute)
    escrow_id = new_id(Prefix.escrow)
    event_id = new_id(Prefix.event)
    # An event row as the disputes module writes it, its parties named in the object.
    data = {
        "id": dispute_id,
        "object": "dispute",
        "escrow": escrow_id,
        "payer": payer.id,
        "payees": [payee.id],
        "outcome": "released_to_payee",
    }
    async with ctx.container.db.transaction() as s:
        s.add(
            Event(
                id=event_id,
                type="dispute.resolved",
                object_type="dispute",
                object_id=dispute_id,
                data=json.dumps(data),
                previous_attributes=None,
                request_id=None,
                created_at=ctx.container.clock.now(),
            )
        )
    try:
        await notify(ctx.container)
        for who in (payer, payee):
            [ntf] = about(await notifications_of(ctx, who), dispute_id)
            assert ntf["type"] == "dispute_resolved"
            assert ntf["event"] == event_id
            assert escrow_id in ntf["body"]
            assert "released_to_payee" in ntf["body"]
    finally:
        # Other tests read every event: leave no type outside the catalog behind.
        async with ctx.container.db.transaction() as s:
            await s.execute(delete(Notification).where(Notification.event_id == event_id))
            await s.execute(delete(Event).where(Event.id == event_id))


async def test_an_event_a_rule_cannot_read_does_not_hold_up_the_next(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    worker = person(ctx, await make_user(ctx.container, role="worker"))
    broken, fine = new_id(Prefix.payout), new_id(Prefix.payout)
    async with ctx.container.db.transaction() as s:
        # A payout without its party: no rule can say whom it concerns.
        await events.record(
            s,
            clock=ctx.container.clock,
            type=EventType.payout_paid,
            object_id=broken,
            data={"id": broken, "object": "payout", "amount": 100, "currency": "usd"},
        )
        await events.record(
            s,
            clock=ctx.container.clock,
            type=EventType.payout_paid,
            object_id=fine,
            data={
                "id": fine,
                "object": "payout",
                "amount": 100,
                "currency": "usd",
                "party": worker.id,
            },
        )
    await notify(ctx.container)
    assert [n["related_object"]["id"] for n in await notifications_of(ctx, worker)] == [fine]
