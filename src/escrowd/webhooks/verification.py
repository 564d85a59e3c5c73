"""An inbound event is a hint, not the truth.

A signed event can still lie: the signing secret may have leaked, or a connected account's
endpoint may deliver events about objects that are not the platform's. So a handler never
moves money or state on what an event's body says. It asks for the provider's own object
instead, and checks that object against what escrowd recorded before its own call (amount,
currency, customer, capture mode, the escrow it names).

The protocol between handlers and the processor (``webhooks/service.py``):

- ``truth(event, "payment_intent", id, Payment)`` returns the object the processor fetched
  from the provider, or raises :class:`VerificationRequired`. The processor then rolls the
  event's transaction back, fetches the object outside any transaction (no row lock is held
  across a network call), and runs the handlers again with it in ``event.verified``. A handler
  that finds nothing to do (a repeated or stale event) returns before asking, so the common
  case costs no provider call.
- A handler that finds the provider's object at odds with the event or with escrowd's records
  raises :class:`EventMismatch`. The processor undoes the handler's writes, marks the event
  ``rejected`` and opens an incident with the three sides: what the event claimed, what the
  provider said, what escrowd recorded. An object the provider does not have is a mismatch too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError
from escrowd.providers.types import ProviderEvent

__all__ = [
    "MISMATCH_INCIDENT",
    "PAYPAL_AUTHORIZATION",
    "PAYPAL_CAPTURE",
    "PAYPAL_PAYOUT_BATCH",
    "PAYPAL_REFUND",
    "EventMismatch",
    "VerificationRequired",
    "fetch",
    "truth",
]

#: The incident kind a rejected event opens.
MISMATCH_INCIDENT = "webhook.mismatch"

T = TypeVar("T")

#: Objects that live on a connected account rather than the platform's.
ON_CONNECTED_ACCOUNT = frozenset({"payout"})


class VerificationRequired(Exception):  # noqa: N818  (a request to the processor, not an error)
    """The handler needs the provider's own object before it may act."""

    def __init__(self, object_type: str, object_id: str, account: str | None = None) -> None:
        super().__init__(f"verify {object_type} {object_id} with the provider")
        self.object_type = object_type
        self.object_id = object_id
        #: The connected account the object lives on (payouts), or None for the platform's.
        self.account = account


class EventMismatch(Exception):  # noqa: N818  (the event's verdict, raised to the processor)
    """What the event claims is false; nothing may move."""

    def __init__(
        self,
        message: str,
        *,
        claimed: Mapping[str, Any] | None = None,
        provider: Mapping[str, Any] | None = None,
        recorded: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.claimed = dict(claimed or {})
        self.provider = None if provider is None else dict(provider)
        self.recorded = dict(recorded or {})

    def details(self, event: ProviderEvent) -> dict[str, Any]:
        return {
            "event": {
                "id": event.id,
                "type": event.provider_type,
                "account": event.account,
                "object_type": event.object_type,
                "object_id": event.object_id,
            },
            "claimed": self.claimed,
            "provider": self.provider,
            "recorded": self.recorded,
        }


class _Missing:
    """The provider answered that no such object exists."""

    def __repr__(self) -> str:
        return "<missing at the provider>"


MISSING = _Missing()


def truth(event: ProviderEvent, object_type: str, object_id: str, cls: type[T]) -> T:
    """The provider's own object, or :class:`VerificationRequired` until it has been fetched.

    Raises :class:`EventMismatch` when the provider has no such object.
    """
    found = event.verified.get((object_type, object_id))
    # A payout lives on the connected account it paid out from: ask that account for it
    # (the handler has checked the event's account is the one escrowd recorded).
    account = event.account if object_type in ON_CONNECTED_ACCOUNT else None
    if found is None:
        raise VerificationRequired(object_type, object_id, account)
    if found is MISSING:
        where = f"account {account}" if account else "the platform's account"
        raise EventMismatch(
            f"The event names {object_type} {object_id}, which the provider does not have "
            f"on {where}.",
            claimed={"object_type": object_type, "id": object_id},
            provider=None,
        )
    if not isinstance(found, cls):  # pragma: no cover - fetch() returns the mapped types
        raise TypeError(f"{object_type} {object_id} fetched as {type(found).__name__}")
    return found


async def fetch(
    provider: PaymentProvider, object_type: str, object_id: str, account: str | None = None
) -> object:
    """The provider's object (a neutral type), or :data:`MISSING` when it has none.

    ``account``: the connected account a payout lives on.

    Other provider errors propagate: the event is retried later, as for any handler failure.
    """
    try:
        if object_type in PAYPAL_OBJECTS:
            return await _fetch_paypal(provider, object_type, object_id)
        if object_type == "payment_intent":
            return await provider.retrieve_payment(object_id)
        if object_type == "charge":
            return await provider.retrieve_charge(object_id)
        if object_type == "transfer":
            return await provider.retrieve_transfer(object_id)
        if object_type == "account":
            return await provider.retrieve_account(object_id)
        if object_type == "payout":
            return await provider.retrieve_payout(object_id, account_id=account)
        if object_type == "dispute":
            return await provider.retrieve_dispute(object_id)
        if object_type == "invoice":
            return await provider.retrieve_invoice(object_id)
        if object_type == "subscription":
            return await provider.retrieve_subscription(object_id)
    except ProviderError as exc:
        if exc.missing:
            return MISSING
        raise
    raise ValueError(f"no way to verify a {object_type!r} with the provider")


#: PayPal's own objects a PayPal handler checks an event against (the order itself is a
#: ``payment_intent``: escrowd's payment; a payout item is a ``payout``).
PAYPAL_CAPTURE = "paypal.capture"
PAYPAL_AUTHORIZATION = "paypal.authorization"
PAYPAL_REFUND = "paypal.refund"
PAYPAL_PAYOUT_BATCH = "paypal.payout_batch"
PAYPAL_OBJECTS = frozenset(
    {PAYPAL_CAPTURE, PAYPAL_AUTHORIZATION, PAYPAL_REFUND, PAYPAL_PAYOUT_BATCH}
)


async def _fetch_paypal(provider: PaymentProvider, object_type: str, object_id: str) -> object:
    from escrowd.providers.paypal.client import PayPalClient

    # Asked of the provider's ``client`` rather than its class: a wrapper around the provider
    # (a test's fault injector at the network edge) still reaches PayPal's own objects.
    client = getattr(provider, "client", None)
    if provider.name != "paypal" or not isinstance(client, PayPalClient):
        raise ValueError(f"a {object_type!r} is verified with PayPal, not {provider.name!r}")
    if object_type == PAYPAL_CAPTURE:
        return await client.get_capture(object_id)
    if object_type == PAYPAL_AUTHORIZATION:
        return await client.get_authorization(object_id)
    if object_type == PAYPAL_PAYOUT_BATCH:
        return await client.get_payout_batch(object_id)
    return await client.get_refund(object_id)
