"""``payout.paid`` / ``payout.failed`` from the provider (``register`` adds them), and PayPal's
``PAYMENT.PAYOUTS-ITEM.*`` (``webhooks.paypal_handlers`` registers those): the payout item's
status at PayPal (SUCCESS, UNCLAIMED, RETURNED, FAILED, BLOCKED…) moves the payout as Stripe's
payout status does (``providers.paypal.mapping.payout_from_item``).

An event is a hint, not the truth (docs/webhooks.md): the handler finds escrowd's payout by
the provider's id, checks the event came from the payee's own connected account (a payout
happens on that account, so ``event.account`` must be the one escrowd paid out from), then
asks the provider for the payout on that account (``truth``) and applies what the provider
says, not what the event says. A wrong account, an amount or currency other than recorded, or
a payout the provider does not have is an ``EventMismatch``: nothing moves, an incident opens.

An event about a payout escrowd never made is ignored — unless it names one of escrowd's
payouts in its metadata while escrowd recorded another provider id for it: that is a forgery
(or a mix-up) an admin must see.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.payouts import domain
from escrowd.payouts.domain import PayoutStatus
from escrowd.payouts.models import Payout
from escrowd.payouts.service import apply_answer
from escrowd.providers.paypal import events as paypal_events
from escrowd.providers.stripe import events as stripe_events
from escrowd.providers.types import EventKind, ProviderEvent
from escrowd.providers.types import Payout as ProviderPayout
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.verification import EventMismatch, truth


def recorded(row: Payout) -> dict[str, Any]:
    return {
        "payout": row.id,
        "provider_payout": row.provider_payout_id,
        "account": row.provider_account_id,
        "amount": row.amount,
        "currency": row.currency,
        "status": row.status,
    }


def _about_a_payout(event: ProviderEvent) -> bool:
    if event.object_id is None:
        return False
    if event.provider == stripe_events.PROVIDER:
        return event.object_type == "payout"
    # PayPal: a PAYMENT.PAYOUTS-ITEM.* event is about one payout item, escrowd's payout.
    return event.provider == paypal_events.PROVIDER and event.kind is EventKind.paypal_payouts_item


def _claimed(event: ProviderEvent) -> dict[str, Any]:
    if event.provider == paypal_events.PROVIDER:
        item = event.data.get("payout_item")
        amount = item.get("amount") if isinstance(item, dict) else None
        return {
            "id": event.object_id,
            "account": event.account,
            "amount": amount.get("value") if isinstance(amount, dict) else None,
            "currency": amount.get("currency") if isinstance(amount, dict) else None,
            "status": event.data.get("transaction_status"),
        }
    return {
        "id": event.object_id,
        "account": event.account,
        "amount": event.data.get("amount"),
        "currency": event.data.get("currency"),
        "status": event.data.get("status"),
    }


async def on_payout(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if not _about_a_payout(event) or event.object_id is None:
        return
    claimed = _claimed(event)
    row = (
        await session.scalars(
            select(Payout).where(Payout.provider_payout_id == event.object_id).with_for_update()
        )
    ).one_or_none()
    if row is not None and row.provider != event.provider:
        raise EventMismatch(
            f"The {event.provider} event names payout item {event.object_id}, which escrowd "
            f"paid out through {row.provider}.",
            claimed=claimed,
            recorded=recorded(row),
        )
    if row is None:
        metadata = event.data.get("metadata")
        named = metadata.get("payout_id") if isinstance(metadata, dict) else None
        ours = await session.get(Payout, named) if isinstance(named, str) else None
        if ours is not None and ours.provider_payout_id is not None:
            raise EventMismatch(
                f"The event names payout {ours.id}, which escrowd paid out as "
                f"{ours.provider_payout_id}, not {event.object_id}.",
                claimed=claimed,
                recorded=recorded(ours),
            )
        if (
            ours is not None
            and PayoutStatus(ours.status) in (PayoutStatus.rejected, PayoutStatus.failed)
            and event.account == ours.provider_account_id
        ):
            # Its send retries were spent and an admin rejected it, yet the provider made it
            # after all: the money was returned to the balance and also left. An admin decides.
            made = truth(event, "payout", event.object_id, ProviderPayout)
            if made.status != "failed" and made.status != "canceled":
                raise EventMismatch(
                    f"The provider made payout {made.id} ({made.status}) for escrowd's payout "
                    f"{ours.id}, which escrowd {ours.status} and returned to the balance.",
                    claimed=claimed,
                    provider={"id": made.id, "amount": made.amount, "status": made.status},
                    recorded=recorded(ours),
                )
        # Not escrowd's, or escrowd's before it recorded the provider's answer: the send job
        # repeats the call with the payout's key and learns the id that way.
        return
    if PayoutStatus(row.status) not in domain.AT_PROVIDER:
        return  # settled already: repeated or late
    if event.account != row.provider_account_id:
        raise EventMismatch(
            f"The event about payout {row.id} comes from account {event.account}, not the "
            f"payee's account {row.provider_account_id}.",
            claimed=claimed,
            recorded=recorded(row),
        )
    payout = truth(event, "payout", event.object_id, ProviderPayout)
    await apply_provider_payout(session, clock=clock, row=row, payout=payout, claimed=claimed)


async def apply_provider_payout(
    session: AsyncSession,
    *,
    clock: Clock,
    row: Payout,
    payout: ProviderPayout,
    claimed: dict[str, Any],
) -> None:
    """Move ``row`` (locked, still at the provider) as the provider's own ``payout`` says,
    once its amount and currency are checked against escrowd's record. Also what PayPal's
    ``PAYMENT.PAYOUTSBATCH.*`` applies, with the batch's item as read at PayPal."""
    if (payout.amount, payout.currency) != (row.amount, row.currency):
        raise EventMismatch(
            f"The provider's payout {payout.id} is {payout.amount} {payout.currency}; escrowd "
            f"recorded {row.amount} {row.currency}.",
            claimed=claimed,
            provider={"id": payout.id, "amount": payout.amount, "currency": payout.currency},
            recorded=recorded(row),
        )
    await apply_answer(session, clock=clock, row=row, answer=payout)


def register(registry: HandlerRegistry) -> None:
    registry.register(EventKind.payout_paid, on_payout)
    registry.register(EventKind.payout_failed, on_payout)
    # PayPal's PAYMENT.PAYOUTS-ITEM.* events reach on_payout through webhooks.paypal_handlers.
