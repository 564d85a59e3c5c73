"""API shape of an event (Stripe's): ``{"id", "object": "event", "type", "created", "data":
{"object", "previous_attributes"?}, "request": {"id"}}``."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from escrowd.api.schemas import component
from escrowd.clock import unix
from escrowd.events import models
from escrowd.events.domain import ALL_TYPES

#: A type from the catalog (escrowd.events.domain): what events carry and filters name.
EventTypeName = Annotated[
    str,
    component(
        "EventType",
        {
            "type": "string",
            "enum": list(ALL_TYPES),
            "description": "An event type from the catalog (docs/events.md).",
        },
    ),
]


class EventData(BaseModel):
    object: dict[str, Any] = Field(
        description="The object the event is about (its `object` field says which kind), as "
        "the API showed it right after the change."
    )
    previous_attributes: dict[str, Any] | None = Field(
        default=None,
        description="The changed fields' values before the change. Only present on events "
        "that record one.",
    )


class EventRequest(BaseModel):
    id: str | None = Field(
        description="The Request-Id of the API request that caused the event; null when a job, "
        "a sweep or a provider webhook did."
    )


class Event(BaseModel):
    id: str
    object: Literal["event"] = "event"
    type: EventTypeName = Field(
        description="What happened, e.g. `escrow.funded` (see docs/events.md)."
    )
    created: int = Field(description="Unix seconds.")
    data: EventData
    request: EventRequest

    @classmethod
    def of(cls, e: models.Event) -> Event:
        previous = None if e.previous_attributes is None else json.loads(e.previous_attributes)
        return cls(
            id=e.id,
            type=e.type,
            created=unix(e.created_at),
            data=EventData(object=json.loads(e.data), previous_attributes=previous),
            request=EventRequest(id=e.request_id),
        )

    def to_json(self) -> dict[str, Any]:
        """The wire form: ``data.previous_attributes`` is left out when there is none."""
        out = self.model_dump(mode="json")
        if out["data"]["previous_attributes"] is None:
            del out["data"]["previous_attributes"]
        return out
