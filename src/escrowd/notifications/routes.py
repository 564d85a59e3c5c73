"""``/v1/notifications`` and ``/v1/notification_preferences``: the caller's own only.

Notifications belong to people, so every route takes a user token (an API key gets 403
``user_token_required``); someone else's notification answers 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from escrowd.api.auth import CurrentUser
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.notifications import service
from escrowd.notifications.models import Notification
from escrowd.notifications.schemas import (
    NotificationObject,
    Preferences,
    PreferencesUpdate,
    ReadAll,
    UnreadCount,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])
preferences_router = APIRouter(prefix="/notification_preferences", tags=["notifications"])

NotificationIdPath = Annotated[str, Path(max_length=64, description="A notification id (ntf_…).")]


@router.get("", **list_route("List your notifications, newest first", NotificationObject, 403))
async def list_notifications(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    unread: Annotated[
        bool | None,
        Query(description="`true`: only unread ones; `false`: only read ones."),
    ] = None,
) -> ListResponse[NotificationObject]:
    stmt = service.list_query(user_id=user.id, unread=unread)
    return await page_of(
        session, stmt, Notification.id, page, url="/v1/notifications", of=NotificationObject.of
    )


@router.get(
    "/unread_count",
    summary="How many of your notifications are unread",
    response_model=UnreadCount,
    responses=error_responses(401, 403),
)
async def unread_count(session: SessionDep, user: CurrentUser) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(session, user_id=user.id))


@router.post(
    "/read_all",
    **write_route("Mark all your notifications read", ReadAll, 401, 403),
)
async def read_all(session: SessionDep, container: ContainerDep, user: CurrentUser) -> ReadAll:
    marked = await service.mark_all_read(session, clock=container.clock, user_id=user.id)
    return ReadAll(unread=0, marked=marked)


@router.post(
    "/{notification_id}/read",
    **write_route("Mark one of your notifications read", NotificationObject, 401, 403, 404),
)
async def read_one(
    notification_id: NotificationIdPath,
    session: SessionDep,
    container: ContainerDep,
    user: CurrentUser,
) -> NotificationObject:
    row = await service.mark_read(
        session, clock=container.clock, user_id=user.id, notification_id=notification_id
    )
    return NotificationObject.of(row)


@preferences_router.get(
    "",
    summary="Your email preferences per notification type",
    response_model=Preferences,
    responses=error_responses(401, 403),
)
async def get_preferences(session: SessionDep, user: CurrentUser) -> Preferences:
    return Preferences(email=await service.email_preferences(session, user_id=user.id))


@preferences_router.post(
    "",
    **write_route("Turn email on or off per notification type", Preferences, 400, 401, 403),
)
async def set_preferences(
    body: PreferencesUpdate, session: SessionDep, container: ContainerDep, user: CurrentUser
) -> Preferences:
    email = await service.set_email_preferences(
        session, clock=container.clock, user_id=user.id, email=body.email
    )
    return Preferences(email=email)


routers = [router, preferences_router]
