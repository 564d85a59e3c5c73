"""The balance object, Stripe's shape: a list of ``{amount, currency}`` per figure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from escrowd.api.schemas import ApiObject, Currency
from escrowd.balances.domain import Balance, Figure


class BalanceAmount(BaseModel):
    amount: int = Field(description="Minor units of `currency` (cents for usd).")
    currency: Currency


def _amounts(balance: Balance, figure: Figure) -> list[BalanceAmount]:
    return [BalanceAmount(amount=a, currency=c) for c, a in balance.figures[figure]]


class BalanceObject(ApiObject):
    object: Literal["balance"] = "balance"
    party: str = Field(description="Whose balance: a user (usr_…) or an organization (org_…).")
    available: list[BalanceAmount] = Field(
        description="Released and available to pay out, per currency."
    )
    pending: list[BalanceAmount] = Field(
        description="Released but not available yet (ESCROWD_PAYOUT_DELAY_SECONDS), per currency."
    )
    in_transit: list[BalanceAmount] = Field(description="Payouts on their way, per currency.")

    @classmethod
    def of(cls, balance: Balance) -> BalanceObject:
        return cls(
            party=balance.party,
            available=_amounts(balance, Figure.available),
            pending=_amounts(balance, Figure.pending),
            in_transit=_amounts(balance, Figure.in_transit),
        )
