"""Connected accounts: visibility, the KYC gate, and storing the provider's state.

Everything here works on the caller's session and never calls the provider, so the escrows
service can use it inside its own unit of work. The use cases that call the provider (create,
links, refresh) are in ``escrowd.accounts.onboarding``.

For the escrows service: ``require_verified_payee(session, *, party_id, provider="stripe")``
returns the payee's verified account or raises ``PayeeNotReadyError`` (409) naming what is
missing; ``account_for`` returns the account (or None) without judging it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts.domain import (
    TRACKED_FIELDS,
    AccountView,
    PayeeNotReadyError,
    Status,
    owner_type_of,
    payee_problem,
    requirements_json,
)
from escrowd.accounts.models import ConnectedAccount
from escrowd.accounts.schemas import account_json
from escrowd.api.principal import Principal
from escrowd.clock import Clock
from escrowd.errors import NotFoundError, PermissionDeniedError
from escrowd.events.domain import EventType
from escrowd.events.service import changes, record
from escrowd.providers.types import ConnectedAccount as ProviderAccount
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Membership

__all__ = [
    "PayeeNotReadyError",
    "account_for",
    "apply_capability",
    "apply_provider_state",
    "find_by_provider_id",
    "get_account",
    "list_query",
    "load_visible",
    "missing",
    "require_verified_payee",
    "set_state",
]


# ---- reading --------------------------------------------------------------------------------


def missing(account_id: str) -> NotFoundError:
    return NotFoundError(f"No such account: '{account_id}'.", param="id")


async def load_visible(
    session: AsyncSession, *, account_id: str, actor: Principal, manage: bool
) -> ConnectedAccount:
    """The account if ``actor`` may see it (404 otherwise) and, with ``manage``, act on it.

    A user sees and manages their own account; members of an organization see its account and
    its admins manage it; platform admins and API keys see and manage every account.
    """
    row = await session.get(ConnectedAccount, account_id)
    if row is None:
        raise missing(account_id)
    if actor.is_admin:
        return row
    if row.owner_type == "user":
        if row.owner_id != actor.user_id:
            raise missing(account_id)
        return row
    mine = await organizations.membership_of(session, org_id=row.owner_id, user_id=actor.user_id)
    if mine is None:
        raise missing(account_id)
    if manage and mine.role != "admin":
        raise PermissionDeniedError(
            f"Only an admin of organization {row.owner_id} can manage its connected account.",
            code="organization_admin_required",
        )
    return row


async def get_account(
    session: AsyncSession, *, account_id: str, actor: Principal
) -> ConnectedAccount:
    return await load_visible(session, account_id=account_id, actor=actor, manage=False)


def list_query(*, actor: Principal, status: Status | None = None) -> Select[ConnectedAccount]:
    """The accounts ``actor`` may see: their own and their organizations' (admins: all)."""
    stmt = select(ConnectedAccount)
    if not actor.is_admin:
        if actor.user_id is None:
            return stmt.where(false())
        orgs = select(Membership.organization_id).where(Membership.user_id == actor.user_id)
        stmt = stmt.where(
            or_(
                and_(
                    ConnectedAccount.owner_type == "user",
                    ConnectedAccount.owner_id == actor.user_id,
                ),
                and_(
                    ConnectedAccount.owner_type == "organization",
                    ConnectedAccount.owner_id.in_(orgs),
                ),
            )
        )
    if status is not None:
        stmt = stmt.where(ConnectedAccount.status == status)
    return stmt


async def account_for(
    session: AsyncSession, *, party_id: str, provider: str = "stripe"
) -> ConnectedAccount | None:
    """The connected account of a payee (``usr_…`` or ``org_…``) at ``provider``, if any."""
    stmt = select(ConnectedAccount).where(
        ConnectedAccount.provider == provider,
        ConnectedAccount.owner_type == owner_type_of(party_id),
        ConnectedAccount.owner_id == party_id,
    )
    return (await session.scalars(stmt)).one_or_none()


async def find_by_provider_id(
    session: AsyncSession, *, provider: str, provider_account_id: str, lock: bool = False
) -> ConnectedAccount | None:
    stmt = select(ConnectedAccount).where(
        ConnectedAccount.provider == provider,
        ConnectedAccount.provider_account_id == provider_account_id,
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).one_or_none()


def _view(row: ConnectedAccount) -> AccountView:
    return AccountView(
        id=row.id,
        status=row.status,
        provider_account_id=row.provider_account_id,
        details_submitted=row.details_submitted,
        requirements=row.requirements or {},
        capabilities=row.capabilities or {},
    )


async def require_verified_payee(
    session: AsyncSession, *, party_id: str, provider: str = "stripe"
) -> ConnectedAccount:
    """The payee's verified account, or ``PayeeNotReadyError`` (409) naming what is missing.

    ``party_id`` is a user (``usr_…``) or an organization (``org_…``); anything else is a 400.
    The error's ``code`` is ``payee_account_missing``, ``payee_account_incomplete``,
    ``payee_account_pending``, ``payee_account_restricted`` or ``payee_transfers_inactive``;
    it carries ``party_id`` and ``account_id`` for callers that re-word it.
    """
    row = await account_for(session, party_id=party_id, provider=provider)
    problem = payee_problem(party_id, _view(row) if row is not None else None)
    if problem is not None:
        raise problem
    assert row is not None
    return row


# ---- applying provider state ----------------------------------------------------------------


def _tracked(row: ConnectedAccount) -> dict[str, Any]:
    data = account_json(row)
    return {k: data[k] for k in TRACKED_FIELDS}


async def _record_change(
    session: AsyncSession, row: ConnectedAccount, previous: dict[str, Any], clock: Clock
) -> None:
    await record(
        session,
        clock=clock,
        type=EventType.account_updated,
        object_id=row.id,
        data=account_json(row),
        audience=[row.owner_id],
        previous_attributes=previous,
    )


def set_state(row: ConnectedAccount, state: ProviderAccount, *, as_of: datetime) -> None:
    row.status = state.status.value
    if state.business_type in ("individual", "company"):
        row.business_type = state.business_type
    row.charges_enabled = state.charges_enabled
    row.payouts_enabled = state.payouts_enabled
    row.details_submitted = state.details_submitted
    row.requirements = requirements_json(state.requirements)
    row.capabilities = dict(state.capabilities)
    row.updated_at = max(row.updated_at, as_of)


async def apply_provider_state(
    session: AsyncSession,
    *,
    account: ConnectedAccount,
    state: ProviderAccount,
    as_of: datetime,
    clock: Clock,
) -> bool:
    """Store the provider's view of ``account`` as of ``as_of``; True if anything changed.

    A change writes ``account.updated`` (audience: the owner) with the changed fields' old
    values. The caller checks staleness first (``domain.is_stale``).
    """
    before = _tracked(account)
    set_state(account, state, as_of=as_of)
    previous = changes(before, _tracked(account))
    if previous is None:
        return False
    await _record_change(session, account, previous, clock)
    return True


async def apply_capability(
    session: AsyncSession,
    *,
    account: ConnectedAccount,
    name: str,
    status: str,
    as_of: datetime,
    clock: Clock,
) -> bool:
    """One capability's new status (``capability.updated``); True if it changed."""
    before = _tracked(account)
    account.capabilities = {**(account.capabilities or {}), name: status}
    account.updated_at = max(account.updated_at, as_of)
    previous = changes(before, _tracked(account))
    if previous is None:
        return False
    await _record_change(session, account, previous, clock)
    return True
