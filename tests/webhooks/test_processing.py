"""process_pending: stored events reach their handlers once; failures retry, then wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from escrowd.bootstrap import Container
from escrowd.clock import Clock, FrozenClock
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.models import InboundWebhookEvent
from escrowd.webhooks.service import MAX_ATTEMPTS, RETRY_DELAYS, process_pending, requeue
from tests.webhooks.conftest import (
    Recorder,
    deliver,
    event,
    new_event_id,
    status_of,
    stored,
)


async def test_a_failing_handler_marks_its_event_failed_and_others_still_process(
    client: httpx.AsyncClient,
    container: Container,
    registry: HandlerRegistry,
    clock: FrozenClock,
) -> None:
    recorder = Recorder()
    registry.register(EventKind.transfer_created, recorder)
    bad = event("transfer.created", obj={"id": "tr_bad", "object": "transfer"})
    good = event("transfer.created", obj={"id": "tr_good", "object": "transfer"})
    recorder.fail_ids.add(bad["id"])
    for body in (bad, good):
        assert (await deliver(client, container, body)).status_code == 200

    await process_pending(container, registry=registry)

    row = await stored(container, bad["id"])
    assert row is not None
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == f"RuntimeError: handler refused {bad['id']}"
    assert row.next_attempt_at == clock.now() + RETRY_DELAYS[0]
    assert row.processed_at is None
    good_row = await stored(container, good["id"])
    assert good_row is not None
    assert good_row.status == "processed"
    assert recorder.count(good["id"]) == 1

    # Not retried before its time, then retried and (the cause fixed) processed.
    await process_pending(container, registry=registry)
    assert await status_of(container, bad["id"]) == ("failed", 1)
    recorder.fail_ids.clear()
    clock.advance(RETRY_DELAYS[0])
    await process_pending(container, registry=registry)
    row = await stored(container, bad["id"])
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == ("processed", 2, None)
    assert recorder.count(bad["id"]) == 1


async def test_a_handler_that_keeps_failing_is_left_failed_for_an_admin_to_requeue(
    client: httpx.AsyncClient,
    container: Container,
    registry: HandlerRegistry,
    clock: FrozenClock,
) -> None:
    recorder = Recorder()
    registry.register(EventKind.payout_failed, recorder)
    body = event("payout.failed", obj={"id": "po_stuck", "object": "payout"})
    recorder.fail_ids.add(body["id"])
    await deliver(client, container, body)

    for delay in (*RETRY_DELAYS, timedelta(days=30)):
        await process_pending(container, registry=registry)
        clock.advance(delay)
    await process_pending(container, registry=registry)

    row = await stored(container, body["id"])
    assert row is not None
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)

    recorder.fail_ids.clear()
    assert await requeue(container, provider="stripe", event_id=body["id"])
    await process_pending(container, registry=registry)
    row = await stored(container, body["id"])
    assert row is not None
    assert row.status == "processed"
    assert recorder.count(body["id"]) == 1
    assert not await requeue(container, provider="stripe", event_id=body["id"])


async def test_a_failing_handlers_writes_are_rolled_back_and_a_successful_ones_commit(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    written: dict[str, str] = {}

    async def write_then_maybe_fail(session: AsyncSession, ev: ProviderEvent, clock: Clock) -> None:
        marker = new_event_id()
        written[ev.id] = marker
        session.add(_marker_row(container, marker, ev))
        await session.flush()
        if ev.object_id == "pi_fail":
            raise ValueError("after writing")

    registry.register(EventKind.payment_canceled, write_then_maybe_fail)
    failing = event("payment_intent.canceled", obj={"id": "pi_fail", "object": "x"})
    passing = event("payment_intent.canceled", obj={"id": "pi_pass", "object": "x"})
    for body in (failing, passing):
        await deliver(client, container, body)

    await process_pending(container, registry=registry)

    assert await stored(container, written[failing["id"]]) is None
    assert await stored(container, written[passing["id"]]) is not None
    assert await status_of(container, failing["id"]) == ("failed", 1)


async def test_a_handler_write_that_breaks_a_constraint_fails_only_its_event(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    async def duplicate_key(session: AsyncSession, ev: ProviderEvent, clock: Clock) -> None:
        # Not flushed by the handler: the pipeline must still catch it inside the savepoint.
        session.add(_marker_row(container, ev.id, ev))

    registry.register(EventKind.dispute_created, duplicate_key)
    body = event("charge.dispute.created", obj={"id": "dp_1", "object": "dispute"})
    await deliver(client, container, body)
    await process_pending(container, registry=registry)
    row = await stored(container, body["id"])
    assert row is not None
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert row.last_error.startswith("IntegrityError")


async def test_a_transaction_that_fails_at_commit_still_counts_the_attempt(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    def refuse_commit(_session: Session) -> None:
        raise RuntimeError("commit refused")

    async def handler(session: AsyncSession, ev: ProviderEvent, clock: Clock) -> None:
        sa_event.listen(session.sync_session, "before_commit", refuse_commit, once=True)

    registry.register(EventKind.dispute_closed, handler)
    body = event("charge.dispute.closed", obj={"id": "dp_2", "object": "dispute"})
    await deliver(client, container, body)
    await process_pending(container, registry=registry)
    row = await stored(container, body["id"])
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        1,
        "RuntimeError: commit refused",
    )
    assert row.next_attempt_at is not None


async def test_a_known_kind_no_module_handles_is_marked_ignored(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    body = event("invoice.paid", obj={"id": "in_1", "object": "invoice"})
    await deliver(client, container, body)
    await process_pending(container, registry=registry)
    row = await stored(container, body["id"])
    assert row is not None
    assert (row.kind, row.status) == (EventKind.invoice_paid.value, "ignored")


async def test_unhandled_events_are_ignored_together_and_an_unparseable_one_fails(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    await process_pending(container, registry=registry)  # settle what earlier tests left
    recorder = Recorder()
    registry.register(EventKind.payout_paid, recorder)
    unhandled = [
        event("invoice.paid", obj={"id": f"in_{i}", "object": "invoice"}) for i in range(3)
    ]
    unknown = event("made.up.type", obj={"id": "x_1", "object": "x"})
    handled = event("payout.paid", obj={"id": "po_1", "object": "payout"})
    broken = event("invoice.paid", obj={"id": "in_broken", "object": "invoice"})
    for body in (*unhandled, unknown, handled, broken):
        assert (await deliver(client, container, body)).status_code == 200
    async with container.db.transaction() as s:  # a body stored by an older escrowd
        row = (
            await s.scalars(
                select(InboundWebhookEvent).where(InboundWebhookEvent.event_id == broken["id"])
            )
        ).one()
        row.raw_body = b'{"not": "an event"}'

    assert await process_pending(container, registry=registry) == 6

    for body in (*unhandled, unknown):
        assert await status_of(container, body["id"]) == ("ignored", 0)
    assert await status_of(container, handled["id"]) == ("processed", 1)
    assert recorder.count(handled["id"]) == 1
    broken_row = await stored(container, broken["id"])
    assert broken_row is not None
    assert (broken_row.status, broken_row.attempts) == ("failed", 1)
    assert broken_row.next_attempt_at is None


async def test_the_containers_handlers_are_used_by_default(
    client: httpx.AsyncClient, container: Container
) -> None:
    recorder = Recorder()
    remove = container.registries.webhooks.register(EventKind.subscription_deleted, recorder)
    try:
        body = event("customer.subscription.deleted", obj={"id": "sub_1", "object": "x"})
        await deliver(client, container, body)
        await process_pending(container)
    finally:
        remove()
    assert recorder.count(body["id"]) == 1
    webhooks = container.registries.webhooks
    assert recorder not in webhooks.handlers_for(EventKind.subscription_deleted)


async def test_process_pending_reports_how_many_events_it_settled_within_its_limit(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    await process_pending(container, registry=registry)  # settle what earlier tests left
    for _ in range(3):
        await deliver(client, container, event("payout.paid"))
    assert await process_pending(container, registry=registry, limit=1) == 1
    assert await process_pending(container, registry=registry) == 2
    assert await process_pending(container, registry=registry) == 0


async def test_concurrent_workers_run_each_event_exactly_once(
    client: httpx.AsyncClient, container: Container, registry: HandlerRegistry
) -> None:
    calls: list[str] = []

    async def slow(session: AsyncSession, ev: ProviderEvent, clock: Clock) -> None:
        calls.append(ev.id)
        await asyncio.sleep(0.01)  # hold the row while the other workers look for work

    registry.register(EventKind.charge_expired, slow)
    bodies = [event("charge.expired", obj={"id": f"ch_{i}", "object": "x"}) for i in range(8)]
    for body in bodies:
        await deliver(client, container, body)

    await asyncio.gather(*(process_pending(container, registry=registry) for _ in range(4)))

    ids = [b["id"] for b in bodies]
    assert sorted(c for c in calls if c in ids) == sorted(ids)
    for body in bodies:
        assert await status_of(container, body["id"]) == ("processed", 1)


def test_the_unknown_kind_cannot_be_given_a_handler() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        HandlerRegistry().register(EventKind.unknown, Recorder())


def test_a_handler_is_registered_at_most_once_per_kind() -> None:
    reg, recorder = HandlerRegistry(), Recorder()
    reg.register(EventKind.payout_paid, recorder)
    with pytest.raises(ValueError, match="already registered"):
        reg.register(EventKind.payout_paid, recorder)
    assert reg.kinds() == {EventKind.payout_paid}


def _marker_row(container: Container, marker: str, ev: ProviderEvent) -> InboundWebhookEvent:
    now = container.clock.now()
    return InboundWebhookEvent(
        provider="stripe",
        event_id=marker,
        type="test.marker",
        kind="unknown",
        event_created=ev.created,
        raw_body=b"{}",
        headers={},
        received_at=now,
        status="ignored",
        attempts=0,
    )
