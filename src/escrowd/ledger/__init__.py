"""Double-entry ledger with TigerBeetle-style two-phase transfers (DESIGN.md §2).

- :mod:`~escrowd.ledger.domain`: flags, kinds, balances, refusal codes (pure).
- :mod:`~escrowd.ledger.validation`, :mod:`~escrowd.ledger.batch`: how requests are checked
  and how a batch is decided against locked state (pure).
- :mod:`~escrowd.ledger.service`: :class:`Ledger`, on the caller's ``AsyncSession``; its reads
  and writes in :mod:`~escrowd.ledger.pgstore` and :mod:`~escrowd.ledger.store`, failed ids in
  :mod:`~escrowd.ledger.failures`.
- :mod:`~escrowd.ledger.models`: the tables (migration 0002).
- :mod:`~escrowd.ledger.verify`: every invariant (:mod:`~escrowd.ledger.checks`), in SQL.
"""

from escrowd.ledger.domain import (
    AccountFlags,
    Balances,
    LedgerError,
    PendingState,
    Refusal,
    Side,
    Transfer,
    TransferKind,
    TransferRequest,
    TransferResult,
)
from escrowd.ledger.service import Account, Ledger

__all__ = [
    "Account",
    "AccountFlags",
    "Balances",
    "Ledger",
    "LedgerError",
    "PendingState",
    "Refusal",
    "Side",
    "Transfer",
    "TransferKind",
    "TransferRequest",
    "TransferResult",
]
