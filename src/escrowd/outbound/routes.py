"""``/v1/webhook_endpoints``: where escrowd sends its events, and the log of what it sent.

The marketplace's operator manages them: admin users and platform API keys (an API key is the
platform's own server, which is what usually sets its webhook up). No route moves money, so
none demands an ``Idempotency-Key``; creating twice makes two endpoints with two secrets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.auth import AdminPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.ids import Prefix, id_pattern
from escrowd.outbound import service
from escrowd.outbound.domain import DeliveryStatus
from escrowd.outbound.models import WebhookDelivery, WebhookEndpoint
from escrowd.outbound.schemas import (
    WebhookDeliveryObject,
    WebhookEndpointCreate,
    WebhookEndpointObject,
    WebhookEndpointUpdate,
)

EndpointIdPath = Annotated[
    str,
    Path(pattern=id_pattern(Prefix.webhook_endpoint), description="The endpoint's id (we_…)."),
]
DeliveryIdPath = Annotated[
    str,
    Path(pattern=id_pattern(Prefix.webhook_delivery), description="The delivery's id (dlv_…)."),
]

router = APIRouter(prefix="/webhook_endpoints", tags=["webhook endpoints"])


@router.post(
    "",
    **write_route(
        "Create a webhook endpoint (its signing secret is in this answer only)",
        WebhookEndpointObject,
        400,
        401,
        403,
    ),
)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate,
    session: SessionDep,
    container: ContainerDep,
    principal: AdminPrincipal,
) -> WebhookEndpointObject:
    row = await service.create(
        session,
        clock=container.clock,
        settings=container.settings,
        actor=principal,
        url=body.url,
        enabled_events=body.enabled_events,
        description=body.description,
    )
    return WebhookEndpointObject.of(row, show_secret=True)


@router.get("", **list_route("List webhook endpoints, newest first", WebhookEndpointObject, 403))
async def list_webhook_endpoints(
    session: SessionDep, page: PageDep, _: AdminPrincipal
) -> ListResponse[WebhookEndpointObject]:
    return await page_of(
        session,
        service.list_query(),
        WebhookEndpoint.id,
        page,
        url="/v1/webhook_endpoints",
        of=WebhookEndpointObject.of,
    )


@router.get(
    "/{endpoint_id}",
    **retrieve_route(
        "Retrieve a webhook endpoint (without its secret)", WebhookEndpointObject, 403
    ),
)
async def get_webhook_endpoint(
    endpoint_id: EndpointIdPath, session: SessionDep, _: AdminPrincipal
) -> WebhookEndpointObject:
    return WebhookEndpointObject.of(await service.get(session, endpoint_id))


@router.post(
    "/{endpoint_id}",
    **write_route(
        "Update a webhook endpoint: URL, events, description, disable or enable it",
        WebhookEndpointObject,
        400,
        401,
        403,
        404,
    ),
)
async def update_webhook_endpoint(
    endpoint_id: EndpointIdPath,
    body: WebhookEndpointUpdate,
    session: SessionDep,
    container: ContainerDep,
    _: AdminPrincipal,
) -> WebhookEndpointObject:
    row = await service.update(
        session,
        clock=container.clock,
        settings=container.settings,
        endpoint_id=endpoint_id,
        url=body.url,
        enabled_events=body.enabled_events,
        description=body.description,
        disabled=body.disabled,
    )
    return WebhookEndpointObject.of(row)


@router.post(
    "/{endpoint_id}/rotate_secret",
    **write_route(
        "Replace the signing secret (the new one is in this answer only)",
        WebhookEndpointObject,
        401,
        403,
        404,
    ),
)
async def rotate_webhook_secret(
    endpoint_id: EndpointIdPath, session: SessionDep, container: ContainerDep, _: AdminPrincipal
) -> WebhookEndpointObject:
    row = await service.rotate_secret(session, clock=container.clock, endpoint_id=endpoint_id)
    return WebhookEndpointObject.of(row, show_secret=True)


def _with_attempts(
    session: AsyncSession,
) -> Callable[[Sequence[WebhookDelivery]], Awaitable[list[WebhookDeliveryObject]]]:
    async def render(rows: Sequence[WebhookDelivery]) -> list[WebhookDeliveryObject]:
        attempts = await service.attempts_of(session, rows)
        return [WebhookDeliveryObject.of(d, attempts[d.id]) for d in rows]

    return render


@router.get(
    "/{endpoint_id}/deliveries",
    **list_route(
        "The delivery log of an endpoint: each event sent, with every attempt",
        WebhookDeliveryObject,
        403,
        404,
    ),
)
async def list_webhook_deliveries(
    endpoint_id: EndpointIdPath,
    session: SessionDep,
    page: PageDep,
    _: AdminPrincipal,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only deliveries in this status.")
    ] = None,
    event: Annotated[
        str | None,
        Query(pattern=id_pattern(Prefix.event), description="Only the delivery of this event."),
    ] = None,
) -> ListResponse[WebhookDeliveryObject]:
    await service.get(session, endpoint_id)
    return await page_of(
        session,
        service.deliveries_query(endpoint_id, status=status, event_id=event),
        WebhookDelivery.id,
        page,
        url=f"/v1/webhook_endpoints/{endpoint_id}/deliveries",
        render=_with_attempts(session),
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    **write_route(
        "Deliver again now: one more attempt, in the background",
        WebhookDeliveryObject,
        401,
        403,
        404,
        409,
    ),
)
async def retry_webhook_delivery(
    endpoint_id: EndpointIdPath,
    delivery_id: DeliveryIdPath,
    session: SessionDep,
    container: ContainerDep,
    _: AdminPrincipal,
) -> WebhookDeliveryObject:
    row = await service.redeliver(
        session, clock=container.clock, endpoint_id=endpoint_id, delivery_id=delivery_id
    )
    attempts = await service.attempts_of(session, [row])
    return WebhookDeliveryObject.of(row, attempts[row.id])
