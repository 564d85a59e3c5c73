"""Connected accounts: visibility, the KYC gate, storing the provider's state, and the use
cases that call the provider (create, onboarding and dashboard links, refresh).

The first part works on the caller's session and never calls the provider, so the escrows
service can use it inside its own unit of work. For the escrows service:
``require_verified_payee(session, *, party_id, provider="stripe")`` returns the payee's
verified account or raises ``PayeeNotReadyError`` (409) naming what is missing;
``account_for`` returns the account (or None) without judging it.

The use cases that call the provider take the ``container`` and run their own short
transactions around the provider call, never one across it: a provider call may take seconds,
and on SQLite the in-process sandbox could not even write while escrowd held the database.
Creation is made crash-safe by committing escrowd's row first and deriving the provider's
idempotency key from it (``acct_…:create``): a retry finds the row and repeats the call with
the same key. ``provider_of`` and ``call_provider`` serve the customers service too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from sqlalchemy import Select, and_, bindparam, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts.domain import (
    TRACKED_FIELDS,
    AccountView,
    OwnerType,
    PayeeNotReadyError,
    Status,
    business_type_for,
    empty_requirements,
    owner_type_of,
    payee_problem,
    requirements_json,
)
from escrowd.accounts.models import ConnectedAccount
from escrowd.accounts.schemas import account_json
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from escrowd.events.domain import EventType
from escrowd.events.service import changes, record
from escrowd.ids import Prefix, has_prefix, new_id
from escrowd.logging import get_logger
from escrowd.providers.base import Capability, PaymentProvider
from escrowd.providers.errors import ProviderError
from escrowd.providers.types import AccountLinkRequest, AccountRequest, Link
from escrowd.providers.types import ConnectedAccount as ProviderAccount
from escrowd.users.models import User
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Membership, Organization

__all__ = [
    "PayeeNotReadyError",
    "account_for",
    "apply_provider_state",
    "call_provider",
    "create_account",
    "create_dashboard_link",
    "create_onboarding_link",
    "deauthorized_owners_query",
    "find_by_provider_id",
    "get_account",
    "list_query",
    "load_visible",
    "mark_deauthorized",
    "missing",
    "provider_of",
    "refresh_account",
    "refuse_deauthorized",
    "require_verified_payee",
    "set_state",
]

log = get_logger(__name__)
T = TypeVar("T")


# ---- reading --------------------------------------------------------------------------------


def missing(account_id: str) -> NotFoundError:
    return NotFoundError(f"No such account: '{account_id}'.", param="id")


async def load_visible(
    session: AsyncSession, *, account_id: str, actor: Principal, manage: bool
) -> ConnectedAccount:
    """The account if ``actor`` may see it (404 otherwise) and, with ``manage``, act on it.

    A user sees and manages their own account; an organization's account is its admins' alone
    (a plain member gets 403 ``organization_admin_required``, even to read it: it holds the
    organization's payout details); platform admins and API keys see and manage every account.
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
    if mine.role != "admin":
        what = "manage" if manage else "see"
        raise PermissionDeniedError(
            f"Only an admin of organization {row.owner_id} can {what} its connected account.",
            code="organization_admin_required",
        )
    return row


async def get_account(
    session: AsyncSession, *, account_id: str, actor: Principal
) -> ConnectedAccount:
    return await load_visible(session, account_id=account_id, actor=actor, manage=False)


def list_query(*, actor: Principal, status: Status | None = None) -> Select[ConnectedAccount]:
    """The accounts ``actor`` may see: their own and those of the organizations they
    administer (platform admins: all)."""
    stmt = select(ConnectedAccount)
    if not actor.is_admin:
        if actor.user_id is None:
            return stmt.where(false())
        orgs = select(Membership.organization_id).where(
            Membership.user_id == actor.user_id, Membership.role == "admin"
        )
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
        deauthorized=row.deauthorized_at is not None,
    )


async def require_verified_payee(
    session: AsyncSession, *, party_id: str, provider: str = "stripe"
) -> ConnectedAccount:
    """The payee's verified account, or ``PayeeNotReadyError`` (409) naming what is missing.

    ``party_id`` is a user (``usr_…``) or an organization (``org_…``); anything else is a 400.
    The error's ``code`` is ``payee_account_missing``, ``payee_account_incomplete``,
    ``payee_account_pending``, ``payee_account_restricted``, ``payee_transfers_inactive`` or
    ``payee_account_deauthorized``;
    it carries ``party_id`` and ``account_id`` for callers that re-word it.
    """
    row = await account_for(session, party_id=party_id, provider=provider)
    problem = payee_problem(party_id, _view(row) if row is not None else None)
    if problem is not None:
        raise problem
    assert row is not None
    return row


#: Connected accounts of a provider by owner ids (``verified_payees``); built once, as the
#: statements below: building them took about half of the call's CPU.
_ACCOUNTS_OF: Final = select(ConnectedAccount).where(
    ConnectedAccount.provider == bindparam("provider"),
    ConnectedAccount.owner_id.in_(bindparam("owners", expanding=True)),
)


def _party_with_account(model: Any, owner_type: OwnerType) -> Select[Any]:
    """Parties of one kind by id, each with its account at a provider if it has one."""
    stmt = (
        select(model.id, ConnectedAccount)
        .outerjoin(
            ConnectedAccount,
            and_(
                ConnectedAccount.provider == bindparam("provider"),
                ConnectedAccount.owner_type == owner_type,
                ConnectedAccount.owner_id == model.id,
            ),
        )
        .where(model.id.in_(bindparam("ids", expanding=True)))
    )
    return stmt.where(User.disabled == false()) if model is User else stmt


#: ``payees_to_name``'s reads: active users, then organizations.
_PARTIES_WITH_ACCOUNTS: Final = (
    (Prefix.user, _party_with_account(User, "user")),
    (Prefix.organization, _party_with_account(Organization, "organization")),
)


async def verified_payees(
    session: AsyncSession, *, party_ids: Sequence[str], provider: str = "stripe"
) -> dict[str, ConnectedAccount]:
    """``require_verified_payee`` for several payees in one query: their verified accounts
    by party id, or the refusal of the first of ``party_ids`` (in order) that is not ready."""
    wanted = {p: owner_type_of(p) for p in party_ids}
    if not wanted:
        return {}
    rows = await session.scalars(_ACCOUNTS_OF, {"provider": provider, "owners": list(wanted)})
    found = {r.owner_id: r for r in rows if wanted.get(r.owner_id) == r.owner_type}
    for party_id in wanted:
        row = found.get(party_id)
        problem = payee_problem(party_id, _view(row) if row is not None else None)
        if problem is not None:
            raise problem
    return found


async def payees_to_name(
    session: AsyncSession, *, party_ids: Sequence[str], provider: str = "stripe"
) -> dict[str, PayeeNotReadyError | None]:
    """For each of ``party_ids`` that exists (an active user, or an organization): the
    refusal ``refuse_deauthorized`` would raise for it, or None. Parties that do not exist are
    left out. Each party and its account are read together: one query for the users, one for
    the organizations (none for a kind not named)."""
    out: dict[str, PayeeNotReadyError | None] = {}
    for prefix, stmt in _PARTIES_WITH_ACCOUNTS:
        ids = sorted({p for p in party_ids if has_prefix(p, prefix)})
        if not ids:
            continue
        for party_id, row in await session.execute(stmt, {"provider": provider, "ids": ids}):
            refusal = None
            if row is not None and row.deauthorized_at is not None:
                refusal = payee_problem(party_id, _view(row))
                assert refusal is not None
            out[party_id] = refusal
    return out


async def _audience(session: AsyncSession, row: ConnectedAccount) -> list[str]:
    """Who reads an account's events: its user, or its organization's admins — not every
    member, as the account itself is its admins' alone (``load_visible``)."""
    if row.owner_type == "user":
        return [row.owner_id]
    admins = await session.scalars(
        select(Membership.user_id).where(
            Membership.organization_id == row.owner_id, Membership.role == "admin"
        )
    )
    return list(admins)


async def refuse_deauthorized(
    session: AsyncSession, *, party_id: str, provider: str = "stripe"
) -> None:
    """409 ``payee_account_deauthorized`` if ``party_id``'s account was disconnected.

    Unlike ``require_verified_payee`` this lets a payee without an account (or still
    onboarding) through: escrows may be created before the payee is ready, never for one that
    walked away."""
    row = await account_for(session, party_id=party_id, provider=provider)
    if row is not None and row.deauthorized_at is not None:
        problem = payee_problem(party_id, _view(row))
        assert problem is not None
        raise problem


async def mark_deauthorized(
    session: AsyncSession, *, account: ConnectedAccount, at: datetime, clock: Clock
) -> bool:
    """Record that the owner disconnected ``account`` (confirmed with the provider); True the
    first time. Writes ``account.updated`` with the old ``deauthorized`` (null)."""
    if account.deauthorized_at is not None:
        return False
    account.deauthorized_at = at
    await record(
        session,
        clock=clock,
        type=EventType.account_updated,
        object_id=account.id,
        data=account_json(account),
        audience=await _audience(session, account),
        previous_attributes={"deauthorized": None},
    )
    log.info("account_deauthorized", account=account.id, owner=account.owner_id)
    return True


def deauthorized_owners_query() -> Select[str]:
    """The owners (``usr_…``/``org_…``) of every disconnected account."""
    return select(ConnectedAccount.owner_id).where(ConnectedAccount.deauthorized_at.is_not(None))


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
        audience=await _audience(session, row),
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


# ---- the provider ---------------------------------------------------------------------------


def provider_of(container: Container, capability: Capability) -> PaymentProvider:
    """The configured provider, if it can do ``capability``."""
    provider = container.provider
    if capability not in provider.capabilities:
        raise InvalidRequestError(
            f"The payment provider '{provider.name}' does not support {capability.value}.",
            code="provider_capability_missing",
        )
    return provider


async def call_provider(call: Awaitable[T]) -> T:
    """Await a provider call; its failure comes out as escrowd's own API error."""
    try:
        return await call
    except ProviderError as exc:
        raise exc.to_api_error() from exc


# ---- use cases that call the provider -------------------------------------------------------


async def _owner_for_create(
    session: AsyncSession, *, actor: Principal, organization: str | None
) -> tuple[OwnerType, str, str | None]:
    """(owner type, owner id, email to prefill) for a new account, after permission checks."""
    user = actor.user
    if user is None:
        raise PermissionDeniedError(
            "A connected account is created by the person it pays (or an admin of the "
            "organization it pays): use a user access token, not an API key.",
            code="user_token_required",
        )
    if organization is None:
        return "user", user.id, user.email
    if not has_prefix(organization, Prefix.organization):
        raise InvalidRequestError(
            f"'{organization}' is not an organization id (org_…).", param="organization"
        )
    org = await session.get(Organization, organization)
    mine = await organizations.membership_of(session, org_id=organization, user_id=user.id)
    if org is None or (mine is None and not actor.is_admin):
        raise NotFoundError(f"No such organization: '{organization}'.", param="organization")
    if not actor.is_admin and (mine is None or mine.role != "admin"):
        raise PermissionDeniedError(
            f"Only an admin of organization {organization} can create its connected account.",
            code="organization_admin_required",
        )
    return "organization", org.id, None


async def _prepare(
    container: Container,
    *,
    provider: str,
    actor: Principal,
    organization: str | None,
    country: str,
    metadata: dict[str, str],
) -> tuple[ConnectedAccount, str | None]:
    """Commit the account's row (or find the unfinished one) before the provider call."""
    for attempt in range(2):
        try:
            async with container.db.transaction() as s:
                owner_type, owner_id, email = await _owner_for_create(
                    s, actor=actor, organization=organization
                )
                stmt = select(ConnectedAccount).where(
                    ConnectedAccount.provider == provider,
                    ConnectedAccount.owner_type == owner_type,
                    ConnectedAccount.owner_id == owner_id,
                )
                row = (await s.scalars(stmt)).one_or_none()
                if row is not None and row.provider_account_id is not None:
                    raise ConflictError(
                        f"{owner_id} already has a connected account at {provider}: {row.id}. "
                        f"Retrieve it with GET /v1/accounts/{row.id}; onboarding continues "
                        f"with POST /v1/accounts/{row.id}/onboarding_link.",
                        code="account_exists",
                    )
                if row is None:
                    now = container.clock.now()
                    row = ConnectedAccount(
                        id=new_id(Prefix.account),
                        provider=provider,
                        provider_account_id=None,
                        owner_type=owner_type,
                        owner_id=owner_id,
                        business_type=business_type_for(owner_type),
                        country=country,
                        status="pending_verification",
                        requirements=empty_requirements(),
                        capabilities={},
                        charges_enabled=False,
                        payouts_enabled=False,
                        details_submitted=False,
                        meta=dict(metadata),
                        created_at=now,
                        updated_at=now,
                    )
                    s.add(row)
                    await s.flush()
                return row, email
        except IntegrityError:
            # A concurrent request for the same owner inserted first: look again.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def create_account(
    container: Container,
    *,
    actor: Principal,
    organization: str | None = None,
    country: str = "US",
    metadata: dict[str, str] | None = None,
) -> ConnectedAccount:
    """A connected account for the actor (an individual) or an organization it administers.

    One per owner and provider: a second one is a 409 naming the first. If an earlier attempt
    stopped after committing escrowd's row but before storing the provider's answer, this
    finishes it with the same idempotency key (so the provider makes no second account).
    """
    provider = provider_of(container, Capability.connected_accounts)
    row, email = await _prepare(
        container,
        provider=provider.name,
        actor=actor,
        organization=organization,
        country=country,
        metadata=metadata or {},
    )
    request = AccountRequest(
        idempotency_key=f"{row.id}:create",
        business_type="individual" if row.business_type == "individual" else "company",
        country=row.country,
        email=email,
        metadata={"escrowd_account": row.id, "escrowd_owner": row.owner_id},
    )
    try:
        state = await provider.create_account(request)
    except ProviderError as exc:
        if not (exc.retryable or exc.outcome_unknown):
            # Refused outright (a bad country, say): nothing exists at the provider, so the
            # owner's slot is freed for a corrected request.
            async with container.db.transaction() as s:
                stale = await s.get(ConnectedAccount, row.id)
                if stale is not None and stale.provider_account_id is None:
                    await s.delete(stale)
        raise exc.to_api_error() from exc
    async with container.db.transaction() as s:
        stored = await s.get(ConnectedAccount, row.id, with_for_update=True)
        if stored is None:  # pragma: no cover - rows are never deleted once created
            raise missing(row.id)
        if stored.provider_account_id is None:
            stored.provider_account_id = state.id
            set_state(stored, state, as_of=container.clock.now())
        return stored


def _provider_id(row: ConnectedAccount, provider: PaymentProvider) -> str:
    if row.provider != provider.name:
        raise ConflictError(
            f"Account {row.id} is at {row.provider}, but this server uses {provider.name}.",
            code="provider_mismatch",
        )
    if row.provider_account_id is None:
        raise ConflictError(
            f"Account {row.id} is not set up at the payment provider yet: repeat "
            "POST /v1/accounts to finish creating it.",
            code="account_incomplete",
        )
    return row.provider_account_id


async def create_onboarding_link(
    container: Container,
    *,
    account_id: str,
    actor: Principal,
    refresh_url: str,
    return_url: str,
) -> Link:
    """A fresh single-use onboarding link (they expire within minutes: make one per visit)."""
    provider = provider_of(container, Capability.connected_accounts)
    async with container.db.transaction() as s:
        row = await load_visible(s, account_id=account_id, actor=actor, manage=True)
    request = AccountLinkRequest(
        account_id=_provider_id(row, provider),
        refresh_url=refresh_url,
        return_url=return_url,
        type="account_onboarding",
    )
    return await call_provider(provider.create_account_link(request))


async def create_dashboard_link(container: Container, *, account_id: str, actor: Principal) -> Link:
    """A single-use link to the payee's dashboard at the provider (after onboarding)."""
    provider = provider_of(container, Capability.connected_accounts)
    async with container.db.transaction() as s:
        row = await load_visible(s, account_id=account_id, actor=actor, manage=True)
    provider_account_id = _provider_id(row, provider)
    if not row.details_submitted:
        raise ConflictError(
            f"Account {row.id} has not finished onboarding, so it has no dashboard yet: "
            f"continue with POST /v1/accounts/{row.id}/onboarding_link (or refresh it with "
            f"POST /v1/accounts/{row.id}/refresh if onboarding just ended).",
            code="account_onboarding_unfinished",
        )
    return await call_provider(provider.create_login_link(provider_account_id))


async def refresh_account(
    container: Container, *, account_id: str, actor: Principal
) -> ConnectedAccount:
    """Pull the account's status from the provider (for a missed or delayed event).

    If a provider event updated the account while the provider was being asked, the event's
    state is kept: which of the two is newer cannot be told, and the event's is never older.
    """
    provider = provider_of(container, Capability.connected_accounts)
    async with container.db.transaction() as s:
        row = await load_visible(s, account_id=account_id, actor=actor, manage=False)
        seen = row.updated_at
    state = await call_provider(provider.retrieve_account(_provider_id(row, provider)))
    async with container.db.transaction() as s:
        stored = await s.get(ConnectedAccount, account_id, with_for_update=True)
        if stored is None:  # pragma: no cover - rows are never deleted once created
            raise missing(account_id)
        if stored.updated_at == seen:
            await apply_provider_state(
                s,
                account=stored,
                state=state,
                as_of=max(seen, container.clock.now()),
                clock=container.clock,
            )
        else:
            log.info("account_refresh_superseded", account=account_id)
        return stored
