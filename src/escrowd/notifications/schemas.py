"""API shapes: the notification object (``ntf_…``), the unread count, email preferences."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool
from pydantic.config import JsonDict

from escrowd.api.schemas import ApiObject, RequestModel, component
from escrowd.clock import unix
from escrowd.notifications.domain import DESCRIPTIONS, NotificationType
from escrowd.notifications.models import Notification as NotificationRow

_TYPES = [t.value for t in NotificationType]
#: The OpenAPI document names the keys a preferences map may have.
_KEYS: JsonDict = {"propertyNames": {"enum": [t.value for t in NotificationType]}}

NotificationTypeName = Annotated[
    str,
    component(
        "NotificationType",
        {
            "type": "string",
            "enum": _TYPES,
            "description": "What a notification is about (docs/notifications.md): "
            + "; ".join(f"`{t.value}`: {DESCRIPTIONS[t]}" for t in NotificationType),
        },
    ),
]


class NotificationObject(ApiObject):
    id: str = Field(description="ntf_…")
    object: Literal["notification"] = "notification"
    type: NotificationTypeName
    title: str = Field(description="One line, also the email's subject.")
    body: str = Field(description="A sentence or two saying what happened and what to do.")
    event: str = Field(description="The event it was made from (evt_…, see GET /v1/events).")
    related_object: dict[str, str] = Field(
        description='What it is about: {"object": "escrow", "id": "esc_…"} (or an '
        "allocation, payout, account, dispute)."
    )
    read: bool
    read_at: int | None = Field(description="Unix seconds when it was marked read, or null.")
    created: int = Field(description="Unix seconds: when the event happened.")

    @classmethod
    def of(cls, row: NotificationRow) -> NotificationObject:
        return cls(
            id=row.id,
            type=row.type,
            title=row.title,
            body=row.body,
            event=row.event_id,
            related_object={"object": row.object_type, "id": row.object_id},
            read=row.read_at is not None,
            read_at=None if row.read_at is None else unix(row.read_at),
            created=unix(row.created_at),
        )


class UnreadCount(ApiObject):
    object: Literal["notification_count"] = "notification_count"
    unread: int = Field(description="Your notifications not marked read yet.")


class ReadAll(UnreadCount):
    marked: int = Field(description="How many this request marked read.")


class Preferences(ApiObject):
    object: Literal["notification_preferences"] = "notification_preferences"
    email: dict[str, bool] = Field(
        description="Per notification type, whether it is also sent by email (on unless "
        "turned off). In-app notifications are always made.",
        json_schema_extra=_KEYS,
    )


class PreferencesUpdate(RequestModel):
    email: dict[str, StrictBool] = Field(
        max_length=len(_TYPES),
        description="Notification type → `true` (email it) or `false` (in-app only). Types "
        "not named keep their setting.",
        json_schema_extra=_KEYS,
    )
