"""``StripeProvider``: the PaymentProvider interface on Stripe.

The calls live in four groups (payments.py, connect.py, billing.py, lists.py) over one shared core;
this class puts them together and adds inbound webhook parsing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from escrowd.clock import unix
from escrowd.providers.base import Capability
from escrowd.providers.stripe import events, signature
from escrowd.providers.stripe.billing import BillingMixin
from escrowd.providers.stripe.connect import ConnectMixin
from escrowd.providers.stripe.lists import ListsMixin
from escrowd.providers.stripe.payments import PaymentsMixin
from escrowd.providers.types import ProviderEvent


class StripeProvider(PaymentsMixin, ConnectMixin, BillingMixin, ListsMixin):
    """Stripe, real or emulated: the SDK client decides where the calls go (client.py)."""

    name = "stripe"
    capabilities = frozenset(Capability)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify a delivery's ``Stripe-Signature`` and parse its event.

        Raises ``signature.SignatureError`` for a delivery not provably from Stripe (or too old,
        or dated in the future) and ``events.EventParseError`` for a body that is not an event.
        """
        header = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        signature.verify(payload, header, self._webhook_secrets, now=unix(self._clock.now()))
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise events.EventParseError("The webhook body is not JSON.") from exc
        return events.parse_event(body)
