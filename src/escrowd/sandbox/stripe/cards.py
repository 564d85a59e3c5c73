"""Stripe's test cards: what each number does, and the ``pm_card_…`` / ``tok_…`` shortcuts.

Declining cards decline when charged and, as on Stripe, when attached to a customer or set up
(except 4000 0000 0000 0341, which attaches and then declines every charge).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from escrowd.sandbox.stripe.errors import CardError, attempt_error


@dataclass(frozen=True, slots=True)
class Decline:
    code: str
    decline_code: str
    message: str
    param: str | None = None

    def attempt_error(self, payment_method: dict[str, Any]) -> dict[str, Any]:
        """What the intent keeps as its last error after this decline."""
        return attempt_error(
            "card_error",
            self.code,
            self.message,
            payment_method,
            decline_code=self.decline_code,
        )

    def error(self, **extra: object) -> CardError:
        return CardError(
            self.message,
            code=self.code,
            decline_code=self.decline_code,
            param=self.param,
            extra=dict(extra),
            commit=True,
        )


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
LOST = Decline("card_declined", "lost_card", "Your card was declined.")
STOLEN = Decline("card_declined", "stolen_card", "Your card was declined.")
FRAUD = Decline("card_declined", "fraudulent", "Your card was declined.")
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.", "exp_month")
CVC = Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc")
PROCESSING = Decline(
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again in a little bit.",
)
AUTH_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)


@dataclass(frozen=True, slots=True)
class TestCard:
    number: str
    brand: str = "visa"
    funding: str = "credit"
    decline: Decline | None = None
    #: The decline happens on charges only: attaching and setting up succeed (0341).
    charge_only: bool = False
    #: "on_setup": 3-D Secure unless the card was set up for future use; "always": every time.
    three_ds: str | None = None
    dispute: bool = False
    #: Funds available at once instead of after the usual two days (0077).
    available_now: bool = False

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]

    @property
    def declines_on_attach(self) -> bool:
        return self.decline is not None and not self.charge_only

    @property
    def outcome(self) -> str:
        """What paying with this card does, in a few words (shown to testers)."""
        if self.decline is not None:
            reason = self.decline.decline_code.replace("_", " ").replace("cvc", "CVC")
            said = "declined" if self.decline is GENERIC else f"declined: {reason}"
            return f"attaches, then every charge is {said}" if self.charge_only else said
        if self.three_ds == "on_setup":
            return "asks for 3-D Secure (not once set up for later payments)"
        if self.three_ds == "always":
            return "asks for 3-D Secure every time"
        if self.dispute:
            return "succeeds, then the payment is disputed"
        if self.available_now:
            return "succeeds; the funds are available at once"
        return "succeeds"


CARDS: dict[str, TestCard] = {
    c.number: c
    for c in (
        TestCard("4242424242424242"),
        TestCard("4000056655665556", funding="debit"),
        TestCard("5555555555554444", brand="mastercard"),
        TestCard("2223003122003222", brand="mastercard"),
        TestCard("5200828282828210", brand="mastercard", funding="debit"),
        TestCard("378282246310005", brand="amex"),
        TestCard("6011111111111117", brand="discover"),
        TestCard("4000000000000077", available_now=True),
        TestCard("4000000000000002", decline=GENERIC),
        TestCard("4000000000009995", decline=INSUFFICIENT),
        TestCard("4000000000009987", decline=LOST),
        TestCard("4000000000009979", decline=STOLEN),
        TestCard("4100000000000019", decline=FRAUD),
        TestCard("4000000000000069", decline=EXPIRED),
        TestCard("4000000000000127", decline=CVC),
        TestCard("4000000000000119", decline=PROCESSING),
        TestCard("4000000000000341", decline=GENERIC, charge_only=True),
        TestCard("4000002500003155", three_ds="on_setup"),
        TestCard("4000002760003184", three_ds="always"),
        TestCard("4000000000003220", three_ds="always"),
        TestCard("4000000000000259", dispute=True),
    )
}

#: ``pm_card_<name>`` and ``tok_<name>`` → card number (Stripe's documented names).
SHORTCUTS: dict[str, str] = {
    "visa": "4242424242424242",
    "visa_debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210",
    "amex": "378282246310005",
    "discover": "6011111111111117",
    "bypassPending": "4000000000000077",
    "chargeDeclined": "4000000000000002",
    "visa_chargeDeclined": "4000000000000002",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedFraudulent": "4100000000000019",
    "radarBlock": "4100000000000019",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "chargeCustomerFail": "4000000000000341",
    "authenticationRequiredOnSetup": "4000002500003155",
    "threeDSecureRequired": "4000002500003155",
    "authenticationRequired": "4000002760003184",
    "threeDSecure2Required": "4000000000003220",
    "createDispute": "4000000000000259",
    "createDisputeProductNotReceived": "4000000000000259",
}


def from_shortcut(value: str) -> TestCard | None:
    """The card behind ``pm_card_visa`` or ``tok_visa``, else None."""
    if value.startswith("pm_card_"):
        name = value[len("pm_card_") :]
    elif value.startswith("tok_"):
        name = value[len("tok_") :]
    else:
        return None
    number = SHORTCUTS.get(name)
    return CARDS[number] if number else None


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
