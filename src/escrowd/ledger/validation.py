"""Checking one transfer request on its own, before any account is looked at.

These refusals depend on the request alone, so they are never recorded as failed ids: the
same request is refused the same way on every replay.
"""

from __future__ import annotations

import re
from dataclasses import replace

from escrowd.errors import EscrowdError
from escrowd.ledger.domain import (
    MAX_CATEGORY,
    MAX_REFERENCE,
    MAX_TRANSFER_ID,
    LedgerError,
    Refusal,
    TransferKind,
    TransferRequest,
)
from escrowd.money import check_amount, normalize_currency

_ID_RE = re.compile(r"^[\x21-\x7e]{1,%d}$" % MAX_TRANSFER_ID)  # noqa: UP031  (regex braces)
_MONEY_CODES = {Refusal.amount_invalid, Refusal.amount_too_large, Refusal.currency_invalid}


def refusal(
    code: Refusal, message: str, req: TransferRequest, param: str | None = None
) -> LedgerError:
    return LedgerError(code, message, transfer_id=req.id, param=param)


def validate(req: TransferRequest) -> TransferRequest | LedgerError:
    """Check a request on its own; return it normalized (kind enum, currency lower-case)."""
    if not isinstance(req.id, str) or not _ID_RE.match(req.id):
        return refusal(
            Refusal.id_invalid,
            f"transfer id must be 1 to {MAX_TRANSFER_ID} printable ASCII characters "
            "without spaces.",
            req,
            "id",
        )
    try:
        kind = TransferKind(req.kind)
    except ValueError:
        return refusal(
            Refusal.kind_invalid, f"transfer kind '{req.kind}' is not known.", req, "kind"
        )
    currency = req.currency
    try:
        if currency is not None:
            currency = normalize_currency(currency)
        if req.amount is not None:
            check_amount(req.amount, allow_zero=False)
    except EscrowdError as exc:
        code = Refusal(exc.code) if exc.code in _MONEY_CODES else Refusal.amount_invalid
        return refusal(code, exc.message, req, exc.param)
    for name, value, limit in (
        ("reference", req.reference, MAX_REFERENCE),
        ("category", req.category, MAX_CATEGORY),
    ):
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return refusal(
                Refusal.field_too_long,
                f"{name} must be a string of at most {limit} characters.",
                req,
                name,
            )
    if kind is TransferKind.post_pending or kind is TransferKind.void_pending:
        if not req.pending_id:
            return refusal(
                Refusal.pending_id_required,
                f"a {kind} transfer needs pending_id.",
                req,
                "pending_id",
            )
        if req.pending_id == req.id:
            return refusal(
                Refusal.pending_id_must_differ,
                "pending_id must name another transfer.",
                req,
                "pending_id",
            )
    else:
        if req.pending_id is not None:
            return refusal(
                Refusal.pending_id_not_allowed,
                f"pending_id is only for post_pending and void_pending, not {kind}.",
                req,
                "pending_id",
            )
        if not req.debit_account_id or not req.credit_account_id:
            return refusal(
                Refusal.accounts_required,
                "a transfer needs a debit and a credit account.",
                req,
            )
        if req.amount is None:
            return refusal(Refusal.amount_required, "a transfer needs an amount.", req, "amount")
        if currency is None:
            return refusal(
                Refusal.currency_required, "a transfer needs a currency.", req, "currency"
            )
    if req.debit_account_id and req.debit_account_id == req.credit_account_id:
        return refusal(
            Refusal.accounts_must_differ,
            f"transfer {req.id} debits and credits the same account {req.debit_account_id}.",
            req,
        )
    if kind is req.kind and currency == req.currency:
        return req
    return replace(req, kind=kind, currency=currency)
