"""API shapes of outbound webhooks: endpoints (``we_…``), deliveries (``dlv_…``) and their
attempts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, RequestModel
from escrowd.clock import unix
from escrowd.outbound.domain import (
    MAX_EVENT_FILTERS,
    MAX_URL,
    DeliveryStatus,
    EndpointStatus,
)
from escrowd.outbound.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

Url = Annotated[str, Field(min_length=1, max_length=MAX_URL)]
Filter = Annotated[str, Field(min_length=1, max_length=64)]
Filters = Annotated[list[Filter], Field(min_length=1, max_length=MAX_EVENT_FILTERS)]
Description = Annotated[str, Field(max_length=500)]


class WebhookEndpointCreate(RequestModel):
    url: Url = Field(
        description="Where escrowd POSTs events: https:// (http:// is accepted outside "
        "production). Loopback, private and link-local addresses are refused unless the "
        "operator set ESCROWD_WEBHOOKS_ALLOW_PRIVATE."
    )
    enabled_events: Filters = Field(
        description="The events to send: `*` for all, a type (`escrow.funded`) or a prefix "
        "ending in `*` (`payout.*`)."
    )
    description: Description | None = Field(
        default=None, description="A note for the marketplace's own people (what receives it)."
    )


class WebhookEndpointUpdate(RequestModel):
    url: Url | None = None
    enabled_events: Filters | None = None
    description: Description | None = None
    disabled: bool | None = Field(
        default=None,
        description="true stops deliveries to it; false enables it again (also after it "
        "answered 410).",
    )


class WebhookEndpointObject(ApiObject):
    id: str = Field(description="we_…")
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    description: str | None
    enabled_events: list[str]
    status: EndpointStatus
    disabled_reason: str | None = Field(
        description="Why it is disabled: `gone` (it answered 410 Gone) or `manual`."
    )
    secret: str | None = Field(
        default=None,
        description="The signing secret (whsec_…). Only in the answer to create and "
        "rotate_secret: store it then, it is never shown again.",
    )
    created: int
    updated: int

    @classmethod
    def of(cls, row: WebhookEndpoint, *, show_secret: bool = False) -> WebhookEndpointObject:
        return cls(
            id=row.id,
            url=row.url,
            description=row.description,
            enabled_events=list(row.enabled_events),
            status=EndpointStatus.enabled if row.enabled else EndpointStatus.disabled,
            disabled_reason=row.disabled_reason,
            secret=row.secret if show_secret else None,
            created=unix(row.created_at),
            updated=unix(row.updated_at),
        )


class WebhookAttemptObject(ApiObject):
    number: int = Field(description="1 for the first attempt.")
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    error: str | None = Field(
        description="Why the attempt failed without a usable answer: `address_not_allowed`, "
        "`dns_error`, `timeout`, `connection_error`, or `redirect_not_followed` (a 3xx, with "
        "its `Location`), with details."
    )
    response_body: str | None = Field(description="The start of the receiver's answer.")
    duration_ms: int
    trigger: Literal["schedule", "admin"]
    created: int

    @classmethod
    def of(cls, row: WebhookAttempt) -> WebhookAttemptObject:
        return cls(
            number=row.number,
            status_code=row.status_code,
            error=row.error,
            response_body=row.response_body,
            duration_ms=row.duration_ms,
            trigger="admin" if row.trigger == "admin" else "schedule",
            created=unix(row.attempted_at),
        )


class WebhookDeliveryObject(ApiObject):
    id: str = Field(description="dlv_…")
    object: Literal["webhook_delivery"] = "webhook_delivery"
    webhook_endpoint: str
    event: str = Field(description="The event sent (evt_…), also the `webhook-id` header.")
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt: int | None = Field(description="When the next attempt is due (Unix seconds).")
    last_status_code: int | None
    last_error: str | None
    attempts: list[WebhookAttemptObject] = Field(description="Every attempt, oldest first.")
    created: int

    @classmethod
    def of(cls, row: WebhookDelivery, attempts: list[WebhookAttempt]) -> WebhookDeliveryObject:
        return cls(
            id=row.id,
            webhook_endpoint=row.endpoint_id,
            event=row.event_id,
            event_type=row.event_type,
            status=DeliveryStatus(row.status),
            attempt_count=row.attempts,
            next_attempt=None if row.next_attempt_at is None else unix(row.next_attempt_at),
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            attempts=[WebhookAttemptObject.of(a) for a in attempts],
            created=unix(row.created_at),
        )
