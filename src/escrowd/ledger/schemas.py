"""API shapes of the ledger's admin endpoints (docs/ledger.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from escrowd.api.schemas import Currency, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.ledger.domain import (
    MAX_ACCOUNT_CODE,
    MAX_CATEGORY,
    MAX_REFERENCE,
    MAX_TRANSFER_ID,
    AccountFlags,
    Transfer,
)
from escrowd.ledger.service import Account

FlagName = Literal["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
_FLAG_NAMES: dict[FlagName, AccountFlags] = {
    "debits_must_not_exceed_credits": AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    "credits_must_not_exceed_debits": AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
}


def flags_from_names(names: list[FlagName]) -> AccountFlags:
    flags = AccountFlags.NONE
    for name in names:
        flags |= _FLAG_NAMES[name]
    return flags


def flag_names(flags: AccountFlags) -> list[FlagName]:
    return [name for name, bit in _FLAG_NAMES.items() if flags & bit]


class LedgerAccountCreate(RequestModel):
    code: str = Field(min_length=1, max_length=MAX_ACCOUNT_CODE, examples=["platform:fees"])
    currency: Currency = Field(min_length=3, max_length=3)
    flags: list[FlagName] = Field(default_factory=list, max_length=1)


class LedgerBalances(BaseModel):
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    #: Posted credits minus posted debits.
    posted: int
    #: Pending credits minus pending debits.
    pending: int
    #: Posted balance less pending debits: what the account can still send.
    available: int


class LedgerAccount(BaseModel):
    id: str
    object: Literal["ledger_account"] = "ledger_account"
    code: str
    currency: Currency
    flags: list[FlagName]
    balances: LedgerBalances
    version: int
    created: int

    @classmethod
    def of(cls, a: Account) -> LedgerAccount:
        b = a.balances
        return cls(
            id=a.id,
            code=a.code,
            currency=a.currency,
            flags=flag_names(a.flags),
            balances=LedgerBalances(
                debits_pending=b.debits_pending,
                debits_posted=b.debits_posted,
                credits_pending=b.credits_pending,
                credits_posted=b.credits_posted,
                posted=b.net_posted,
                pending=b.net_pending,
                available=b.available,
            ),
            version=a.version,
            created=unix(a.created_at),
        )


def _by_kind(schema: dict[str, Any]) -> None:
    """State which fields each kind needs (escrowd.ledger.validation checks them, with their own
    codes): a ``oneOf`` next to the properties. No discriminator: ``kind`` may be left out
    (it means ``posted``), and a discriminator must be present in every body."""
    schema["oneOf"] = [
        {
            "title": "posted or pending: moves money between two accounts",
            "properties": {
                "kind": {"enum": ["posted", "pending"]},
                "debit_account": {"type": "string", "minLength": 1},
                "credit_account": {"type": "string", "minLength": 1},
                "amount": {"type": "integer"},
                "currency": {"type": "string"},
                "pending_id": {"type": "null"},
            },
            "required": ["debit_account", "credit_account", "amount", "currency"],
        },
        {
            "title": "post_pending or void_pending: settles a pending transfer",
            "description": "Accounts, amount and currency are the pending transfer's; give "
            "them only to assert they match. A post without `amount` posts the whole hold.",
            "properties": {
                "kind": {"enum": ["post_pending", "void_pending"]},
                "pending_id": {"type": "string", "minLength": 1},
            },
            "required": ["kind", "pending_id"],
        },
    ]


class LedgerTransferCreate(RequestModel):
    """A manual ledger transfer. `id` is yours and makes the transfer idempotent.

    Two more rules the document cannot state: the two accounts differ, and `pending_id`
    names another transfer than `id` (400 `accounts_must_differ` / `pending_id_must_differ`).
    """

    model_config = ConfigDict(json_schema_extra=_by_kind)

    id: str = Field(
        min_length=1,
        max_length=MAX_TRANSFER_ID,
        examples=["adj_2026_11_22_001"],
        # Printable ASCII without spaces: stated here, checked by escrowd.ledger.validation.
        json_schema_extra={"pattern": "^[!-~]+$"},
    )
    kind: Literal["posted", "pending", "post_pending", "void_pending"] = "posted"
    debit_account: str | None = Field(default=None, max_length=40)
    credit_account: str | None = Field(default=None, max_length=40)
    amount: PositiveAmountInt | None = None
    currency: Currency | None = Field(default=None, min_length=3, max_length=3)
    pending_id: str | None = Field(default=None, max_length=MAX_TRANSFER_ID)
    reference: str | None = Field(default=None, max_length=MAX_REFERENCE)
    category: str | None = Field(default=None, max_length=MAX_CATEGORY)


class LedgerTransfer(BaseModel):
    id: str
    object: Literal["ledger_transfer"] = "ledger_transfer"
    kind: str
    debit_account: str
    credit_account: str
    amount: int
    currency: Currency
    pending_id: str | None
    #: On pending transfers: pending, posted or voided.
    state: str | None
    reference: str | None
    category: str | None
    effective: int
    created: int

    @classmethod
    def of(cls, t: Transfer) -> LedgerTransfer:
        return cls(
            id=t.id,
            kind=str(t.kind),
            debit_account=t.debit_account_id,
            credit_account=t.credit_account_id,
            amount=t.amount,
            currency=t.currency,
            pending_id=t.pending_id,
            state=None if t.state is None else str(t.state),
            reference=t.reference,
            category=t.category,
            effective=unix(t.effective_at),
            created=unix(t.created_at),
        )
