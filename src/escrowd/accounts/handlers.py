"""The provider's account events: ``account.updated``, ``capability.updated`` and
``account.application.deauthorized``.

``register`` adds both handlers to the process's registry (``escrowd.bootstrap``). Each runs in
the transaction that marks the stored event processed.

Order does not matter: an event older than the state escrowd holds (``updated_at``, whole
seconds) is ignored, so a late or re-delivered event never moves an account backwards. Events
for accounts escrowd does not know (made elsewhere, or whose creation is not stored yet) are
ignored too. The state applied is the provider's own account, fetched when an event arrives
(``webhooks.verification``): a forged ``account.updated`` cannot open the KYC gate. The
account's state is as of the provider's event time (``as_of``); the escrowd event a handler
writes is dated by escrowd's clock.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service
from escrowd.accounts.domain import is_stale
from escrowd.clock import Clock
from escrowd.logging import get_logger
from escrowd.providers.stripe import events as stripe_events
from escrowd.providers.types import ConnectedAccount, EventKind, ProviderEvent
from escrowd.webhooks.handlers import HandlerRegistry
from escrowd.webhooks.verification import MISSING, EventMismatch, VerificationRequired, truth

__all__ = ["on_account_deauthorized", "on_account_updated", "on_capability_updated", "register"]

log = get_logger(__name__)


async def on_account_updated(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if event.provider != stripe_events.PROVIDER or event.object_type != "account":
        return
    if event.object_id is None:
        return
    row = await service.find_by_provider_id(
        session, provider=event.provider, provider_account_id=event.object_id, lock=True
    )
    if row is None:
        log.info("account_event_unknown_account", event_id=event.id, account=event.object_id)
        return
    if is_stale(event.created, row.updated_at):
        log.info("account_event_stale", event_id=event.id, account=row.id)
        return
    # The KYC gate opens on this state: take it from the provider, not from the event.
    state = truth(event, "account", event.object_id, ConnectedAccount)
    await service.apply_provider_state(
        session,
        account=row,
        state=state,
        as_of=event.created,
        clock=clock,
    )


async def on_capability_updated(session: AsyncSession, event: ProviderEvent, clock: Clock) -> None:
    if event.provider != stripe_events.PROVIDER or event.object_type != "capability":
        return
    name, status = event.object_id, event.data.get("status")
    provider_account_id = event.account
    if not (name and isinstance(status, str) and provider_account_id):
        return
    row = await service.find_by_provider_id(
        session, provider=event.provider, provider_account_id=provider_account_id, lock=True
    )
    if row is None:
        log.info("account_event_unknown_account", event_id=event.id, account=provider_account_id)
        return
    if is_stale(event.created, row.updated_at):
        log.info("account_event_stale", event_id=event.id, account=row.id)
        return
    # The provider's whole account is at hand (fetched to check the event), so apply all of
    # it, as account.updated does: the two events about one change may arrive in either
    # order, and whichever comes first then records the change once (one account.updated of
    # escrowd's), the second finding nothing new.
    state = truth(event, "account", provider_account_id, ConnectedAccount)
    if name not in state.capabilities:
        state = replace(state, capabilities={**state.capabilities, name: "inactive"})
    await service.apply_provider_state(
        session, account=row, state=state, as_of=event.created, clock=clock
    )


async def on_account_deauthorized(
    session: AsyncSession, event: ProviderEvent, clock: Clock
) -> None:
    """The owner disconnected the account from the platform (Stripe:
    ``account.application.deauthorized``; the object is the platform's application, the
    event's ``account`` the account).

    A hint until the provider confirms it: the account must no longer be retrievable with the
    platform's key. If the provider still returns it as ours, the event is a lie (a mismatch:
    rejected, an incident opened) and nothing changes. Confirmed, the account is marked
    ``deauthorized_at`` (the KYC gate then refuses it: ``payee_account_deauthorized``); the
    flows that owe work to its owner react in their own sweeps.
    """
    if event.provider != stripe_events.PROVIDER or not event.account:
        return
    row = await service.find_by_provider_id(
        session, provider=event.provider, provider_account_id=event.account, lock=True
    )
    if row is None:
        log.info("account_event_unknown_account", event_id=event.id, account=event.account)
        return
    if row.deauthorized_at is not None:
        return
    found = event.verified.get(("account", event.account))
    if found is None:
        raise VerificationRequired("account", event.account)
    if found is not MISSING:
        raise EventMismatch(
            f"The event says account {event.account} disconnected from the platform, but the "
            "provider still returns it to the platform's key.",
            claimed={"type": event.provider_type, "account": event.account},
            provider={"id": event.account, "retrievable": True},
            recorded={"account": row.id, "deauthorized": None},
        )
    await service.mark_deauthorized(session, account=row, at=event.created, clock=clock)


def register(registry: HandlerRegistry) -> None:
    registry.register(EventKind.account_updated, on_account_updated)
    registry.register(EventKind.capability_updated, on_capability_updated)
    registry.register(EventKind.account_deauthorized, on_account_deauthorized)
