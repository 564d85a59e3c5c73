"""What a payer reads when a card fails, chosen by Stripe's ``decline_code``, then ``code``.

The first five texts are the seed's own (000 §10, "Payment Error Codes"), word for word. The
rest extend it for codes Stripe documents as common. Codes that reveal a fraud suspicion
(``lost_card``, ``stolen_card``, ``fraudulent``, ``pickup_card``, ``merchant_blacklist``) are
left out on purpose: Stripe advises showing those payers the generic decline, so they fall
through to ``code`` = ``card_declined``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_DECLINED = "Your card was declined. Please use a different payment method."
_LIMIT = "Your card has reached its limit. Please use a different payment method."

CARD_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        # seed 000 §10
        "card_declined": _DECLINED,
        "insufficient_funds": "Your card has insufficient funds.",
        "expired_card": "Your card has expired. Please update your payment method.",
        "incorrect_cvc": "Your card's security code is incorrect.",
        "processing_error": "An error occurred while processing your card.",
        # beyond the seed
        "generic_decline": _DECLINED,
        "do_not_honor": _DECLINED,
        "invalid_cvc": "Your card's security code is invalid.",
        "incorrect_number": "Your card number is incorrect.",
        "invalid_number": "Your card number is not a valid card number.",
        "invalid_expiry_month": "Your card's expiration month is invalid.",
        "invalid_expiry_year": "Your card's expiration year is invalid.",
        "incorrect_zip": "Your card's postal code is incorrect.",
        "card_velocity_exceeded": _LIMIT,
        "withdrawal_count_limit_exceeded": _LIMIT,
        "card_not_supported": "Your card does not support this type of purchase.",
        "currency_not_supported": "Your card does not support this currency.",
        "try_again_later": "Your card could not be charged right now. Please try again later.",
        "authentication_required": (
            "Your bank asks you to confirm this payment. Please try again and complete the "
            "verification."
        ),
        "payment_intent_authentication_failure": (
            "We could not verify this payment with your bank. Please try again or use a "
            "different payment method."
        ),
    }
)

#: The seed's fallback ("Payment failed"), with what the payer can do about it.
GENERIC_CARD_MESSAGE = "Payment failed. Please try again or use a different payment method."
#: Seed 000 §10, ``rate_limit``.
RATE_LIMIT_MESSAGE = "Too many requests. Please try again later."
#: Seed 000 §10: an authentication failure is a "Payment system error" to everyone but the operator.
PAYMENT_SYSTEM_ERROR = "Payment system error."


def card_message(*, decline_code: str | None, code: str | None) -> str:
    """The human message for a card failure: ``decline_code`` wins, then ``code``."""
    for key in (decline_code, code):
        if key and key in CARD_MESSAGES:
            return CARD_MESSAGES[key]
    return GENERIC_CARD_MESSAGE
