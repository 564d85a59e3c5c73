"""HTTP routes for connected accounts; ``routers`` is what create_app mounts under ``/v1``.

Routes that call the payment provider resolve the caller in a short transaction of their own
(``Caller``) instead of the request-wide ``SessionDep``: the service then runs its own short
transactions around the provider call, and no database transaction stays open across it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from escrowd.accounts import refresh_links, service
from escrowd.accounts.domain import Status
from escrowd.accounts.models import ConnectedAccount
from escrowd.accounts.schemas import (
    Account,
    AccountCreate,
    AccountLink,
    AccountLinkCreate,
    LoginLink,
)
from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter

AccountIdPath = Annotated[str, Path(max_length=64, description="An account id (acct_…).")]


router = APIRouter(prefix="/accounts", tags=["accounts"])


@router.post(
    "",
    **write_route(
        "Create a connected account (yours, or an organization's you administer)",
        Account,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def create_account(body: AccountCreate, container: ContainerDep, caller: Caller) -> Account:
    """Payees are paid into a connected account at the payment provider. Create it, then send
    the payee through onboarding (`POST /v1/accounts/{id}/onboarding_link`); its `status`
    becomes `verified` when the provider has what it needs. One account per user or
    organization."""
    row = await service.create_account(
        container,
        actor=caller,
        organization=body.organization,
        country=body.country,
        metadata=body.metadata,
    )
    return Account.of(row)


@router.get(
    "",
    **list_route(
        "List connected accounts: yours and your organizations' (all, for admins)", Account
    ),
)
async def list_accounts(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[Status | None, Query(description="Only accounts in this status.")] = None,
) -> ListResponse[Account]:
    stmt = service.list_query(actor=principal, status=status)
    return await page_of(
        session, stmt, ConnectedAccount.id, page, url="/v1/accounts", of=Account.of
    )


@router.get("/{account_id}", **retrieve_route("Retrieve a connected account", Account))
async def get_account(
    account_id: AccountIdPath, session: SessionDep, principal: CurrentPrincipal
) -> Account:
    return Account.of(await service.get_account(session, account_id=account_id, actor=principal))


@router.post(
    "/{account_id}/onboarding_link",
    **write_route(
        "Make a single-use onboarding link (expires in minutes)",
        AccountLink,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def onboarding_link(
    account_id: AccountIdPath, body: AccountLinkCreate, container: ContainerDep, caller: Caller
) -> AccountLink:
    """Redirect the payee to `url` right away: it can be opened once and expires after about
    five minutes. An expired or used link sends the payee to `refresh_url`, where you make a
    new one; without a `refresh_url`, escrowd's own page makes it (for a day)."""
    link = await refresh_links.create_link(
        container,
        account_id=account_id,
        actor=caller,
        return_url=body.return_url,
        refresh=body.refresh_url,
    )
    return AccountLink.of(account_id, link)


@router.post(
    "/{account_id}/dashboard_link",
    **write_route(
        "Make a single-use link to the payee's dashboard at the provider",
        LoginLink,
        401,
        403,
        404,
        409,
    ),
)
async def dashboard_link(
    account_id: AccountIdPath, container: ContainerDep, caller: Caller
) -> LoginLink:
    link = await service.create_dashboard_link(container, account_id=account_id, actor=caller)
    return LoginLink.of(account_id, link)


@router.post(
    "/{account_id}/refresh",
    **write_route(
        "Pull the account's status and requirements from the provider now", Account, 401, 404, 409
    ),
)
async def refresh_account(
    account_id: AccountIdPath, container: ContainerDep, caller: Caller
) -> Account:
    """Status normally follows the provider's events; this reads it directly, for example
    right after the payee returns from onboarding."""
    row = await service.refresh_account(container, account_id=account_id, actor=caller)
    return Account.of(row)


routers = [router]
