"""``GET /v1/events`` and ``GET /v1/events/{id}`` (the lead mounts ``router`` under /v1).

Filters are spelled as Stripe spells them and FastAPI parses them: ``type=escrow.*``,
``types[]=escrow.funded&types[]=escrow.released``, ``object_id=esc_…``, ``created=<t>``,
``created[gt]``, ``created[gte]``, ``created[lt]``, ``created[lte]`` (Unix seconds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from escrowd.api.auth import BrowserPrincipal, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_json, retrieve_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import component, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.errors import NotFoundError
from escrowd.events import service, stream
from escrowd.events.domain import ALL_PREFIXES
from escrowd.events.models import Event as EventRow
from escrowd.events.schemas import Event

router = APIRouter(prefix="/events", tags=["events"])

EventIdPath = Annotated[str, Path(max_length=64, description="An event id (evt_…).")]
_Created = Annotated[int | None, Query(ge=0, le=service.MAX_CREATED)]
_REF = "#/components/schemas/"
component(
    "EventTypePrefix",
    {
        "type": "string",
        "enum": list(ALL_PREFIXES),
        "description": "The first characters of at least one event type, then `*` "
        "(`escrow.*`, `escrow.partially_*`; `*` alone is every type).",
    },
)
#: What ``type`` and each ``types[]`` take: escrowd.events.service refuses anything else
#: (400 ``event_type_unknown``, or ``parameter_invalid`` when it is not even shaped like one).
TypeFilter = Annotated[
    str,
    component(
        "EventTypeFilter",
        {
            "anyOf": [{"$ref": f"{_REF}EventType"}, {"$ref": f"{_REF}EventTypePrefix"}],
            "description": "An event type, or a prefix of one ending in `*`.",
        },
    ),
]


@dataclass(frozen=True, slots=True)
class EventFilters:
    type: str | None
    types: list[str] | None
    object_id: str | None
    created: int | None
    created_gt: int | None
    created_gte: int | None
    created_lt: int | None
    created_lte: int | None


def event_filters(
    type_: Annotated[
        TypeFilter | None,
        Query(
            alias="type",
            max_length=64,
            description="An event type (`escrow.funded`) or a prefix ending in `*` "
            "(`escrow.*`, `escrow.partially_*`).",
        ),
    ] = None,
    types: Annotated[
        list[TypeFilter] | None,
        Query(
            alias="types[]",
            # Stated for the document; escrowd.events.service checks it, with its own message.
            json_schema_extra={"maxItems": service.MAX_TYPES},
            description=f"Up to {service.MAX_TYPES} types (or `*` prefixes), repeated: "
            "`types[]=escrow.funded&types[]=escrow.released`. Not together with `type`.",
        ),
    ] = None,
    object_id: Annotated[
        str | None,
        Query(max_length=service.MAX_OBJECT_ID, description="Only events about this object."),
    ] = None,
    created: Annotated[_Created, Query(description="Created in this second (Unix).")] = None,
    created_gt: Annotated[_Created, Query(alias="created[gt]")] = None,
    created_gte: Annotated[_Created, Query(alias="created[gte]")] = None,
    created_lt: Annotated[_Created, Query(alias="created[lt]")] = None,
    created_lte: Annotated[_Created, Query(alias="created[lte]")] = None,
) -> EventFilters:
    return EventFilters(
        type_, types, object_id, created, created_gt, created_gte, created_lt, created_lte
    )


FiltersDep = Annotated[EventFilters, Depends(event_filters)]


@router.get("", **list_route("List the events you may see, newest first", Event))
async def list_events(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep, filters: FiltersDep
) -> JSONResponse:
    """Admins and API keys see every event; a user sees the events about their own objects
    and their organizations' (docs/events.md)."""
    stmt = service.list_query(actor=principal, **asdict(filters))
    return await page_json(
        session, stmt, EventRow.id, page, url="/v1/events", to_json=lambda e: Event.of(e).to_json()
    )


@router.get(
    "/stream",
    summary="Stream the events you may see as they are recorded (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **error_responses(401, 404),
    },
)
async def stream_events(
    request: Request,
    container: ContainerDep,
    session: SessionDep,
    principal: BrowserPrincipal,
    object_id: Annotated[
        str | None,
        Query(
            max_length=service.MAX_OBJECT_ID,
            description="Watch one object; 404 unless you may see an event about it.",
        ),
    ] = None,
    seconds: Annotated[
        int,
        Query(ge=1, le=3600, description="End the stream after this many seconds; reconnect."),
    ] = 300,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=64, description="Resume after this event."),
    ] = None,
) -> StreamingResponse:
    """Each event is an SSE frame (`id`, `event` = its type, `data` = the event object), with
    the same visibility as `GET /v1/events`; `: heartbeat` comments keep idle connections open
    (docs/live.md). The request's session ends with this function; each poll of the stream
    opens its own short transaction, so no connection is held while the stream is idle."""
    if object_id is not None and not await stream.may_watch(
        session, actor=principal, object_id=object_id
    ):
        raise NotFoundError(f"No such object: '{object_id}'.", param="object_id")
    last = last_event_id or await stream.latest_id(session, actor=principal, object_id=object_id)
    body = stream.frames(
        container,
        actor=principal,
        object_id=object_id,
        last_id=last,
        seconds=seconds,
        disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{event_id}", **retrieve_route("Retrieve an event", Event))
async def get_event(
    event_id: EventIdPath, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    event = await service.get(session, event_id=event_id, actor=principal)
    return JSONResponse(Event.of(event).to_json())
