"""``GET /v1/balance``: the caller's balance, an organization's they belong to, or (admins and
API keys) any party's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from escrowd.api.auth import CurrentPrincipal
from escrowd.api.deps import SessionDep
from escrowd.api.listing import retrieve_route
from escrowd.api.strict_json import APIRouter
from escrowd.balances import service
from escrowd.balances.schemas import BalanceObject
from escrowd.ids import PARTY_PATTERN

#: A user or an organization id (the pattern is the schema's; the service checks it too).

PartyQuery = Annotated[
    str | None,
    Query(
        pattern=PARTY_PATTERN,
        description="Whose balance: an organization you belong to (org_…); admins and API "
        "keys, any user or organization. Default: your own (API keys must name one).",
    ),
]

router = APIRouter(prefix="/balance", tags=["balances"])


@router.get(
    "",
    **retrieve_route(
        "Retrieve a balance: pending, available and in transit, per currency", BalanceObject, 400
    ),
)
async def get_balance(
    session: SessionDep, principal: CurrentPrincipal, party: PartyQuery = None
) -> BalanceObject:
    """Read from the ledger accounts' stored balances (docs/balances.md)."""
    who = await service.party_for(session, actor=principal, party=party)
    return BalanceObject.of(await service.balance(session, party=who))
