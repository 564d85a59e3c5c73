"""HTTP routes for platform API keys (admin users only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from escrowd.api.auth import AdminUser
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.users.api_keys import service as api_keys
from escrowd.users.api_keys.models import ApiKey as ApiKeyRow
from escrowd.users.api_keys.schemas import ApiKey, ApiKeyCreate, ApiKeyWithSecret

KeyIdPath = Annotated[str, Path(max_length=64, description="An API key id (key_…).")]

router = APIRouter(prefix="/api_keys", tags=["api keys"])


@router.post(
    "",
    **write_route(
        "Create a platform API key (the secret is shown only in this response)",
        ApiKeyWithSecret,
        400,
        401,
        403,
    ),
)
async def create_api_key(
    body: ApiKeyCreate, session: SessionDep, container: ContainerDep, admin: AdminUser
) -> ApiKeyWithSecret:
    """The key authenticates server-to-server calls as the platform (admin level): send it
    as `Authorization: Bearer ek_…`. Store `secret` now: it cannot be shown again."""
    key, secret = await api_keys.create(
        session, clock=container.clock, name=body.name, created_by=admin.id
    )
    return ApiKeyWithSecret(**ApiKey.of(key).model_dump(), secret=secret)


@router.get("", **list_route("List API keys (without their secrets)", ApiKey, 403))
async def list_api_keys(
    session: SessionDep, _admin: AdminUser, page: PageDep
) -> ListResponse[ApiKey]:
    stmt = api_keys.list_query()
    return await page_of(session, stmt, ApiKeyRow.id, page, url="/v1/api_keys", of=ApiKey.of)


@router.get("/{key_id}", **retrieve_route("Retrieve an API key (without its secret)", ApiKey, 403))
async def get_api_key(key_id: KeyIdPath, session: SessionDep, _admin: AdminUser) -> ApiKey:
    return ApiKey.of(await api_keys.get_or_raise(session, key_id=key_id))


@router.post(
    "/{key_id}/revoke",
    **write_route("Revoke an API key: refused from the next request on", ApiKey, 401, 403, 404),
)
async def revoke_api_key(
    key_id: KeyIdPath, session: SessionDep, container: ContainerDep, _admin: AdminUser
) -> ApiKey:
    return ApiKey.of(await api_keys.revoke(session, clock=container.clock, key_id=key_id))
