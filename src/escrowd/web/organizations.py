"""Organizations' pages: the organizations you belong to, and an organization's payout
settings (its Stripe connected account and onboarding), for that organization's admins
only, as the accounts service lets only them see and manage its account. The same use cases
as a user's ``/app/payout-settings`` (``payees``), with the organization as the account's
owner; docs/webapp.md."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from escrowd.accounts import refresh_links
from escrowd.accounts import service as accounts
from escrowd.accounts.schemas import Account
from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.errors import EscrowdError, NotFoundError
from escrowd.providers.base import Capability
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Membership, Organization
from escrowd.web.payees import STATUS_WORDS, requirement_words
from escrowd.web.routes import SHOWN, FormDep, Viewer, _base, render, router, see_other
from escrowd.web.service import PageForbidden, PageMissing


@router.get("/organizations")
async def organization_list(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    """The organizations the viewer belongs to, with their role in each."""
    async with container.db.transaction() as session:
        stmt = (
            select(Organization, Membership.role)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == (viewer.user_id or ""))
            .order_by(Organization.name, Organization.id)
            .limit(SHOWN)
        )
        rows = [(org.id, org.name, role) for org, role in (await session.execute(stmt)).all()]
    return render(request, container, "organizations.html", viewer, organizations=rows)


async def _administered(container: ContainerDep, viewer: Principal, org_id: str) -> Organization:
    """The organization if the viewer is one of its admins: a stranger gets the 404 page (the
    API's answer to an outsider), a plain member, or a platform admin who is no member, the
    403 page (the account holds the organization's payout details)."""
    async with container.db.transaction() as session:
        try:
            org, mine = await organizations.get_visible(session, org_id=org_id, actor=viewer)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
    if mine is None or mine.role != "admin":
        raise PageForbidden(
            f"The payout settings of {org.name} are for its admins; you are not one of them."
        )
    return org


def _settings_path(org_id: str) -> str:
    return f"/app/organizations/{quote(org_id)}/payout-settings"


async def _settings_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    org: Organization,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    provider = accounts.provider_of(container, Capability.connected_accounts).name
    async with container.db.transaction() as session:
        row = await accounts.account_for(session, party_id=org.id, provider=provider)
        account = Account.of(row) if row is not None else None
    return render(
        request,
        container,
        "org_payout_settings.html",
        viewer,
        status=status,
        error=error,
        notice=notice,
        org=org,
        account=account,
        account_status=STATUS_WORDS[account.status if account else None],
        requirement_words=requirement_words,
        connect_action=f"{_settings_path(org.id)}/connect",
    )


@router.get("/organizations/{org_id}/payout-settings")
async def org_payout_settings(
    org_id: str,
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    back: str | None = None,
) -> Response:
    """``?back=onboarding`` is where the provider's hosted onboarding returns: the account is
    read from the provider then (``POST /v1/accounts/{id}/refresh``), not left to its webhook."""
    org = await _administered(container, viewer, org_id)
    if back != "onboarding":
        return await _settings_page(request, container, viewer, org)
    provider = accounts.provider_of(container, Capability.connected_accounts).name
    async with container.db.transaction() as session:
        row = await accounts.account_for(session, party_id=org.id, provider=provider)
        account_id = row.id if row is not None and row.provider_account_id else None
    if account_id is None:
        return await _settings_page(request, container, viewer, org)
    try:
        fresh = await accounts.refresh_account(container, account_id=account_id, actor=viewer)
    except EscrowdError as exc:
        return await _settings_page(
            request, container, viewer, org, error=f"Could not read the account: {exc.message}"
        )
    notice = {
        "verified": f"Back from Stripe: {org.name}'s account is verified, payouts can be paid.",
        "restricted": f"Back from Stripe: {org.name}'s account is restricted; see what is "
        "still needed.",
    }.get(fresh.status, "Back from Stripe: onboarding is not finished yet.")
    return await _settings_page(request, container, viewer, org, notice=notice)


@router.post("/organizations/{org_id}/payout-settings/connect")
async def org_connect(
    org_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    """Create the organization's connected account if needed (``POST /v1/accounts`` with
    ``organization``), then send the admin to the provider's hosted onboarding."""
    org = await _administered(container, viewer, org_id)
    provider = accounts.provider_of(container, Capability.connected_accounts).name
    try:
        async with container.db.transaction() as session:
            row = await accounts.account_for(session, party_id=org.id, provider=provider)
            account_id = row.id if row is not None and row.provider_account_id else None
        if account_id is None:
            # Also finishes an earlier attempt that stopped half way (same idempotency key).
            made = await accounts.create_account(container, actor=viewer, organization=org.id)
            account_id = made.id
        link = await refresh_links.create_link(
            container,
            account_id=account_id,
            actor=viewer,
            return_url=f"{_base(request)}{_settings_path(org.id)}?back=onboarding",
            refresh=None,
        )
    except EscrowdError as exc:
        return await _settings_page(
            request, container, viewer, org, error=exc.message, status=exc.http_status
        )
    return see_other(link.url)
