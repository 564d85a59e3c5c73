"""Reconciliation's rules: what escrowd booked against what the provider holds (pure).

Three kinds of money object are compared, each whole (not just a day's part of it):

- a **payment**: an escrow's funding in the ledger (``payment`` + ``capture`` transfers) and
  its ``processing_fee``, against the PaymentIntent's captured charge and the charge's fee;
- a **refund**: a refund operation's ledger transfer against the provider's refund;
- a **transfer**: a release operation's net to the payee and the reversals booked since,
  against the provider's transfer and its ``amount_reversed``.

Either side may be missing (None). Each rule returns the differences it finds; every kind has
the advice an operator acts on (``ADVICE``, mirrored in docs/reconcile.md). Payouts and
disputes slot in the same way: a pair of dataclasses and a ``compare_…`` function.
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
            "object": self.object_id,
            "currency": self.currency,
            "ours": self.ours,
            "theirs": self.theirs,
            "detail": self.detail,
            "advice": self.advice,
            "key": self.key,
        }


def _m(amount: int | None, currency: str) -> str:
    return "nothing" if amount is None else str(Money(amount, currency))


# --- payments ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OurPayment:
    escrow_id: str
    currency: str
    payment_id: str | None
    #: Posted to the escrow's account: a charge, or a captured hold.
    funded: int
    #: The provider's fee as booked (``processing_fee``); None when none was booked.
    fee: int | None


@dataclass(frozen=True, slots=True)
class TheirPayment:
    id: str
    status: str
    currency: str
    #: Captured on the charge (0 while only authorized).
    received: int
    fee: int | None
    #: The escrow its metadata names, if any.
    escrow_id: str | None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded" and self.received > 0


def compare_payment(ours: OurPayment | None, theirs: TheirPayment | None) -> list[Difference]:
    if ours is None or ours.funded == 0:
        if theirs is None or not theirs.succeeded:
            return []
        escrow = ours.escrow_id if ours is not None else theirs.escrow_id
        if ours is not None:
            where = f"escrow {ours.escrow_id} has it as its payment but no funding in the ledger"
        elif theirs.escrow_id:
            where = f"its metadata names escrow {theirs.escrow_id}, whose ledger does not hold it"
        else:
            where = "its metadata names no escrow"
        return [
            Difference(
                Kind.payment_unrecorded,
                escrow,
                theirs.id,
                theirs.currency,
                None,
                theirs.received,
                f"payment {theirs.id} of {_m(theirs.received, theirs.currency)} succeeded at "
                f"the provider; {where}",
            )
        ]
    if theirs is None or not theirs.succeeded:
        what = (
            "has no payment id"
            if ours.payment_id is None
            else f"has payment {ours.payment_id}, which "
            + ("the provider does not know" if theirs is None else f"is {theirs.status}")
        )
        return [
            Difference(
                Kind.payment_missing,
                ours.escrow_id,
                ours.payment_id or ours.escrow_id,
                ours.currency,
                ours.funded,
                None if theirs is None else theirs.received,
                f"escrow {ours.escrow_id} is funded with {_m(ours.funded, ours.currency)} in the "
                f"ledger but {what}",
            )
        ]
    out: list[Difference] = []
    if theirs.received != ours.funded:
        out.append(
            Difference(
                Kind.payment_amount,
                ours.escrow_id,
                theirs.id,
                ours.currency,
                ours.funded,
                theirs.received,
                f"escrow {ours.escrow_id} is funded with {_m(ours.funded, ours.currency)} in the "
                f"ledger; payment {theirs.id} captured {_m(theirs.received, theirs.currency)}",
            )
        )
    if theirs.fee is not None and theirs.fee != ours.fee:
        out.append(
            Difference(
                Kind.fee_amount,
                ours.escrow_id,
                theirs.id,
                ours.currency,
                ours.fee,
                theirs.fee,
                f"the ledger booked {_m(ours.fee, ours.currency)} as the fee on payment "
                f"{theirs.id}; the provider charged {_m(theirs.fee, theirs.currency)}",
            )
        )
    return out


# --- refunds ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OurRefund:
    #: The refund operation's key (its ledger transfer's id).
    key: str
    escrow_id: str
    currency: str
    refund_id: str | None
    amount: int


#: A provider refund in one of these moved no money.
REFUND_UNMOVED = frozenset({"failed", "canceled"})


def refund_moved(status: str, amount: int) -> int:
    """What a provider refund in ``status`` took off the platform."""
    return 0 if status in REFUND_UNMOVED else amount


@dataclass(frozen=True, slots=True)
class TheirRefund:
    id: str
    payment_id: str | None
    #: The escrow whose payment it refunds (None: a payment escrowd does not know).
    escrow_id: str | None
    currency: str
    amount: int
    status: str

    @property
    def moved(self) -> int:
        """What left the platform: nothing for a refund that failed or was canceled."""
        return refund_moved(self.status, self.amount)


def compare_refund(ours: OurRefund | None, theirs: TheirRefund | None) -> list[Difference]:
    if ours is None:
        if theirs is None or theirs.moved == 0:
            return []
        return [
            Difference(
                Kind.refund_unrecorded,
                theirs.escrow_id,
                theirs.id,
                theirs.currency,
                None,
                theirs.moved,
                f"refund {theirs.id} of {_m(theirs.moved, theirs.currency)} on payment "
                f"{theirs.payment_id} is not in the ledger",
            )
        ]
    if theirs is None or theirs.moved == 0:
        state = "does not exist at the provider" if theirs is None else f"is {theirs.status}"
        return [
            Difference(
                Kind.refund_missing,
                ours.escrow_id,
                ours.refund_id or ours.key,
                ours.currency,
                ours.amount,
                None if theirs is None else 0,
                f"the ledger refunded {_m(ours.amount, ours.currency)} ({ours.key}) but refund "
                f"{ours.refund_id or '(none recorded)'} {state}",
            )
        ]
    if theirs.moved != ours.amount:
        return [
            Difference(
                Kind.refund_amount,
                ours.escrow_id,
                theirs.id,
                ours.currency,
                ours.amount,
                theirs.moved,
                f"the ledger refunded {_m(ours.amount, ours.currency)} ({ours.key}); refund "
                f"{theirs.id} is {_m(theirs.moved, theirs.currency)}",
            )
        ]
    return []


# --- transfers and their reversals ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OurTransfer:
    #: The release operation's key.
    key: str
    escrow_id: str
    currency: str
    transfer_id: str | None
    #: The payee's net booked by the release.
    amount: int
    #: Reversals booked since (transfer.reversed events applied).
    reversed: int


@dataclass(frozen=True, slots=True)
class TheirTransfer:
    id: str
    #: Its transfer group (escrowd uses the escrow id) or metadata.
    escrow_id: str | None
    currency: str
    amount: int
    reversed: int


def compare_transfer(ours: OurTransfer | None, theirs: TheirTransfer | None) -> list[Difference]:
    if ours is None:
        if theirs is None:
            return []
        return [
            Difference(
                Kind.transfer_unrecorded,
                theirs.escrow_id,
                theirs.id,
                theirs.currency,
                None,
                theirs.amount - theirs.reversed,
                f"transfer {theirs.id} of {_m(theirs.amount, theirs.currency)} "
                f"({_m(theirs.reversed, theirs.currency)} reversed) is not in the ledger",
            )
        ]
    if theirs is None:
        return [
            Difference(
                Kind.transfer_missing,
                ours.escrow_id,
                ours.transfer_id or ours.key,
                ours.currency,
                ours.amount,
                None,
                f"the ledger released {_m(ours.amount, ours.currency)} ({ours.key}) but "
                f"transfer {ours.transfer_id or '(none recorded)'} does not exist at the provider",
            )
        ]
    out: list[Difference] = []
    if theirs.amount != ours.amount:
        out.append(
            Difference(
                Kind.transfer_amount,
                ours.escrow_id,
                theirs.id,
                ours.currency,
                ours.amount,
                theirs.amount,
                f"the ledger released {_m(ours.amount, ours.currency)} ({ours.key}); transfer "
                f"{theirs.id} is {_m(theirs.amount, theirs.currency)}",
            )
        )
    if theirs.reversed != ours.reversed:
        kind = Kind.reversal_unrecorded if theirs.reversed > ours.reversed else Kind.reversal_amount
        out.append(
            Difference(
                kind,
                ours.escrow_id,
                theirs.id,
                ours.currency,
                ours.reversed,
                theirs.reversed,
                f"transfer {theirs.id} has {_m(theirs.reversed, theirs.currency)} reversed at "
                f"the provider; the ledger booked {_m(ours.reversed, ours.currency)}",
            )
        )
    return out
