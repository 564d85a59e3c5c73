"""The vocabulary of reconciliation (pure): the kinds of difference, the advice an operator
acts on for each (``ADVICE``, mirrored in docs/reconcile.md), and the ``Difference`` a rule
in ``domain`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from escrowd.money import Money


class Kind(StrEnum):
    payment_unrecorded = "payment_unrecorded"
    payment_missing = "payment_missing"
    payment_amount = "payment_amount"
    fee_amount = "fee_amount"
    refund_unrecorded = "refund_unrecorded"
    refund_missing = "refund_missing"
    refund_amount = "refund_amount"
    transfer_unrecorded = "transfer_unrecorded"
    transfer_missing = "transfer_missing"
    transfer_amount = "transfer_amount"
    reversal_unrecorded = "reversal_unrecorded"
    reversal_amount = "reversal_amount"
    invoice_unrecorded = "invoice_unrecorded"
    invoice_missing = "invoice_missing"
    invoice_amount = "invoice_amount"
    payout_unrecorded = "payout_unrecorded"
    payout_missing = "payout_missing"
    payout_amount = "payout_amount"


ADVICE: dict[Kind, str] = {
    Kind.payment_unrecorded: (
        "The provider took a payment the ledger does not hold. If it names an escrow that is "
        "still waiting for its money, apply it (replay the escrow's payment webhook); if that "
        "escrow is paid already, the payer was charged twice: refund this payment at the "
        "provider. If it names no escrow, it was not made by escrowd: refund it or account for "
        "it outside escrowd."
    ),
    Kind.payment_missing: (
        "The ledger holds money for this escrow that the provider never took (the payment is "
        "unknown to the provider or did not succeed). Do not release it: find out why (a test "
        "key against live data, a hand-edited record) and refund or cancel the escrow."
    ),
    Kind.payment_amount: (
        "The ledger funded the escrow with a different amount than the provider captured. "
        "Correct the ledger with an adjusting transfer of the difference between the escrow's "
        "account and the provider's clearing account, or refund the excess at the provider."
    ),
    Kind.fee_amount: (
        "The provider's processing fee differs from the fee the ledger booked (or none was "
        "booked). Book the difference between platform:processing_costs and the provider's "
        "clearing account; check the fee policy if it keeps happening."
    ),
    Kind.refund_unrecorded: (
        "A refund was made at the provider (its dashboard, or another tool) that escrowd did "
        "not book. Do not refund it again through escrowd (the payer would get it twice): "
        "book it with an adjusting ledger transfer from the escrow's account to the "
        "provider's clearing account, and tell the escrow's parties."
    ),
    Kind.refund_missing: (
        "escrowd booked a refund the provider does not have (or that failed there). The payer "
        "did not get the money: refund it at the provider, or reverse the ledger transfer."
    ),
    Kind.refund_amount: (
        "The provider refunded a different amount than escrowd booked. Book the difference, "
        "or refund the rest at the provider."
    ),
    Kind.transfer_unrecorded: (
        "A transfer to a connected account was made at the provider that escrowd did not book. "
        "If it was a mistake, reverse it at the provider; otherwise book it against the "
        "escrow it belongs to."
    ),
    Kind.transfer_missing: (
        "escrowd booked a release the provider has no transfer for: the payee was not paid. "
        "Make the transfer at the provider (same amount, same transfer group) or reverse the "
        "ledger's release."
    ),
    Kind.transfer_amount: (
        "The provider's transfer differs from the release escrowd booked. Transfer or reverse "
        "the difference at the provider, or book it."
    ),
    Kind.reversal_unrecorded: (
        "A transfer was reversed at the provider and escrowd never booked it (its webhook was "
        "lost or failed). Replay the transfer.reversed event from the provider's dashboard, or "
        "look for its failed webhook job among the incidents and replay it."
    ),
    Kind.reversal_amount: (
        "escrowd booked more reversed than the provider reversed: the payee still has the "
        "money. Reverse the rest at the provider, or correct the ledger."
    ),
    Kind.invoice_unrecorded: (
        "A subscription invoice was paid at the provider and escrowd did not book it (its "
        "invoice.paid webhook was lost or failed, or the subscription is not escrowd's). If "
        "the subscription is escrowd's, replay the invoice.paid event from the provider's "
        "dashboard or replay its failed webhook job; otherwise account for it outside escrowd."
    ),
    Kind.invoice_missing: (
        "escrowd booked a subscription invoice as paid that the provider has no successful "
        "payment for (the invoice is unknown there, not paid, or its payment failed). Reverse "
        "the booking with an adjusting transfer from platform:fees to the provider's clearing "
        "account, and check the subscription's status at the provider."
    ),
    Kind.invoice_amount: (
        "The payment that paid a subscription invoice differs from what escrowd booked for it "
        "(amount or currency). Book the difference between the provider's clearing account "
        "and platform:fees."
    ),
    Kind.payout_unrecorded: (
        "The provider paid this payout out (or holds it for the receiver) but escrowd "
        "recorded it as failed or rejected and gave the money back to the payee's available "
        "balance: the payee could be paid twice. Hold the payee's next payout, and book the "
        "payout by hand: an adjusting transfer from the payee's available account to the "
        "provider's clearing account."
    ),
    Kind.payout_missing: (
        "escrowd booked this payout as sent but the provider does not have it, or it failed "
        "or was returned there: the payee was not paid and the money is back on the "
        "platform's balance. Give it back to the payee (an adjusting transfer from the "
        "provider's clearing account to the payee's available account) and ask them to check "
        "their payout destination."
    ),
    Kind.payout_amount: (
        "The provider paid out a different amount than escrowd booked for this payout. Book "
        "the difference between the payee's available account and the provider's clearing "
        "account."
    ),
}


@dataclass(frozen=True, slots=True)
class Difference:
    kind: Kind
    #: The escrow it concerns, when one is known.
    escrow_id: str | None
    #: The provider's object (``pi_…``, ``re_…``, ``tr_…``), or escrowd's record when the
    #: provider has none (an escrow id, an operation key).
    object_id: str
    currency: str
    #: What escrowd booked and what the provider holds, in minor units (None: nothing).
    ours: int | None
    theirs: int | None
    detail: str
    #: The subscription invoice it concerns, when it is about one (the sweep checks it again
    #: by this id when its incident is replayed).
    invoice_id: str | None = None
    #: The payout it concerns (escrowd's ``po_…``), when it is about one (the sweep checks it
    #: again by this id when its incident is replayed).
    payout_id: str | None = None

    @property
    def advice(self) -> str:
        return ADVICE[self.kind]

    @property
    def key(self) -> str:
        """Stable across runs: the same difference found again has the same key."""
        return f"{self.kind.value}:{self.escrow_id or '-'}:{self.object_id}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "escrow": self.escrow_id,
            "invoice": self.invoice_id,
            "payout": self.payout_id,
            "object": self.object_id,
            "currency": self.currency,
            "ours": self.ours,
            "theirs": self.theirs,
            "detail": self.detail,
            "advice": self.advice,
            "key": self.key,
        }


def money_text(amount: int | None, currency: str) -> str:
    """An amount for a difference's detail (``nothing`` when that side has none)."""
    return "nothing" if amount is None else str(Money(amount, currency))
