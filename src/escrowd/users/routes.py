"""HTTP routes for users and login; ``routers`` gathers every router of this package."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from escrowd.api.auth import AdminPrincipal, CurrentPrincipal, CurrentUser, OptionalPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.users import passwords, service, tokens
from escrowd.users.api_keys.routes import router as api_keys_router
from escrowd.users.domain import Role
from escrowd.users.models import User as UserRow
from escrowd.users.organizations.routes import router as organizations_router
from escrowd.users.schemas import (
    AccessToken,
    TokenCreate,
    User,
    UserCreate,
    UserUpdate,
)

UserIdPath = Annotated[str, Path(max_length=64, description="A user id (usr_…).")]

users_router = APIRouter(prefix="/users", tags=["users"])
auth_router = APIRouter(prefix="/auth", tags=["auth"])


@users_router.post(
    "",
    summary="Sign up (or, as an admin, create a user)",
    response_model=User,
    responses=error_responses(400, 401, 403, 409),
    # Credentials are optional here: `{}` adds "anonymous" to the bearer requirement.
    openapi_extra={"security": [{}]},
)
async def create_user(
    body: UserCreate,
    session: SessionDep,
    container: ContainerDep,
    principal: OptionalPrincipal,
) -> User:
    """Anyone may sign up as a `client` or `worker`. Only an admin may create an `admin`
    (send the admin's token with this request)."""
    user = await service.create(
        session,
        clock=container.clock,
        passwords=passwords.for_settings(container.settings),
        email=body.email,
        password=body.password,
        name=body.name,
        role=body.role,
        metadata=body.metadata,
        granted_by_admin=principal is not None and principal.is_admin,
    )
    return User.of(user)


@users_router.get(
    "/me",
    summary="The user the token belongs to",
    response_model=User,
    responses=error_responses(401, 403),
)
async def get_me(user: CurrentUser) -> User:
    return User.of(user)


@users_router.get("", **list_route("List users (admins)", User, 403))
async def list_users(
    session: SessionDep,
    _admin: AdminPrincipal,
    page: PageDep,
    role: Annotated[Role | None, Query(description="Only users with this role.")] = None,
    email: Annotated[str | None, Query(max_length=320, description="Only this email.")] = None,
) -> ListResponse[User]:
    stmt = service.list_query(role=role, email=email)
    return await page_of(session, stmt, UserRow.id, page, url="/v1/users", of=User.of)


@users_router.get(
    "/{user_id}", **retrieve_route("Retrieve a user (yourself, or anyone as an admin)", User)
)
async def get_user(user_id: UserIdPath, session: SessionDep, principal: CurrentPrincipal) -> User:
    return User.of(await service.get_visible(session, user_id=user_id, actor=principal))


@users_router.post(
    "/{user_id}",
    **write_route(
        "Update a user (name and metadata; role and disabled for admins)",
        User,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def update_user(
    user_id: UserIdPath,
    body: UserUpdate,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
) -> User:
    user = await service.get_visible(session, user_id=user_id, actor=principal)
    user = await service.update(
        session,
        clock=container.clock,
        user=user,
        actor=principal,
        changes=body.model_dump(exclude_unset=True),
    )
    return User.of(user)


@auth_router.post(
    "/tokens",
    **write_route("Log in: exchange email and password for an access token", AccessToken, 400, 401),
)
async def create_token(
    body: TokenCreate, session: SessionDep, container: ContainerDep
) -> AccessToken:
    """Send the returned `access_token` as `Authorization: Bearer <token>`. It expires after
    `expires_in` seconds; log in again then."""
    user = await service.authenticate(
        session,
        clock=container.clock,
        passwords=passwords.for_settings(container.settings),
        email=body.email,
        password=body.password,
    )
    issued = tokens.issue(
        settings=container.settings, clock=container.clock, user_id=user.id, role=user.role
    )
    return AccessToken(access_token=issued.token, expires_in=issued.expires_in, user=User.of(user))


routers: list[APIRouter] = [auth_router, users_router, api_keys_router, organizations_router]
