"""record(): one event and its audience, in the caller's transaction, on both databases."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import structlog
from sqlalchemy import Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.events.domain import EventType
from escrowd.events.models import Event, EventAudience
from escrowd.events.service import for_object, on_recorded, record, remove_recorded
from escrowd.ids import Prefix, has_prefix, new_id
from tests.events.conftest import emit, escrow_data, escrow_id


async def _audience(container: Container, event_id: str) -> set[str]:
    async with container.db.transaction() as session:
        rows = await session.scalars(
            select(EventAudience.party_id).where(EventAudience.event_id == event_id)
        )
        return set(rows)


class UseCaseFailedError(Exception):
    pass


async def _record_created(
    session: AsyncSession, container: Container, object_id: str, audience: list[str]
) -> None:
    """``escrow.created`` for ``object_id``, in ``session``'s unit of work."""
    await record(
        session,
        clock=container.clock,
        type=EventType.escrow_created,
        object_id=object_id,
        data=escrow_data(object_id),
        audience=audience,
    )


async def _record_then_fail(
    container: Container, object_id: str, *, audience: list[str] | None = None
) -> None:
    """A use case that records an event and then fails before its transaction commits."""
    async with container.db.transaction() as session:
        await _record_created(session, container, object_id, audience or [])
        raise UseCaseFailedError


async def test_recording_writes_the_event_and_who_may_read_it(
    container: Container, clock: FrozenClock
) -> None:
    esc = escrow_id()
    payer, payee, org = new_id(Prefix.user), new_id(Prefix.user), new_id(Prefix.organization)
    event = await emit(
        container,
        EventType.escrow_funded,
        esc,
        audience=[payer, payee, None, org, payer],
        data=escrow_data(esc, "held", note="café ✓"),
        previous_attributes={"status": "requires_payment"},
    )

    assert has_prefix(event.id, Prefix.event)
    async with container.db.transaction() as session:
        stored = await session.get(Event, event.id)
    assert stored is not None
    assert stored.type == "escrow.funded"
    assert stored.object_type == "escrow"
    assert stored.object_id == esc
    assert json.loads(stored.data) == escrow_data(esc, "held", note="café ✓")
    assert json.loads(stored.previous_attributes or "") == {"status": "requires_payment"}
    assert stored.request_id is None
    assert stored.created_at == clock.now()
    assert await _audience(container, event.id) == {payer, payee, org}


async def test_an_event_takes_the_request_id_bound_in_the_logging_context(
    container: Container,
) -> None:
    with structlog.contextvars.bound_contextvars(request_id="req_from_the_middleware"):
        event = await emit(container, EventType.escrow_created, escrow_id())
    assert event.request_id == "req_from_the_middleware"


async def test_events_roll_back_with_the_unit_of_work(container: Container) -> None:
    esc, payer = escrow_id(), new_id(Prefix.user)
    with pytest.raises(UseCaseFailedError):
        await _record_then_fail(container, esc, audience=[payer])
    async with container.db.transaction() as session:
        assert await for_object(session, object_id=esc) == []
        assert list(await session.scalars(select(EventAudience).filter_by(party_id=payer))) == []


async def test_events_written_in_a_savepoint_roll_back_with_it(container: Container) -> None:
    # A webhook handler runs in a savepoint: if it fails, its events must go with its writes.
    kept, undone, payer = escrow_id(), escrow_id(), new_id(Prefix.user)
    async with container.db.transaction() as session:
        for object_id, fails in ((kept, False), (undone, True)):
            try:
                async with session.begin_nested():
                    await _record_created(session, container, object_id, [payer])
                    if fails:
                        raise UseCaseFailedError
            except UseCaseFailedError:
                pass
    async with container.db.transaction() as session:
        assert [e.object_id for e in await for_object(session, object_id=kept)] == [kept]
        assert await for_object(session, object_id=undone) == []
        readers = await session.scalars(select(EventAudience).filter_by(party_id=payer))
        assert len(list(readers)) == 1


async def test_events_of_one_unit_of_work_list_in_the_order_they_were_written(
    container: Container, clock: FrozenClock
) -> None:
    esc = escrow_id()
    order = [
        EventType.allocation_released,
        EventType.allocation_released,
        EventType.allocation_released,
        EventType.escrow_released,
    ]
    async with container.db.transaction() as session:
        written = [
            await record(
                session,
                clock=clock,
                type=t,
                object_id=esc,
                data={"object": t.object_type.value},
            )
            for t in order
        ]
    ids = [e.id for e in written]
    assert ids == sorted(ids)
    async with container.db.transaction() as session:
        assert [e.id for e in await for_object(session, object_id=esc)] == ids


async def test_an_on_recorded_callback_runs_in_the_same_transaction(
    container: Container,
) -> None:
    seen: list[tuple[str, str]] = []
    outbox_party = new_id(Prefix.user)

    async def enqueue(session: AsyncSession, event: Event) -> None:
        seen.append((event.id, event.type))
        # Stands in for an outbox row: written in the recording transaction.
        session.add(EventAudience(party_id=outbox_party, event_id=event.id))
        await session.flush()

    on_recorded(enqueue)
    on_recorded(enqueue)  # registering twice runs it once
    try:
        event = await emit(container, EventType.escrow_cancelled, escrow_id())
        with pytest.raises(UseCaseFailedError):
            await _record_then_fail(container, escrow_id())
    finally:
        remove_recorded(enqueue)
    assert seen[0] == (event.id, "escrow.cancelled")
    assert seen[1][1] == "escrow.created"
    assert len(seen) == 2
    async with container.db.transaction() as session:
        rows = await session.scalars(
            select(EventAudience.event_id).where(EventAudience.party_id == outbox_party)
        )
        assert list(rows) == [event.id]  # the rolled-back event's callback write is gone too
    await emit(container, EventType.escrow_cancelled, escrow_id())
    assert len(seen) == 2  # removed callbacks no longer run


async def test_a_failing_callback_rolls_the_event_back(container: Container) -> None:
    esc = escrow_id()

    async def broken(_session: AsyncSession, _event: Event) -> None:
        raise RuntimeError("outbox unavailable")

    on_recorded(broken)
    try:
        with pytest.raises(RuntimeError):
            await emit(container, EventType.escrow_created, esc)
    finally:
        remove_recorded(broken)
    async with container.db.transaction() as session:
        assert await for_object(session, object_id=esc) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "escrow.fundd"}, "escrow.fundd"),
        ({"object_type": "allocation"}, "carries object type escrow"),
        ({"object_id": ""}, "object_id"),
        ({"object_id": "esc_" + "x" * 80}, "object_id"),
        ({"data": {"id": "esc_other"}}, "data['id']"),
        ({"data": {"object": "allocation"}}, "data['object']"),
        ({"data": {"when": object()}}, "JSON"),
        ({"data": {"amount": float("nan")}}, "JSON"),
        ({"audience": ["acct_123"]}, "audience"),
        ({"audience": ["usr_not_a_ulid"]}, "audience"),
    ],
)
async def test_recording_mistakes_are_programming_errors(
    container: Container, kwargs: dict[str, object], message: str
) -> None:
    esc = "esc_01JZ0000000000000000000000"
    args: dict[str, object] = {
        "type": EventType.escrow_created,
        "object_id": esc,
        "data": {"id": esc, "object": "escrow"},
        **kwargs,
    }
    async with container.db.transaction() as session:
        with pytest.raises(ValueError, match=re.escape(message)):
            await record(session, clock=container.clock, **args)  # type: ignore[arg-type]


async def test_the_clock_gives_the_created_time(container: Container, clock: FrozenClock) -> None:
    clock.advance(timedelta(days=3, microseconds=250))
    event = await emit(container, EventType.escrow_created, escrow_id())
    assert event.created_at == clock.now()


async def test_the_migration_creates_the_tables_the_models_describe(container: Container) -> None:
    def shape(conn: Any) -> dict[str, Any]:
        insp = inspect(conn)
        return {
            table: (
                {c["name"]: c["nullable"] for c in insp.get_columns(table)},
                insp.get_pk_constraint(table)["constrained_columns"],
                sorted(tuple(i["column_names"]) for i in insp.get_indexes(table)),
            )
            for table in ("events", "event_audience")
        }

    async with container.db.engine.connect() as conn:
        migrated = await conn.run_sync(shape)
    for table in (Event.__table__, EventAudience.__table__):
        assert isinstance(table, Table)
        columns, pk, indexes = migrated[table.name]
        assert columns == {c.name: c.nullable for c in table.columns}
        assert pk == [c.name for c in table.primary_key.columns]
        assert indexes == sorted(tuple(c.name for c in i.columns) for i in table.indexes)
