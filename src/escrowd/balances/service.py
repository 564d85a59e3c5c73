"""Whose money the caller may see, and a party's balance from the ledger.

``party_for`` is the access rule every party-scoped read shares (balances, transactions): a
user reads their own party and their organizations'; admins and API keys read any party's;
anyone else's is a 404, as if it did not exist (as escrows are). ``balance`` reads the
party's accounts' stored balances — one indexed query over at most three accounts per
currency, however long their history.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.balances.domain import (
    PLATFORM,
    AccountFigure,
    Balance,
    Figure,
    account_codes,
    balance_of,
    check_party,
)
from escrowd.errors import InvalidRequestError, NotFoundError
from escrowd.ids import Prefix, has_prefix
from escrowd.ledger.models import LedgerAccount
from escrowd.users.models import User
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Organization


def party_missing(party: str) -> NotFoundError:
    return NotFoundError(f"No such party: '{party}'.", param="party")


async def _exists(session: AsyncSession, party: str) -> bool:
    if party == PLATFORM:
        return True
    model = User if has_prefix(party, Prefix.user) else Organization
    return await session.get(model, party) is not None


async def party_for(
    session: AsyncSession, *, actor: Principal, party: str | None, platform: bool = False
) -> str:
    """The party ``actor`` asks about (``None``: their own), once they may see it.

    ``platform``: the platform itself is a party here (admins only).
    """
    if party is None:
        if actor.user_id is None:
            raise InvalidRequestError(
                "An API key acts for no party of its own: name one with ?party=usr_… or "
                "?party=org_….",
                code="parameter_missing",
                param="party",
            )
        return actor.user_id
    party = check_party(party, platform=platform)
    if actor.is_admin:
        if not await _exists(session, party):
            raise party_missing(party)
        return party
    if party == actor.user_id:
        return party
    if has_prefix(party, Prefix.organization):
        mine = await organizations.membership_of(session, org_id=party, user_id=actor.user_id)
        if mine is not None:
            return party
    raise party_missing(party)


async def balance(session: AsyncSession, *, party: str) -> Balance:
    """``party``'s balance in every currency it has money in, from the stored balances."""
    codes = account_codes(party)
    a = LedgerAccount
    rows = await session.execute(
        select(
            a.code, a.currency, a.credits_posted, a.debits_posted, a.debits_pending,
            a.credits_pending,
        ).where(a.code.in_(tuple(codes)))
    )  # fmt: skip
    parts = []
    for code, currency, credits, debits, held, incoming in rows:
        figure = codes[str(code)]
        amount = int(credits) - int(debits)
        if figure is Figure.available:
            # Pending debits are on their way out (a payout's hold): not available any more.
            amount -= int(held)
        elif figure is Figure.in_transit:
            # A requested payout's hold is on its way (payouts.domain), posted only when paid.
            amount += int(incoming)
        parts.append(AccountFigure(figure, str(currency), amount))
    return balance_of(party, parts)
