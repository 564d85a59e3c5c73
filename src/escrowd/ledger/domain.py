"""The ledger's pure rules: account flags, transfer kinds, balances, refusal codes.

Double entry, TigerBeetle style. An account keeps four running figures, in minor units:
``debits_pending``, ``debits_posted``, ``credits_pending``, ``credits_posted``. A transfer moves
``amount`` from its debit account to its credit account and is one of four kinds:

- ``posted``: single phase, the money moves now (``*_posted`` += amount on both sides);
- ``pending``: a hold (``*_pending`` += amount), later settled exactly once by
- ``post_pending``: posts all or part of the hold (``*_posted`` += amount) and releases the rest
  (``*_pending`` -= the whole held amount), or
- ``void_pending``: releases the whole hold.

Flags limit an account *after* applying a transfer, counting pending debits (or credits)
against the limit, as TigerBeetle does: a hold on a payee's balance reserves the money.

This module imports no infrastructure: it is the part of the ledger that unit tests can check
without a database. The service applies these rules to rows it has locked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntFlag, StrEnum
from typing import Final

from escrowd.errors import InvalidRequestError

#: Client-chosen transfer ids are 1 to 128 printable ASCII characters without spaces.
MAX_TRANSFER_ID = 128
MAX_REFERENCE = 128
MAX_CATEGORY = 32
MAX_ACCOUNT_CODE = 200
#: Largest figure a balance column holds (signed 64-bit).
MAX_BALANCE: Final = 2**63 - 1


class AccountFlags(IntFlag):
    NONE = 0
    #: A credit-normal account that may not go below zero (a payee's balance, an escrow).
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    #: A debit-normal account that may not go below zero.
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class TransferKind(StrEnum):
    posted = "posted"
    pending = "pending"
    post_pending = "post_pending"
    void_pending = "void_pending"


class PendingState(StrEnum):
    """Kept on the pending transfer's own row; it changes exactly once."""

    pending = "pending"
    posted = "posted"
    voided = "voided"


class Side(StrEnum):
    debit = "debit"
    credit = "credit"


class Refusal(StrEnum):
    """Stable refusal codes: programs branch on these, so they never change meaning."""

    # The request itself is malformed (never recorded: the same request fails the same way).
    id_invalid = "id_invalid"
    kind_invalid = "kind_invalid"
    accounts_required = "accounts_required"
    accounts_must_differ = "accounts_must_differ"
    amount_required = "amount_required"
    amount_invalid = "amount_invalid"
    amount_too_large = "amount_too_large"
    currency_required = "currency_required"
    currency_invalid = "currency_invalid"
    pending_id_required = "pending_id_required"
    pending_id_not_allowed = "pending_id_not_allowed"
    pending_id_must_differ = "pending_id_must_differ"
    field_too_long = "field_too_long"
    # About the id, not the movement (never recorded: the id is already taken or failed).
    exists_with_different_fields = "exists_with_different_fields"
    id_already_failed = "id_already_failed"
    linked_event_failed = "linked_event_failed"
    linked_event_chain_open = "linked_event_chain_open"
    #: A concurrent transaction created the same id first; this one is aborted (PostgreSQL).
    id_in_flight = "id_in_flight"
    # Decided against the ledger's state (recorded: a failed id stays failed).
    debit_account_not_found = "debit_account_not_found"
    credit_account_not_found = "credit_account_not_found"
    currency_mismatch = "currency_mismatch"
    pending_transfer_not_found = "pending_transfer_not_found"
    pending_transfer_not_pending = "pending_transfer_not_pending"
    pending_transfer_already_posted = "pending_transfer_already_posted"
    pending_transfer_already_voided = "pending_transfer_already_voided"
    pending_transfer_has_different_accounts = "pending_transfer_has_different_accounts"
    pending_transfer_has_different_amount = "pending_transfer_has_different_amount"
    post_amount_exceeds_pending = "post_amount_exceeds_pending"
    exceeds_credits = "exceeds_credits"
    exceeds_debits = "exceeds_debits"
    overflows_balance = "overflows_balance"
    # Accounts.
    account_not_found = "account_not_found"
    account_code_invalid = "account_code_invalid"
    account_flags_invalid = "account_flags_invalid"
    account_exists_with_different_flags = "account_exists_with_different_flags"


_STATUS: dict[Refusal, int] = {
    Refusal.exists_with_different_fields: 409,
    Refusal.id_already_failed: 409,
    Refusal.linked_event_failed: 409,
    Refusal.id_in_flight: 409,
    Refusal.debit_account_not_found: 404,
    Refusal.credit_account_not_found: 404,
    Refusal.pending_transfer_not_found: 404,
    Refusal.pending_transfer_not_pending: 409,
    Refusal.pending_transfer_already_posted: 409,
    Refusal.pending_transfer_already_voided: 409,
    Refusal.exceeds_credits: 409,
    Refusal.exceeds_debits: 409,
    Refusal.overflows_balance: 409,
    Refusal.account_not_found: 404,
    Refusal.account_exists_with_different_flags: 409,
}

#: Refusals that depend on the ledger's state when the transfer was tried. Only these mark an
#: id as failed: a malformed request is refused again on replay anyway, and marking it would
#: let a typo burn an id the client meant to use.
RECORDED: frozenset[Refusal] = frozenset(
    {
        Refusal.debit_account_not_found,
        Refusal.credit_account_not_found,
        Refusal.currency_mismatch,
        Refusal.pending_transfer_not_found,
        Refusal.pending_transfer_not_pending,
        Refusal.pending_transfer_already_posted,
        Refusal.pending_transfer_already_voided,
        Refusal.pending_transfer_has_different_accounts,
        Refusal.pending_transfer_has_different_amount,
        Refusal.post_amount_exceeds_pending,
        Refusal.exceeds_credits,
        Refusal.exceeds_debits,
        Refusal.overflows_balance,
    }
)


class LedgerError(InvalidRequestError):
    """A refused transfer or account operation; ``code`` is a :class:`Refusal` value."""

    def __init__(
        self,
        code: Refusal,
        message: str,
        *,
        transfer_id: str | None = None,
        original_code: Refusal | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, code=code.value, param=param, status=_STATUS.get(code, 400))
        self.refusal = code
        self.transfer_id = transfer_id
        #: For ``id_already_failed``: the code the id failed with the first time.
        self.original_code = original_code

    @property
    def recorded(self) -> bool:
        return self.refusal in RECORDED


@dataclass(frozen=True, slots=True)
class Balances:
    """An account's four running figures, in minor units, never negative."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def net_posted(self) -> int:
        """Posted credits minus posted debits: a credit-normal account's balance."""
        return self.credits_posted - self.debits_posted

    @property
    def net_pending(self) -> int:
        return self.credits_pending - self.debits_pending

    @property
    def available(self) -> int:
        """What a credit-normal account can still send: pending debits are reserved."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def moved(self, side: Side, posted: int, pending: int) -> Balances:
        if side is Side.debit:
            return Balances(
                self.debits_pending + pending,
                self.debits_posted + posted,
                self.credits_pending,
                self.credits_posted,
            )
        return Balances(
            self.debits_pending,
            self.debits_posted,
            self.credits_pending + pending,
            self.credits_posted + posted,
        )


@dataclass(frozen=True, slots=True)
class AccountState:
    """The figures of one locked account, as the service read them.

    ``flags`` holds :class:`AccountFlags` bits as a plain int: flag arithmetic on the enum
    costs more than the rest of applying a transfer.
    """

    id: str
    currency: str
    flags: int
    balances: Balances
    version: int

    def moved(self, side: Side, posted: int, pending: int) -> AccountState:
        """The account after one entry: figures moved, version bumped."""
        return AccountState(
            self.id,
            self.currency,
            self.flags,
            self.balances.moved(side, posted, pending),
            self.version + 1,
        )


_DEBIT_LIMIT = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CREDIT_LIMIT = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)


def limit_breach(account: AccountState) -> Refusal | None:
    """Which limit, if any, the account's figures break (pending amounts count against it)."""
    b = account.balances
    flags = account.flags
    if flags & _DEBIT_LIMIT and b.debits_pending + b.debits_posted > b.credits_posted:
        return Refusal.exceeds_credits
    if flags & _CREDIT_LIMIT and b.credits_pending + b.credits_posted > b.debits_posted:
        return Refusal.exceeds_debits
    if (
        b.debits_pending > MAX_BALANCE
        or b.debits_posted > MAX_BALANCE
        or b.credits_pending > MAX_BALANCE
        or b.credits_posted > MAX_BALANCE
    ):
        return Refusal.overflows_balance
    return None


def check_flags(flags: int) -> AccountFlags:
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise LedgerError(Refusal.account_flags_invalid, "flags must be AccountFlags.")
    both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    if flags < 0 or flags & ~int(both) or flags & both == both:
        raise LedgerError(
            Refusal.account_flags_invalid,
            f"flags {flags} are not valid: an account limits its debits or its credits, not both.",
            param="flags",
        )
    return AccountFlags(flags)


def check_account_code(code: str) -> str:
    if not isinstance(code, str) or not 0 < len(code) <= MAX_ACCOUNT_CODE or not code.isprintable():
        raise LedgerError(
            Refusal.account_code_invalid,
            f"account code must be 1 to {MAX_ACCOUNT_CODE} printable characters, "
            "such as 'escrow:esc_123' or 'platform:fees'.",
            param="code",
        )
    return code


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRequest:
    """One transfer to create. The ``id`` is chosen by the client and makes it idempotent.

    ``posted`` and ``pending`` need both accounts, the amount and the currency.
    ``post_pending`` and ``void_pending`` need ``pending_id`` and take the accounts and the
    currency from the pending transfer (give them only to assert they match); a post without
    ``amount`` posts the whole hold. ``linked=True`` chains this transfer to the next one in the
    same call: a chain succeeds or fails as a whole.
    """

    id: str
    kind: TransferKind = TransferKind.posted
    debit_account_id: str | None = None
    credit_account_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    pending_id: str | None = None
    reference: str | None = None
    category: str | None = None
    effective_at: datetime | None = None
    linked: bool = False

    def payload_hash(self) -> str:
        """What a replay is compared on: every field except the id and the link flag.

        The link flag is left out because it says how a batch was submitted, not what the
        transfer is; a use case retried with its transfers batched differently is still a
        replay. The fields are hashed as given (currency as normalized), so a post that
        spelled out the accounts the first time must spell them out again.
        """
        parts = (
            str(self.kind),
            self.debit_account_id or "",
            self.credit_account_id or "",
            "" if self.amount is None else str(self.amount),
            (self.currency or "").lower(),
            self.pending_id or "",
            self.reference or "",
            self.category or "",
            "" if self.effective_at is None else self.effective_at.isoformat(),
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """A transfer as stored. ``state`` is set on pending transfers only."""

    id: str
    kind: TransferKind
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    pending_id: str | None
    state: PendingState | None
    reference: str | None
    category: str | None
    batch_id: str | None
    effective_at: datetime
    created_at: datetime
    payload_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One side of a transfer on one account, with the account's figures around it.

    ``posted_*`` and ``pending_*`` are the account's net figures (credits minus debits) before
    and after this entry, so a statement can show a running balance; ``version_after`` is the
    account's version once the entry is applied (1 for its first entry).
    """

    transfer_id: str
    account_id: str
    side: Side
    amount: int
    posted_before: int
    posted_after: int
    pending_before: int
    pending_after: int
    version_after: int


@dataclass(frozen=True, slots=True)
class FailedTransfer:
    id: str
    payload_hash: str = field(repr=False)
    code: Refusal


@dataclass(frozen=True, slots=True)
class TransferResult:
    """The outcome of one request in a batch: a transfer, or the refusal."""

    id: str
    transfer: Transfer | None = None
    error: LedgerError | None = None
    #: True when the id existed with the same payload: nothing moved this time.
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> Refusal | None:
        return None if self.error is None else self.error.refusal

    def unwrap(self) -> Transfer:
        if self.error is not None:
            raise self.error
        assert self.transfer is not None
        return self.transfer
