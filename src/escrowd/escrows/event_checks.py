"""Is a provider event about an escrow true? Checks of the provider's own object against what
escrowd recorded, before a webhook handler moves money or state.

Each check raises :class:`~escrowd.webhooks.verification.EventMismatch` naming what differs,
with the event's claim, the provider's object and escrowd's record side by side, so the
incident an admin reads says what happened without a trip to the logs.

What must hold:

- the event happened on the platform's own account, not on a connected account's (on Stripe
  Connect, a payee's account can deliver ``payment_intent.succeeded`` for its own charges);
- a payment has the escrow's currency and exactly the amount escrowd charges for it, names the
  escrow in its metadata, was made for the payer's customer at the provider (when escrowd knows
  one), and has the capture mode the escrow asked for (manual for ``authorize``);
- an authorization reported gone is canceled at the provider;
- a reversed transfer is the one escrowd made: same destination, amount and currency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.customers.models import Customer
from escrowd.escrows.models import Escrow, Operation
from escrowd.providers.types import Payment, PaymentStatus, ProviderEvent, Transfer
from escrowd.webhooks.verification import EventMismatch

__all__ = [
    "ExpectedPayment",
    "authorization_gone",
    "expected_payment",
    "payment_matches",
    "platform_event",
    "recorded_transfer",
    "transfer_matches",
]


@dataclass(frozen=True, slots=True)
class ExpectedPayment:
    """The payment escrowd expects for an escrow, from its own records."""

    escrow: str
    status: str
    amount: int
    currency: str
    #: The provider customer the payment must be for: the one escrowd's fund operation named,
    #: else the payer's customer at the provider; None when the payer has none yet.
    customer: str | None
    capture_method: str
    payment_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def expected_payment(session: AsyncSession, escrow: Escrow) -> ExpectedPayment:
    customer = escrow.customer_id
    if customer is None:
        customer = await session.scalar(
            select(Customer.provider_customer_id).where(
                Customer.user_id == escrow.payer_id,
                Customer.provider == (escrow.provider or "stripe"),
            )
        )
    return ExpectedPayment(
        escrow=escrow.id,
        status=escrow.status,
        amount=escrow.charged,
        currency=escrow.currency,
        customer=customer,
        capture_method="manual" if escrow.capture_mode == "authorize" else "automatic",
        payment_id=escrow.payment_id,
    )


def _payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "status": payment.status.value,
        "amount": payment.amount,
        "currency": payment.currency,
        "customer": payment.customer,
        "capture_method": payment.capture_method,
        "escrow_id": payment.metadata.get("escrow_id"),
    }


def platform_event(event: ProviderEvent, recorded: ExpectedPayment | dict[str, Any]) -> None:
    if event.account is None:
        return
    raise EventMismatch(
        f"The event happened on connected account {event.account}, not on the platform's "
        "account: a payee's own charges and transfers never move an escrow's money.",
        claimed={"account": event.account, **_claim_of(event)},
        provider=None,
        recorded=recorded.as_dict() if isinstance(recorded, ExpectedPayment) else recorded,
    )


def _claim_of(event: ProviderEvent) -> dict[str, Any]:
    keys = ("id", "status", "amount", "currency", "customer", "capture_method", "destination")
    claim = {k: event.data.get(k) for k in keys if k in event.data}
    metadata = event.data.get("metadata")
    if isinstance(metadata, dict) and "escrow_id" in metadata:
        claim["escrow_id"] = metadata["escrow_id"]
    return claim


def payment_differences(payment: Payment, expected: ExpectedPayment, *, names: object) -> list[str]:
    """How the provider's payment differs from the one escrowd made for the escrow; ``names``
    is the escrow id the payment carries (Stripe's metadata, PayPal's ``custom_id``)."""
    differences: list[str] = []
    if names != expected.escrow:
        differences.append(f"it names escrow {names!r}, not {expected.escrow}")
    if payment.currency != expected.currency:
        differences.append(f"its currency is {payment.currency}, not {expected.currency}")
    if payment.amount != expected.amount:
        differences.append(f"its amount is {payment.amount}, not {expected.amount}")
    if payment.capture_method != expected.capture_method:
        differences.append(
            f"its capture method is {payment.capture_method}, not {expected.capture_method}"
        )
    if (
        payment.customer is not None
        and expected.customer is not None
        and payment.customer != expected.customer
    ):
        differences.append(f"it is for customer {payment.customer}, not {expected.customer}")
    return differences


def payment_matches(claim: Payment, payment: Payment, expected: ExpectedPayment) -> None:
    """The provider's payment is the escrow's: raise EventMismatch naming every difference."""
    differences = payment_differences(payment, expected, names=payment.metadata.get("escrow_id"))
    if _behind(payment.status, claim.status):
        differences.append(
            f"the event says it is {claim.status.value}, the provider that it is "
            f"{payment.status.value}"
        )
    if not differences:
        return
    raise EventMismatch(
        f"Payment {payment.id} at the provider does not match escrow {expected.escrow}: "
        + "; ".join(differences)
        + ". Nothing was moved.",
        claimed=_payment_view(claim),
        provider=_payment_view(payment),
        recorded=expected.as_dict(),
    )


_BEFORE_AUTHORIZATION = frozenset(
    {
        PaymentStatus.requires_payment_method,
        PaymentStatus.requires_confirmation,
        PaymentStatus.requires_action,
        PaymentStatus.processing,
    }
)


def _behind(truth: PaymentStatus, claimed: PaymentStatus) -> bool:
    """The provider shows an earlier stage than the event claims: no payment goes back from
    authorized or succeeded, so the event made it up."""
    if claimed is PaymentStatus.succeeded:
        return truth in _BEFORE_AUTHORIZATION or truth is PaymentStatus.requires_capture
    if claimed is PaymentStatus.requires_capture:
        return truth in _BEFORE_AUTHORIZATION
    return False


def authorization_gone(payment: Payment, expected: ExpectedPayment) -> None:
    if payment.status is PaymentStatus.canceled:
        return
    raise EventMismatch(
        f"The event says the authorization of payment {payment.id} is gone, but the provider "
        f"shows it {payment.status.value}. The escrow was not expired.",
        claimed={"id": payment.id, "status": "canceled"},
        provider=_payment_view(payment),
        recorded=expected.as_dict(),
    )


def recorded_transfer(op: Operation, escrow: Escrow) -> dict[str, Any]:
    return {
        "escrow": escrow.id,
        "operation": op.key,
        "transfer": op.provider_object_id,
        "amount": op.provider_amount,
        "currency": escrow.currency,
        "destination": op.params.get("destination"),
        "reversed": op.reversed,
    }


def _transfer_view(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "amount": transfer.amount,
        "amount_reversed": transfer.amount_reversed,
        "currency": transfer.currency,
        "destination": transfer.destination,
    }


def transfer_matches(claim: Transfer, transfer: Transfer, op: Operation, escrow: Escrow) -> None:
    recorded = recorded_transfer(op, escrow)
    differences = [
        f"its {name} is {getattr(transfer, name)!r}, not {recorded[name]!r}"
        for name in ("amount", "currency", "destination")
        if recorded[name] is not None and getattr(transfer, name) != recorded[name]
    ]
    if claim.amount_reversed > transfer.amount_reversed:
        differences.append(
            f"the event says {claim.amount_reversed} was reversed, the provider "
            f"{transfer.amount_reversed}"
        )
    if not differences:
        return
    raise EventMismatch(
        f"Transfer {transfer.id} at the provider does not match release {op.key}: "
        + "; ".join(differences)
        + ". Nothing was moved.",
        claimed=_transfer_view(claim),
        provider=_transfer_view(transfer),
        recorded=recorded,
    )
