"""Parties and balances, pure.

A party is whoever holds money in escrowd: a user (``usr_…``) or an organization (``org_…``)
as a payee, and — for admins' reports — the platform itself. A party's balance per currency
has three figures, each one ledger account's stored balance:

- ``pending``: ``payee:<party>:pending``, released but not available yet (a payout delay);
- ``available``: ``payee:<party>:available``, what can be paid out (less any hold on it);
- ``in_transit``: ``payouts:in_transit:<party>``, payouts on their way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from escrowd.errors import InvalidRequestError
from escrowd.ids import Prefix, has_prefix

#: The platform as a party (its fees), for admins only.
PLATFORM: Final = "platform"


class Figure(StrEnum):
    pending = "pending"
    available = "available"
    in_transit = "in_transit"


def account_codes(party: str) -> dict[str, Figure]:
    """The ledger account code behind each figure of ``party``'s balance."""
    return {
        f"payee:{party}:pending": Figure.pending,
        f"payee:{party}:available": Figure.available,
        f"payouts:in_transit:{party}": Figure.in_transit,
    }


def check_party(value: str, *, platform: bool = False) -> str:
    """``value`` if it names a party (``usr_…``, ``org_…``, or ``platform`` when allowed)."""
    if has_prefix(value, Prefix.user) or has_prefix(value, Prefix.organization):
        return value
    if platform and value == PLATFORM:
        return value
    also = " or 'platform'" if platform else ""
    raise InvalidRequestError(
        f"'{value}' is not a party: give a user id (usr_…) or an organization id (org_…){also}.",
        code="party_invalid",
        param="party",
    )


@dataclass(frozen=True, slots=True)
class AccountFigure:
    """One account's part of a balance: its figure, currency and amount (minor units)."""

    figure: Figure
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class Balance:
    party: str
    #: Figure → [(currency, amount)], sorted by currency; a currency the party has an account
    #: in appears in every figure (0 where that account is empty), none appears otherwise.
    figures: dict[Figure, list[tuple[str, int]]]


def balance_of(party: str, parts: Iterable[AccountFigure]) -> Balance:
    sums: dict[tuple[Figure, str], int] = {}
    currencies: set[str] = set()
    for p in parts:
        currencies.add(p.currency)
        sums[(p.figure, p.currency)] = sums.get((p.figure, p.currency), 0) + p.amount
    return Balance(
        party,
        {f: [(c, sums.get((f, c), 0)) for c in sorted(currencies)] for f in Figure},
    )
