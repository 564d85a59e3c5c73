"""Notifications made from events by the sweep, read through the API, emailed over SMTP."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from escrowd.events.models import Event
from escrowd.ids import Prefix, new_id
from escrowd.jobs.models import Job
from escrowd.notifications import emails, sweep
from escrowd.notifications.models import Notification
from escrowd.notifications.sweep import BATCH, SETTLE, Memo, notify_events, notify_new
from tests.escrows.conftest import Ctx, create_escrow, funded, payer, person, settle, verified_payee
from tests.integration.conftest import assert_error, make_user
from tests.notifications.conftest import (
    SENDER,
    SmtpServer,
    about,
    notifications_of,
    notify,
    send_emails,
)
from tests.statements import compiled_forms


async def _count(ctx: Ctx, escrow_id: str) -> int:
    async with ctx.container.db.transaction() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.object_id == escrow_id)
        )
    return int(n or 0)


async def test_a_funded_escrow_notifies_payer_and_payee_exactly_once(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await funded(ctx, alice, [(bob.id, 2000)], description="Logo design")
    await settle(ctx.container)

    await notify(ctx.container)
    await asyncio.gather(notify(ctx.container), notify(ctx.container))  # again, concurrently
    ctx.container.clock.advance(SETTLE + timedelta(seconds=1))  # type: ignore[attr-defined]
    await notify(ctx.container)  # the cursor now passes these events: still nothing new

    mine = about(await notifications_of(ctx, alice), escrow["id"])
    assert sorted(n["type"] for n in mine) == ["payment_received", "payment_required"]
    received = next(n for n in mine if n["type"] == "payment_received")
    assert received["title"] == "Your payment of 20.00 USD is held in escrow"
    assert received["related_object"] == {"object": "escrow", "id": escrow["id"]}
    assert received["read"] is False
    assert received["read_at"] is None
    assert received["event"].startswith("evt_")
    theirs = about(await notifications_of(ctx, bob), escrow["id"])
    assert [n["type"] for n in theirs] == ["payment_received"]
    assert theirs[0]["title"] == "20.00 USD is held in escrow for you"
    assert await _count(ctx, escrow["id"]) == 3

    await send_emails(ctx.container)
    await send_emails(ctx.container)
    subjects = sorted(str(m["Subject"]) for m in smtp.to(alice.email))
    assert subjects == [
        "Payment of 20.00 USD required",
        "Your payment of 20.00 USD is held in escrow",
    ]
    assert [str(m["Subject"]) for m in smtp.to(bob.email)] == [theirs[0]["title"]]


async def test_the_email_has_text_and_html_parts_from_the_configured_sender(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await create_escrow(ctx, alice, [(bob.id, 1500)], description="<b>Tom & Jerry</b>")
    await notify(ctx.container)
    await send_emails(ctx.container)

    [delivery] = [r for r in smtp.received if r.rcpt_tos == [alice.email]]
    assert delivery.mail_from == "notify@market.test"
    message = delivery.message
    assert message["From"] == SENDER
    assert message["To"] == alice.email
    assert message["Subject"] == "Payment of 15.00 USD required"
    [ntf] = about(await notifications_of(ctx, alice), escrow["id"])
    assert message["Message-ID"] == f"<{ntf['id']}@escrowd>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    text_body, html_body = text.get_content(), html.get_content()
    # The payer wrote the description: shown as written in text, escaped in HTML.
    assert "“<b>Tom & Jerry</b>”" in text_body
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in html_body
    assert "<b>Tom" not in html_body
    assert escrow["id"] in text_body
    assert escrow["id"] in html_body


async def test_mark_read_and_the_unread_count(ctx: Ctx, smtp: SmtpServer) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    await funded(ctx, alice, [(bob.id, 1000)])
    await funded(ctx, alice, [(bob.id, 1000)])
    await notify(ctx.container)

    async def unread() -> int:
        r = await ctx.client.get("/v1/notifications/unread_count", headers=alice.headers)
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "notification_count"
        count: int = r.json()["unread"]
        return count

    assert await unread() == 4  # two escrows: payment required, then received
    first = (await notifications_of(ctx, alice))[0]
    r = await ctx.client.post(f"/v1/notifications/{first['id']}/read", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["read"] is True
    read_at = r.json()["read_at"]
    assert read_at == int(ctx.container.clock.now().timestamp())
    assert await unread() == 3
    ctx.container.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    again = await ctx.client.post(f"/v1/notifications/{first['id']}/read", headers=alice.headers)
    assert again.json()["read_at"] == read_at  # the first read is kept
    assert first["id"] not in {n["id"] for n in await notifications_of(ctx, alice, unread="true")}
    assert [n["id"] for n in await notifications_of(ctx, alice, unread="false")] == [first["id"]]

    r = await ctx.client.post("/v1/notifications/read_all", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "notification_count", "unread": 0, "marked": 3}
    assert await unread() == 0
    assert await notifications_of(ctx, alice, unread="true") == []
    # Bob's are his own: untouched by Alice's read_all.
    assert len(await notifications_of(ctx, bob, unread="true")) == 2


async def test_nobody_sees_or_marks_anothers_notifications(ctx: Ctx, smtp: SmtpServer) -> None:
    alice = await payer(ctx)
    mallory = person(ctx, await make_user(ctx.container, role="client"))
    bob = person(ctx, await verified_payee(ctx))
    escrow = await create_escrow(ctx, alice, [(bob.id, 1000)])
    await notify(ctx.container)
    [ntf] = about(await notifications_of(ctx, alice), escrow["id"])

    r = await ctx.client.post(f"/v1/notifications/{ntf['id']}/read", headers=mallory.headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")
    assert about(await notifications_of(ctx, mallory), escrow["id"]) == []
    assert about(await notifications_of(ctx, bob), escrow["id"]) == []  # a payee needs no payment
    r = await ctx.client.post("/v1/notifications/read_all", headers=mallory.headers)
    assert r.json()["marked"] == 0
    [still] = about(await notifications_of(ctx, alice), escrow["id"])
    assert still["read"] is False


async def test_opting_out_stops_the_email_but_not_the_notification(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    r = await ctx.client.post(
        "/v1/notification_preferences",
        json={"email": {"payment_received": False}},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    prefs = r.json()
    assert prefs["object"] == "notification_preferences"
    assert prefs["email"]["payment_received"] is False
    assert prefs["email"]["payment_required"] is True
    got = await ctx.client.get("/v1/notification_preferences", headers=alice.headers)
    assert got.json() == prefs

    escrow = await funded(ctx, alice, [(bob.id, 1200)])
    await notify(ctx.container)
    await send_emails(ctx.container)

    types = sorted(n["type"] for n in about(await notifications_of(ctx, alice), escrow["id"]))
    assert types == ["payment_received", "payment_required"]
    assert [str(m["Subject"]) for m in smtp.to(alice.email)] == ["Payment of 12.00 USD required"]
    assert len(smtp.to(bob.email)) == 1  # Bob did not opt out


async def test_an_opt_out_after_the_email_was_queued_still_counts(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    await create_escrow(ctx, alice, [(bob.id, 1000)])
    await notify(ctx.container)  # the email job is queued now
    r = await ctx.client.post(
        "/v1/notification_preferences",
        json={"email": {"payment_required": False}},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    await send_emails(ctx.container)
    assert smtp.to(alice.email) == []


async def test_smtp_down_the_email_is_retried_and_delivered_when_it_is_back(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await create_escrow(ctx, alice, [(bob.id, 1000)])
    await notify(ctx.container)
    [ntf] = about(await notifications_of(ctx, alice), escrow["id"])

    await smtp.stop()
    await send_emails(ctx.container)
    async with ctx.container.db.transaction() as s:
        job = await s.scalar(select(Job).where(Job.dedupe_key == emails.dedupe_key(ntf["id"])))
        assert job is not None
        assert (job.status, job.attempts) == ("queued", 1)
        assert job.last_error is not None
        assert "MailError" in job.last_error
        assert job.run_at > ctx.container.clock.now()  # backoff: not before its time
    await send_emails(ctx.container)
    assert smtp.to(alice.email) == []

    await smtp.start()  # the same port
    ctx.container.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    await send_emails(ctx.container)
    [message] = smtp.to(alice.email)
    assert message["X-Escrowd-Notification"] == ntf["id"]
    async with ctx.container.db.transaction() as s:
        job = await s.scalar(select(Job).where(Job.dedupe_key == emails.dedupe_key(ntf["id"])))
        assert job is not None
        assert (job.status, job.attempts) == ("succeeded", 2)


async def test_a_burst_of_young_events_does_not_hide_the_ones_after_it(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    # More unsettled events than one batch reads, about nobody: the cursor cannot pass them
    # yet, and the escrow's events come after them. A run must read on and notify anyway.
    now = ctx.container.clock.now()
    async with ctx.container.db.transaction() as s:
        s.add_all(
            Event(
                id=new_id(Prefix.event),
                type="escrow.funded",
                object_type="escrow",
                object_id=f"esc_burst{i}",
                data=json.dumps({"object": "escrow", "id": f"esc_burst{i}", "payer": None}),
                previous_attributes=None,
                request_id=None,
                created_at=now,
            )
            for i in range(BATCH + 5)
        )
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await funded(ctx, alice, [(bob.id, 2000)])
    await settle(ctx.container)

    await notify(ctx.container)

    assert [n["type"] for n in about(await notifications_of(ctx, bob), escrow["id"])] == [
        "payment_received"
    ]


async def test_a_memo_passes_over_handled_events_and_a_lost_one_still_makes_each_once(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await funded(ctx, alice, [(bob.id, 2000)], description="Memo")
    await settle(ctx.container)
    async with ctx.container.db.transaction() as s:
        mine = set((await s.scalars(select(Event.id).where(Event.object_id == escrow["id"]))).all())

    memo = Memo()
    await notify_events(ctx.container, email=True, memo=memo)
    assert all(i in memo for i in mine)
    assert await _count(ctx, escrow["id"]) == 3
    # The events are unsettled, so every run reads them again: the memo passes them over.
    assert await notify_events(ctx.container, email=True, memo=memo) == 0
    # Another process's memo (or this one's, lost) knows nothing: still each notification
    # and each email job once.
    assert await notify_events(ctx.container, email=True, memo=Memo()) == 0
    await notify_new(ctx.container)
    assert await _count(ctx, escrow["id"]) == 3
    async with ctx.container.db.transaction() as s:
        made = (
            await s.scalars(select(Notification.id).where(Notification.object_id == escrow["id"]))
        ).all()
        jobs = await s.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.dedupe_key.in_([emails.dedupe_key(n) for n in made]))
        )
    assert jobs == 3


async def test_notify_new_makes_what_the_sweep_would(ctx: Ctx, smtp: SmtpServer) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await funded(ctx, alice, [(bob.id, 2000)], description="Right away")
    await settle(ctx.container)
    await notify_new(ctx.container)
    assert await _count(ctx, escrow["id"]) == 3
    await notify(ctx.container)
    assert await _count(ctx, escrow["id"]) == 3


async def test_notify_new_reads_only_recent_events_and_leaves_the_rest_to_the_sweep(
    ctx: Ctx, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await funded(ctx, alice, [(bob.id, 2000)], description="Committed late")
    await settle(ctx.container)
    # As if these events had been recorded longer ago than notify_new looks back (their
    # transaction committing only now): it reads from its window, they are before it.
    monkeypatch.setattr(sweep, "RECENT", timedelta(0))
    await asyncio.sleep(0.01)
    assert await notify_new(ctx.container) == 0
    assert await _count(ctx, escrow["id"]) == 0
    # The sweep reads the whole window from the cursor: it makes them, each once.
    assert await notify(ctx.container) == 3
    assert await _count(ctx, escrow["id"]) == 3
    monkeypatch.undo()
    assert await notify_new(ctx.container) == 0


async def test_the_sweep_passes_over_the_events_this_process_handled(
    ctx: Ctx, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # notify_new reading the sweep's whole window: every young event of the shared test
    # database is then in the memo, not only this test's (it reads the last RECENT otherwise,
    # and earlier tests' older events would be the sweep's to read in full).
    monkeypatch.setattr(sweep, "RECENT", SETTLE)
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await funded(ctx, alice, [(bob.id, 2000)], description="Once")
    await settle(ctx.container)
    await notify_new(ctx.container)
    assert await _count(ctx, escrow["id"]) == 3
    # The events are young, so the sweep reads their ids again; none is read in full (its
    # data parsed, its parties looked up) a second time by the process that handled it.
    with compiled_forms(ctx.container.db.engine, "events.data") as full_reads:
        assert await notify(ctx.container) == 0
    assert full_reads == []
    assert await _count(ctx, escrow["id"]) == 3


async def test_the_sweep_compiles_its_insert_once_whatever_the_number_of_rows(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    carol = person(ctx, await verified_payee(ctx))
    await notify(ctx.container)  # what earlier tests left
    made: list[int] = []
    with compiled_forms(ctx.container.db.engine, "INSERT INTO notifications") as forms:
        rounds: list[list[tuple[str | None, int]]] = [
            [(bob.id, 1000)],
            [(bob.id, 1000), (carol.id, 2000)],
        ]
        for payees in rounds:
            escrow = await funded(ctx, alice, payees, description="Rows")
            await settle(ctx.container)
            await notify(ctx.container)
            made.append(await _count(ctx, escrow["id"]))
    assert made == [3, 4]  # the payer's two and one per payee: rounds of different sizes
    assert len(forms) == 1  # a statement SQLAlchemy could cache, not one per row count
