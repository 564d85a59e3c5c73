"""batched(): the events recorded in a block are written together when it ends, on both
databases: all of them, in order, with who may read them; none if the block fails; and an
event recorded in a savepoint inside the block still goes with that savepoint."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.events.domain import EventType
from escrowd.events.models import Event, EventAudience
from escrowd.events.service import batched, for_object, on_recorded, record, remove_recorded
from escrowd.ids import Prefix, new_id
from tests.events.conftest import escrow_data, escrow_id
from tests.statements import counted, flushed


class UseCaseFailedError(Exception):
    pass


async def _created(
    session: AsyncSession, clock: FrozenClock, object_id: str, *readers: str
) -> Event:
    return await record(
        session,
        clock=clock,
        type=EventType.escrow_created,
        object_id=object_id,
        data=escrow_data(object_id),
        audience=list(readers),
    )


async def _readers(container: Container, event_ids: list[str]) -> list[tuple[str, str]]:
    async with container.db.transaction() as session:
        rows = await session.execute(
            select(EventAudience.event_id, EventAudience.party_id)
            .where(EventAudience.event_id.in_(event_ids))
            .order_by(EventAudience.event_id, EventAudience.party_id)
        )
        return [(str(e), str(p)) for e, p in rows]


async def _three(
    session: AsyncSession, clock: FrozenClock, esc: str, payer: str, payee: str
) -> list[Event]:
    """A settlement's events: one with two readers, one with one, one with none."""
    return [
        await _created(session, clock, esc, payer, payee),
        await record(
            session,
            clock=clock,
            type=EventType.allocation_released,
            object_id=esc,
            data={"object": "allocation"},
            audience=[payee],
        ),
        await record(
            session,
            clock=clock,
            type=EventType.escrow_released,
            object_id=esc,
            data=escrow_data(esc, "released"),
        ),
    ]


async def test_a_batch_is_written_when_its_block_ends_in_one_go(
    container: Container, clock: FrozenClock
) -> None:
    esc, payer, payee = escrow_id(), new_id(Prefix.user), new_id(Prefix.user)
    async with container.db.transaction() as session, batched(session):
        # The same statements once before counting (PostgreSQL's driver learns its types).
        await _three(session, clock, escrow_id(), payer, payee)
    with counted(container.db.engine) as seen:
        async with container.db.transaction() as session, batched(session):
            written = await _three(session, clock, esc, payer, payee)
            # Nothing is written before the block ends.
            assert await for_object(session, object_id=esc) == []
        await flushed()
    if container.db.dialect == "sqlite":
        assert seen["INSERT"] == 2, dict(seen)  # the events, then their readers
    else:
        assert (seen["WITH"], seen["INSERT"]) == (1, 0), dict(seen)
    ids = [e.id for e in written]
    assert ids == sorted(ids)
    async with container.db.transaction() as session:
        assert [e.id for e in await for_object(session, object_id=esc)] == ids
    assert await _readers(container, ids) == sorted(
        [(ids[0], payer), (ids[0], payee), (ids[1], payee)]
    )


async def test_a_batch_whose_block_fails_writes_nothing(
    container: Container, clock: FrozenClock
) -> None:
    esc = escrow_id()
    try:
        async with container.db.transaction() as session, batched(session):
            await _created(session, clock, esc)
            raise UseCaseFailedError
    except UseCaseFailedError:
        pass
    async with container.db.transaction() as session:
        assert await for_object(session, object_id=esc) == []


async def test_an_event_in_a_rolled_back_savepoint_is_not_written_with_the_batch(
    container: Container, clock: FrozenClock
) -> None:
    kept, undone, after = escrow_id(), escrow_id(), escrow_id()
    async with container.db.transaction() as session, batched(session):
        await _created(session, clock, kept)
        try:
            async with session.begin_nested():
                await _created(session, clock, undone)
                raise UseCaseFailedError
        except UseCaseFailedError:
            pass
        await _created(session, clock, after)
    async with container.db.transaction() as session:
        assert len(await for_object(session, object_id=kept)) == 1
        assert await for_object(session, object_id=undone) == []
        assert len(await for_object(session, object_id=after)) == 1


async def test_more_events_than_one_statement_takes_are_all_written_in_order(
    container: Container, clock: FrozenClock
) -> None:
    esc, payer = escrow_id(), new_id(Prefix.user)
    async with container.db.transaction() as session, batched(session):
        written = [await _created(session, clock, esc, payer) for _ in range(70)]
    ids = [e.id for e in written]
    async with container.db.transaction() as session:
        assert [e.id for e in await for_object(session, object_id=esc)] == ids
    assert len(await _readers(container, ids)) == 70


async def test_callbacks_run_for_batched_events_after_they_are_written(
    container: Container, clock: FrozenClock
) -> None:
    esc = escrow_id()
    seen: list[tuple[str, int]] = []

    async def count_written(session: AsyncSession, event: Event) -> None:
        found = await session.scalars(select(Event.id).where(Event.object_id == esc))
        seen.append((event.id, len(list(found))))

    on_recorded(count_written)
    try:
        async with container.db.transaction() as session, batched(session):
            first = await _created(session, clock, esc)
            second = await _created(session, clock, esc)
            assert seen == []  # not before the batch is written
    finally:
        remove_recorded(count_written)
    assert seen == [(first.id, 2), (second.id, 2)]
