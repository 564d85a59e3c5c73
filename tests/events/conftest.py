"""Helpers for event tests: an app with the events router, and events written directly.

The escrows service does not write events yet, so tests record them through
``escrowd.events.service.record`` (``emit``) with escrow-shaped data (``escrow_data``).

- ``await emit(container, type, object_id, audience=[...])`` → the recorded ``Event`` row.
- ``escrow_id()`` → a fresh ``esc_…`` id, so tests on the shared databases never collide.
- ``await make_org(container, owner_id, member_ids)`` → an organization id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.events.domain import EventType
from escrowd.events.models import Event
from escrowd.events.service import record
from escrowd.ids import Prefix, new_id
from escrowd.users.models import User
from escrowd.users.organizations import service as organizations


def escrow_id() -> str:
    return new_id(Prefix.escrow)


def escrow_data(object_id: str, status: str = "requires_payment", **extra: Any) -> dict[str, Any]:
    return {
        "id": object_id,
        "object": "escrow",
        "status": status,
        "amount": 10_000,
        "currency": "usd",
        **extra,
    }


async def emit(
    container: Container,
    type_: EventType,
    object_id: str,
    *,
    audience: Iterable[str | None] = (),
    data: dict[str, Any] | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> Event:
    """Record one event in its own transaction."""
    if data is None:
        data = (
            escrow_data(object_id)
            if type_.object_type == "escrow"
            else {"id": object_id, "object": type_.object_type.value}
        )
    async with container.db.transaction() as session:
        return await record(
            session,
            clock=container.clock,
            type=type_,
            object_id=object_id,
            data=data,
            audience=audience,
            previous_attributes=previous_attributes,
        )


async def make_org(container: Container, owner_id: str, member_ids: Iterable[str] = ()) -> str:
    async with container.db.transaction() as session:
        owner = await session.get(User, owner_id)
        assert owner is not None
        org = await organizations.create(session, clock=container.clock, creator=owner, name="Org")
        for member_id in member_ids:
            await organizations.add_member(
                session,
                clock=container.clock,
                org_id=org.id,
                actor=Principal.of_user(owner),
                user_id=member_id,
            )
        return org.id
