"""Reconciliation's rules: what escrowd booked against what the provider holds (pure).

Five kinds of money object are compared, each whole (not just a day's part of it):

- a **payment**: an escrow's funding in the ledger (``payment`` + ``capture`` transfers) and
  its ``processing_fee``, against the PaymentIntent's captured charge and the charge's fee;
- a **refund**: a refund operation's ledger transfer against the provider's refund;
- a **transfer**: a release operation's net to the payee and the reversals booked since,
  against the provider's transfer and its ``amount_reversed``;
- a **subscription invoice**: its booked revenue (``<in_…>:subscription``) and processing fee
  (``<in_…>:processing_fee``), against the payment that paid the invoice and its charge's fee.

- a **payout** (to a PayPal email): what the ledger sent out (``<po>:sent``) against the
  provider's payout item, its amount and whether its money left.

Either side may be missing (None). Each rule returns the differences it finds
(``differences``: the kinds, their advice and the ``Difference`` type). Payouts and
disputes slot in the same way: a pair of dataclasses and a ``compare_…`` function.
"""

from __future__ import annotations

from dataclasses import dataclass

from escrowd.reconcile.differences import Difference, Kind
from escrowd.reconcile.differences import money_text as _m

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
    #: The invoice it pays, where the provider names it on the payment (older API versions).
    invoice_id: str | None = None

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


# --- subscription invoices --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OurInvoice:
    invoice_id: str
    #: The subscription it was booked for (the transfers' reference).
    subscription_id: str | None
    currency: str
    #: The revenue booked (``<in_…>:subscription``); 0 when only a fee was booked.
    amount: int
    #: The processing fee booked (``<in_…>:processing_fee``); None when none was.
    fee: int | None


@dataclass(frozen=True, slots=True)
class TheirInvoice:
    id: str
    status: str
    currency: str
    amount_paid: int
    payment_id: str | None
    #: The payment that paid it, with its charge's fee (None: no payment, or unknown there).
    payment: TheirPayment | None

    @property
    def paid(self) -> bool:
        """Paid by a payment that succeeded (an invoice paid out of band moved no money)."""
        return self.status == "paid" and self.payment is not None and self.payment.succeeded

    @property
    def object_id(self) -> str:
        return self.payment_id or self.id


def compare_invoice(ours: OurInvoice | None, theirs: TheirInvoice | None) -> list[Difference]:
    if ours is None or ours.amount == 0:
        if theirs is None or not theirs.paid:
            return []
        assert theirs.payment is not None
        booked = "" if ours is None else f" (only a fee of {_m(ours.fee, ours.currency)})"
        return [
            Difference(
                Kind.invoice_unrecorded,
                None,
                theirs.object_id,
                theirs.currency,
                None,
                theirs.payment.received,
                f"invoice {theirs.id} was paid by payment {theirs.payment_id} "
                f"({_m(theirs.payment.received, theirs.payment.currency)}) at the provider; "
                f"the ledger has no {theirs.id}:subscription{booked}",
                invoice_id=theirs.id,
            )
        ]
    where = f"invoice {ours.invoice_id} of {ours.subscription_id or 'an unknown subscription'}"
    if theirs is None or not theirs.paid:
        if theirs is None:
            state = "the provider does not know it"
        elif theirs.payment is None:
            state = f"the provider has it {theirs.status} with no payment found"
        else:
            state = f"its payment {theirs.payment.id} is {theirs.payment.status}"
        return [
            Difference(
                Kind.invoice_missing,
                None,
                ours.invoice_id if theirs is None else theirs.object_id,
                ours.currency,
                ours.amount,
                None if theirs is None or theirs.payment is None else theirs.payment.received,
                f"{where} is booked as {_m(ours.amount, ours.currency)} of revenue but {state}",
                invoice_id=ours.invoice_id,
            )
        ]
    paid = theirs.payment
    assert paid is not None
    out: list[Difference] = []
    if paid.currency != ours.currency or paid.received != ours.amount:
        out.append(
            Difference(
                Kind.invoice_amount,
                None,
                paid.id,
                ours.currency,
                ours.amount,
                paid.received,
                f"{where} is booked as {_m(ours.amount, ours.currency)}; payment {paid.id} "
                f"took {_m(paid.received, paid.currency)}",
                invoice_id=ours.invoice_id,
            )
        )
    if paid.fee is not None and paid.fee != ours.fee:
        out.append(
            Difference(
                Kind.fee_amount,
                None,
                paid.id,
                ours.currency,
                ours.fee,
                paid.fee,
                f"the ledger booked {_m(ours.fee, ours.currency)} as the fee on payment "
                f"{paid.id} of {where}; the provider charged {_m(paid.fee, paid.currency)}",
                invoice_id=ours.invoice_id,
            )
        )
    return out


# --- payouts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OurPayout:
    payout_id: str
    party_id: str
    currency: str
    #: The provider's payout (a PayPal payout item's id).
    provider_payout_id: str | None
    #: escrowd's status (payouts/domain.py).
    status: str
    #: What the ledger sent out to the provider's clearing account (``<po>:sent``); 0 while
    #: held, or once voided (failed, rejected).
    sent: int


#: Provider payout statuses (neutral, ``Payout.status``) whose money has left the platform.
PAYOUT_MOVED = frozenset({"paid", "in_transit"})
#: escrowd payout statuses settled with the money back on the payee's available balance.
PAYOUT_UNDONE = frozenset({"failed", "rejected"})


@dataclass(frozen=True, slots=True)
class TheirPayout:
    id: str
    currency: str
    amount: int
    #: Neutral: ``paid``, ``in_transit`` (PayPal's UNCLAIMED), ``pending``, ``failed``.
    status: str

    @property
    def moved(self) -> int:
        return self.amount if self.status in PAYOUT_MOVED else 0


def compare_payout(ours: OurPayout, theirs: TheirPayout | None) -> list[Difference]:
    """A payout still open at escrowd (requested, approved, in transit) is settling: no
    difference until it is paid, failed or rejected."""
    what = f"payout {ours.payout_id} of {ours.party_id}"
    if ours.sent > 0:
        if theirs is None or theirs.moved == 0:
            state = (
                "the provider does not have it"
                if theirs is None
                else f"the provider's payout {theirs.id} is {theirs.status}"
            )
            return [
                Difference(
                    Kind.payout_missing,
                    None,
                    ours.provider_payout_id or ours.payout_id,
                    ours.currency,
                    ours.sent,
                    None if theirs is None else 0,
                    f"the ledger sent {_m(ours.sent, ours.currency)} out for {what} but {state}",
                    payout_id=ours.payout_id,
                )
            ]
        if theirs.amount != ours.sent or theirs.currency != ours.currency:
            return [
                Difference(
                    Kind.payout_amount,
                    None,
                    theirs.id,
                    ours.currency,
                    ours.sent,
                    theirs.amount,
                    f"the ledger sent {_m(ours.sent, ours.currency)} out for {what}; the "
                    f"provider's payout {theirs.id} is {_m(theirs.amount, theirs.currency)}",
                    payout_id=ours.payout_id,
                )
            ]
        return []
    if ours.status in PAYOUT_UNDONE and theirs is not None and theirs.moved > 0:
        return [
            Difference(
                Kind.payout_unrecorded,
                None,
                theirs.id,
                theirs.currency,
                None,
                theirs.moved,
                f"{what} is {ours.status} at escrowd (its money back on the payee's balance) "
                f"but the provider's payout {theirs.id} of "
                f"{_m(theirs.amount, theirs.currency)} is {theirs.status}",
                payout_id=ours.payout_id,
            )
        ]
    return []
