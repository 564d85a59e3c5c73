"""The provider's invoice and subscription events (``register`` adds them).

An event is a hint (docs/webhooks.md): the handler finds escrowd's subscription by the
provider's id the event names, then asks the provider for the invoice and the subscription and
acts on those. An invoice that belongs to another subscription or customer, or that the
provider does not have, is an ``EventMismatch``: nothing is booked, an incident opens. An
invoice.paid whose invoice is not paid at the provider is one too.

Order does not matter: every event ends by making escrowd's subscription say what the
provider's says now (``apply_provider``), and a paid invoice is booked under a transfer id
derived from the invoice (``<in_…>:subscription``), so a repeated or late event books nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.providers.stripe import events as stripe_events
from escrowd.providers.stripe.mapping import dig, ref
from escrowd.providers.types import Charge, EventKind, Invoice, Payment, ProviderEvent
from escrowd.providers.types import Subscription as ProviderSubscription
from escrowd.subscriptions import domain
from escrowd.subscriptions.domain import SubscriptionStatus
from escrowd.subscriptions.models import Subscription
from escrowd.subscriptions.service import (
    apply_provider,
    book_invoice,
    by_provider_id,
    invoice_booked,
)
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.verification import EventMismatch, truth


def _recorded(row: Subscription) -> dict[str, Any]:
    return {
        "subscription": row.id,
        "provider_subscription": row.provider_subscription_id,
        "customer": row.provider_customer_id,
        "status": row.status,
    }


def _claimed_subscription(data: dict[str, Any]) -> str | None:
    # API versions from 2025-03-31 name it under ``parent``; older ones at the top.
    return ref(data.get("subscription")) or ref(
        dig(data, "parent", "subscription_details", "subscription")
    )


async def _sync(
    session: AsyncSession, event: ProviderEvent, clock: Clock, row: Subscription
) -> None:
    assert row.provider_subscription_id is not None
    sub = truth(event, "subscription", row.provider_subscription_id, ProviderSubscription)
    if sub.customer != row.provider_customer_id:
        raise EventMismatch(
            f"The provider's subscription {sub.id} belongs to customer {sub.customer}, not "
            f"{row.provider_customer_id}.",
            provider={"id": sub.id, "customer": sub.customer},
            recorded=_recorded(row),
        )
    await apply_provider(session, clock=clock, row=row, sub=sub)


async def on_invoice(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if (
        event.provider != stripe_events.PROVIDER
        or event.object_type != "invoice"
        or event.object_id is None
    ):
        return
    named = _claimed_subscription(event.data)
    row = None if named is None else await by_provider_id(session, named)
    if row is None:
        return  # not a subscription escrowd made (or not yet recorded: the create applies it)
    claimed = {
        "id": event.object_id,
        "subscription": named,
        "customer": event.data.get("customer"),
        "amount_paid": event.data.get("amount_paid"),
        "status": event.data.get("status"),
    }
    invoice = truth(event, "invoice", event.object_id, Invoice)
    seen = {
        "id": invoice.id,
        "subscription": invoice.subscription,
        "customer": invoice.customer,
        "amount_paid": invoice.amount_paid,
        "status": invoice.status,
    }
    if (invoice.subscription, invoice.customer) != (
        row.provider_subscription_id,
        row.provider_customer_id,
    ):
        raise EventMismatch(
            f"The provider's invoice {invoice.id} is for subscription {invoice.subscription} "
            f"of customer {invoice.customer}, not {row.id}'s.",
            claimed=claimed,
            provider=seen,
            recorded=_recorded(row),
        )
    if event.kind is EventKind.invoice_paid:
        if invoice.status != "paid":
            raise EventMismatch(
                f"The event says invoice {invoice.id} was paid; the provider has it "
                f"{invoice.status}.",
                claimed=claimed,
                provider=seen,
                recorded=_recorded(row),
            )
        # Booked whatever the subscription's status: money the payer paid is revenue even
        # if the subscription has ended since.
        has_revenue, has_fee = await invoice_booked(session, invoice.id)
        if not (has_revenue and has_fee):
            fee = None if has_fee else _payment_fee(event, invoice, claimed, seen, row)
            await book_invoice(session, clock=clock, row=row, invoice=invoice, fee=fee)
    await _sync(session, event, clock, row)


def _payment_fee(
    event: ProviderEvent,
    invoice: Invoice,
    claimed: dict[str, Any],
    seen: dict[str, Any],
    row: Subscription,
) -> int | None:
    """The provider's processing fee on the payment that paid ``invoice``, from its charge's
    balance transaction (None: paid without a card payment, or the fee not known yet).

    The charge must be the invoice's payment, for the amount and currency the invoice was
    paid: otherwise the event is a mismatch and nothing is booked.
    """
    charge_id = invoice.charge_id
    if charge_id is None and invoice.payment_id is not None:
        # Current API versions name the PaymentIntent only: its latest charge paid.
        charge_id = truth(event, "payment_intent", invoice.payment_id, Payment).latest_charge
    if charge_id is None:
        return None
    charge = truth(event, "charge", charge_id, Charge)
    if (
        invoice.payment_id not in (None, charge.payment_intent)
        or not charge.paid
        or charge.currency != invoice.currency
        or charge.amount_captured != invoice.amount_paid
    ):
        raise EventMismatch(
            f"The provider's charge {charge.id} ({charge.amount_captured} {charge.currency}, "
            f"payment {charge.payment_intent}) is not the payment of invoice {invoice.id} "
            f"({invoice.amount_paid} {invoice.currency}, payment {invoice.payment_id}).",
            claimed=claimed,
            provider={
                **seen,
                "charge": charge.id,
                "charge_payment": charge.payment_intent,
                "charge_amount_captured": charge.amount_captured,
                "charge_currency": charge.currency,
            },
            recorded=_recorded(row),
        )
    return charge.fee


async def on_subscription(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if (
        event.provider != stripe_events.PROVIDER
        or event.object_type != "subscription"
        or event.object_id is None
    ):
        return
    row = await by_provider_id(session, event.object_id)
    if row is None or SubscriptionStatus(row.status) in domain.FINAL:
        return
    await _sync(session, event, clock, row)


def register(registry: HandlerRegistry) -> None:
    registry.register(EventKind.invoice_paid, on_invoice)
    registry.register(EventKind.invoice_payment_failed, on_invoice)
    registry.register(EventKind.subscription_updated, on_subscription)
    registry.register(EventKind.subscription_deleted, on_subscription)
