"""API shapes of payouts: the request bodies and the payout object (Stripe-like, ``po_…``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, Currency, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.ids import PARTY_PATTERN
from escrowd.payouts.domain import PayoutStatus
from escrowd.payouts.models import Payout

#: A user or an organization id.


class PayoutCreate(RequestModel):
    amount: PositiveAmountInt = Field(
        description="Minor units of `currency`; at most the party's available balance."
    )
    currency: Currency
    party: Annotated[str, Field(pattern=PARTY_PATTERN)] | None = Field(
        default=None,
        description="Whose money: an organization you are an admin of (org_…). Default: your own.",
    )


class PayoutReject(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="Why the payout is rejected; the payee sees it."
    )


class PayoutObject(ApiObject):
    id: str = Field(description="po_…")
    object: Literal["payout"] = "payout"
    amount: int = Field(description="Minor units of `currency` (cents for usd).")
    currency: str
    party: str = Field(description="Whose money: a user (usr_…) or an organization (org_…).")
    status: PayoutStatus = Field(
        description="requested → approved → in_transit → paid, or failed; requested → "
        "rejected (docs/payouts.md)."
    )
    account: str = Field(description="The payee's connected account (acct_…) paid out.")
    provider_payout: str | None = Field(description="The provider's payout id, once made.")
    arrival_date: int | None = Field(
        description="When the provider expects the money at the bank (Unix seconds)."
    )
    reason: str | None = Field(description="Why an admin rejected it.")
    failure_code: str | None = Field(description="Why it failed (the provider's code).")
    failure_message: str | None
    created: int
    updated: int

    @classmethod
    def of(cls, row: Payout) -> PayoutObject:
        return cls(
            id=row.id,
            amount=row.amount,
            currency=row.currency,
            party=row.party_id,
            status=PayoutStatus(row.status),
            account=row.account_id,
            provider_payout=row.provider_payout_id,
            arrival_date=None if row.arrival_date is None else unix(row.arrival_date),
            reason=row.reason,
            failure_code=row.failure_code,
            failure_message=row.failure_message,
            created=unix(row.created_at),
            updated=unix(row.updated_at),
        )
