"""Payers at the provider: their customer, saving cards, the default card.

For the escrows service:

- ``ensure_customer(container, *, user)`` — the user's customer, created at the provider on
  first use; runs its own short transactions, so call it *before* opening a unit of work.
- ``get_or_create_customer(session, *, container, user)`` — the same on the caller's session.
  When the user has no customer yet it calls the provider while that session's transaction
  is open: fine on PostgreSQL, but on SQLite the in-process sandbox cannot write while the
  session holds the database (it would wait for SQLite's 30 s busy timeout), so there it
  raises RuntimeError instead: call ``ensure_customer`` first, then this only reads.
- ``default_payment_method(session, *, user_id)`` — the ``pm_…`` to charge when the payer
  names none, or None.

Removing a saved card (``detach_payment_method``) detaches it at the provider with the
idempotency key ``<usr_…>:detach:<pm_…>`` and forgets it here; when it was the default, the
most recently saved of the remaining cards becomes the default (none left: no default).

The provider's customer is created with the idempotency key ``<usr_…>:customer``: a retry, or
two racing first uses, get the same customer back instead of a second one (the provider
answers the later of two racing requests "key in use"; it is retried after a short wait).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlencode

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from escrowd.accounts.service import call_provider, provider_of
from escrowd.bootstrap import Container
from escrowd.config import SANDBOX_PREFIX, ProviderMode
from escrowd.customers.models import Customer, PaymentMethod
from escrowd.errors import CardError, InvalidRequestError, NotFoundError
from escrowd.providers.base import Capability, PaymentProvider
from escrowd.providers.errors import ProviderError
from escrowd.providers.types import Customer as ProviderCustomer
from escrowd.providers.types import CustomerRequest, SetupIntent
from escrowd.users.models import User

__all__ = [
    "SANDBOX_CARD_FORM_PATH",
    "SetupStarted",
    "attach_payment_method",
    "default_payment_method",
    "detach_payment_method",
    "ensure_customer",
    "find_customer",
    "finish_setup",
    "get_or_create_customer",
    "list_query",
    "set_default_payment_method",
    "start_setup",
]

#: The sandbox's hosted card form, under escrowd's public address (docs/sandbox.md).
SANDBOX_CARD_FORM_PATH = f"{SANDBOX_PREFIX}/checkout/card-form"


def customer_key(user_id: str) -> str:
    """The idempotency key of the user's customer at the provider."""
    return f"{user_id}:customer"


_CUSTOMER: Final = select(Customer).where(
    Customer.user_id == bindparam("user_id"), Customer.provider == bindparam("provider")
)
#: ``find_customer``'s two reads, built once (every funding reads the payer's customer).
_FIND_CUSTOMER: Final = {False: _CUSTOMER, True: _CUSTOMER.with_for_update()}


async def find_customer(
    session: AsyncSession, *, user_id: str, provider: str = "stripe", lock: bool = False
) -> Customer | None:
    params = {"user_id": user_id, "provider": provider}
    return (await session.scalars(_FIND_CUSTOMER[lock], params)).one_or_none()


async def default_payment_method(
    session: AsyncSession, *, user_id: str, provider: str = "stripe"
) -> str | None:
    """The payment method escrows charge when the payer names none (None: no card saved)."""
    row = await find_customer(session, user_id=user_id, provider=provider)
    return row.default_payment_method if row is not None else None


#: Waits before retrying a customer creation the provider answered "busy" (for example the
#: same key still in flight for a concurrent first use): the same key, so the same customer.
CREATE_RETRY_DELAYS = (0.05, 0.2, 0.5)


async def _create_at_provider(provider: PaymentProvider, user: User) -> ProviderCustomer:
    request = CustomerRequest(
        idempotency_key=customer_key(user.id),
        email=user.email,
        name=user.name,
        metadata={"escrowd_user": user.id},
    )
    for delay in (*CREATE_RETRY_DELAYS, None):
        try:
            return await provider.create_customer(request)
        except ProviderError as exc:
            if not exc.retryable or delay is None:
                raise exc.to_api_error() from exc
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def _store(
    session: AsyncSession, *, user_id: str, provider: str, made: ProviderCustomer, now: datetime
) -> Customer:
    row = Customer(
        user_id=user_id,
        provider=provider,
        provider_customer_id=made.id,
        default_payment_method=made.default_payment_method,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # A concurrent first use stored it (with the same provider customer: same key).
        existing = await find_customer(session, user_id=user_id, provider=provider)
        if existing is None:
            raise
        return existing
    return row


async def get_or_create_customer(
    session: AsyncSession, *, container: Container, user: User
) -> Customer:
    """The user's customer on ``session``; created at the provider on first use (see above)."""
    provider = provider_of(container, Capability.payments)
    row = await find_customer(session, user_id=user.id, provider=provider.name)
    if row is not None:
        return row
    if container.db.dialect == "sqlite" and container.settings.provider is ProviderMode.sandbox:
        # The sandbox would wait for this session's write lock until SQLite's busy timeout.
        raise RuntimeError(
            f"{user.id} has no customer yet, and creating one calls the in-process sandbox, "
            "which cannot write to SQLite while this session's transaction is open: call "
            "ensure_customer(container, user=...) before opening the unit of work."
        )
    made = await _create_at_provider(provider, user)
    return await _store(
        session, user_id=user.id, provider=provider.name, made=made, now=container.clock.now()
    )


async def existing_customer(
    container: Container, session: AsyncSession, *, user_id: str
) -> Customer | None:
    """The user's customer at the configured provider if made already (what
    ``ensure_customer`` returns without a provider call), read in the caller's transaction."""
    provider = provider_of(container, Capability.payments)
    return await find_customer(session, user_id=user_id, provider=provider.name)


async def ensure_customer(container: Container, *, user: User) -> Customer:
    """The user's customer, created at the provider on first use; own transactions."""
    provider = provider_of(container, Capability.payments)
    async with container.db.transaction() as s:
        row = await find_customer(s, user_id=user.id, provider=provider.name)
    if row is not None:
        return row
    made = await _create_at_provider(provider, user)
    async with container.db.transaction() as s:
        return await _store(
            s, user_id=user.id, provider=provider.name, made=made, now=container.clock.now()
        )


# ---- saving cards ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupStarted:
    customer: Customer
    setup_intent: SetupIntent
    #: The sandbox's hosted card form, in sandbox mode; None against the real provider.
    card_form_url: str | None


async def start_setup(
    container: Container, *, user: User, return_url: str | None = None, state: str | None = None
) -> SetupStarted:
    """A SetupIntent for the payer's browser (Stripe.js) and, in sandbox mode, the card form.

    No card number ever reaches escrowd: Stripe.js (or the sandbox's own test form) sends it
    to the provider, which answers with a ``pm_…`` to attach.
    """
    provider = provider_of(container, Capability.payments)
    customer = await ensure_customer(container, user=user)
    intent = await call_provider(
        provider.create_setup_intent(
            customer=customer.provider_customer_id,
            # Nothing moves money here; a new intent per request (the API's own
            # Idempotency-Key replays a retried request before it gets this far).
            idempotency_key=f"{user.id}:setup:{ULID()}",
        )
    )
    form_url = None
    if container.settings.provider is ProviderMode.sandbox:
        query = {k: v for k, v in (("return_url", return_url), ("state", state)) if v}
        base = container.settings.sandbox_public_url + SANDBOX_CARD_FORM_PATH
        form_url = f"{base}?{urlencode(query)}" if query else base
    return SetupStarted(customer=customer, setup_intent=intent, card_form_url=form_url)


async def attach_payment_method(
    container: Container, *, user: User, payment_method: str, make_default: bool = False
) -> tuple[PaymentMethod, Customer]:
    """Attach a ``pm_…`` to the user's customer and remember it (brand, last 4, expiry).

    The first card saved becomes the default, as does one attached with ``make_default``.
    Declining test cards are refused by the provider (402), cards of another customer too
    (400); nothing is stored then. Attaching the same card again is harmless.
    """
    provider = provider_of(container, Capability.payments)
    async with container.db.transaction() as s:
        known = await s.get(PaymentMethod, payment_method)
    if known is not None and known.user_id != user.id:
        raise _not_yours(payment_method)  # before anything is written, for the caller too
    customer = await ensure_customer(container, user=user)
    try:
        attached = await provider.attach_payment_method(
            payment_method=payment_method, customer=customer.provider_customer_id
        )
    except ProviderError as exc:
        if exc.code == "payment_method_unexpected_state" and "customer" in str(exc):
            # Stripe names the other customer; a card saved elsewhere is just not yours.
            raise _not_yours(payment_method) from exc
        raise exc.to_api_error() from exc
    becomes_default = make_default or customer.default_payment_method is None
    if becomes_default:
        await call_provider(
            provider.set_default_payment_method(
                customer=customer.provider_customer_id, payment_method=attached.id
            )
        )
    now = container.clock.now()
    async with container.db.transaction() as s:
        row = await s.get(PaymentMethod, attached.id)
        if row is None:
            row = PaymentMethod(id=attached.id, user_id=user.id, created_at=now)
            s.add(row)
        row.provider = provider.name
        row.provider_customer_id = customer.provider_customer_id
        row.type = attached.type
        row.brand = attached.card_brand
        row.last4 = attached.card_last4
        row.exp_month = attached.card_exp_month
        row.exp_year = attached.card_exp_year
        stored = await find_customer(s, user_id=user.id, provider=provider.name, lock=True)
        assert stored is not None
        if becomes_default:
            stored.default_payment_method = attached.id
            stored.updated_at = now
        await s.flush()
        return row, stored


async def finish_setup(
    container: Container, *, user: User, setup_intent: str
) -> tuple[PaymentMethod, Customer]:
    """Save the card a browser confirmed with Stripe.js (``confirmSetup``): the SetupIntent is
    read from the provider, never taken from what the browser brings back. Saved as
    :func:`attach_payment_method` saves one when it succeeded and belongs to the user's
    customer; otherwise refused with the provider's own reason (a decline, 3-D Secure not
    completed), nothing saved. Another customer's SetupIntent is a 404.
    """
    provider = provider_of(container, Capability.payments)
    async with container.db.transaction() as s:
        customer = await find_customer(s, user_id=user.id, provider=provider.name)
    missing = NotFoundError(f"No such setup: '{setup_intent}'.", param="setup_intent")
    if customer is None or not setup_intent.startswith("seti_"):
        raise missing
    try:
        intent = await provider.retrieve_setup_intent(setup_intent)
    except ProviderError as exc:
        if exc.code == "resource_missing":
            raise missing from exc
        raise exc.to_api_error() from exc
    if intent.customer != customer.provider_customer_id:
        raise missing
    if intent.status == "succeeded" and intent.payment_method:
        return await attach_payment_method(
            container, user=user, payment_method=intent.payment_method
        )
    if intent.last_error is not None:
        raise CardError(
            intent.last_error.message,
            code=intent.last_error.decline_code or intent.last_error.code or "card_declined",
        )
    if intent.status == "requires_action":
        raise InvalidRequestError(
            "Your bank has not confirmed the card yet (3-D Secure): add it again and "
            "complete the check.",
            code="setup_intent_authentication_required",
        )
    if intent.status == "processing":
        raise InvalidRequestError(
            "The provider is still checking the card: look again in a moment.",
            code="setup_intent_processing",
            status=409,
        )
    raise InvalidRequestError(
        "No card was saved: add a card again.", code="setup_intent_unexpected_state"
    )


def _not_yours(payment_method: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"No such payment method: '{payment_method}'. Save a card of your own with "
        "POST /v1/customers/me/setup first.",
        code="resource_missing",
        param="payment_method",
    )


async def set_default_payment_method(
    container: Container, *, user: User, payment_method: str
) -> Customer:
    """Make one of the user's saved payment methods the default."""
    provider = provider_of(container, Capability.payments)
    _, customer = await _own_card(
        container,
        provider.name,
        user,
        payment_method,
        param="default_payment_method",
        hint="Save it first with POST /v1/payment_methods/attach.",
    )
    await call_provider(
        provider.set_default_payment_method(
            customer=customer.provider_customer_id, payment_method=payment_method
        )
    )
    async with container.db.transaction() as s:
        stored = await find_customer(s, user_id=user.id, provider=provider.name, lock=True)
        assert stored is not None
        stored.default_payment_method = payment_method
        stored.updated_at = container.clock.now()
        return stored


async def _own_card(
    container: Container, provider: str, user: User, payment_method: str, *, param: str, hint: str
) -> tuple[PaymentMethod, Customer]:
    """The user's own saved card and customer, or a 404 (another user's card looks absent)."""
    async with container.db.transaction() as s:
        row = await s.get(PaymentMethod, payment_method)
        customer = await find_customer(s, user_id=user.id, provider=provider)
    if row is None or row.user_id != user.id or customer is None:
        raise NotFoundError(f"No such payment method: '{payment_method}'. {hint}", param=param)
    return row, customer


def detach_key(user_id: str, payment_method: str) -> str:
    """The idempotency key of removing the card at the provider: the same removal sent again
    (a double click, a retry after a crash) gets the provider's first answer back."""
    return f"{user_id}:detach:{payment_method}"


async def detach_payment_method(
    container: Container, *, user: User, payment_method: str
) -> tuple[PaymentMethod, Customer]:
    """Remove one of the user's saved cards: detached from their customer at the provider,
    then forgotten here (escrows no longer offer it). Another user's card, or one not saved,
    is a 404 that changes nothing.

    Removing the default card makes the most recently saved of the remaining cards the
    default, at the provider too (Stripe itself would leave the customer without one); with
    no card left there is no default. Answers the removed card (as it was) and the customer.
    """
    provider = provider_of(container, Capability.payments)
    row, customer = await _own_card(
        container,
        provider.name,
        user,
        payment_method,
        param="payment_method",
        hint="GET /v1/payment_methods lists the cards you saved.",
    )
    try:
        await provider.detach_payment_method(
            payment_method=payment_method, idempotency_key=detach_key(user.id, payment_method)
        )
    except ProviderError as exc:
        # Not attached any more: an earlier removal reached the provider (past the key's
        # lifetime) but not this table. Forgetting it here finishes that removal.
        if exc.code != "payment_method_unexpected_state":
            raise exc.to_api_error() from exc
    successor = None
    if customer.default_payment_method == payment_method:
        successor = await _newest_other(container, user.id, provider.name, payment_method)
        if successor is not None:
            await call_provider(
                provider.set_default_payment_method(
                    customer=customer.provider_customer_id, payment_method=successor
                )
            )
    async with container.db.transaction() as s:
        gone = await s.get(PaymentMethod, payment_method)
        if gone is not None:
            await s.delete(gone)
        stored = await find_customer(s, user_id=user.id, provider=provider.name, lock=True)
        assert stored is not None
        if stored.default_payment_method == payment_method:
            stored.default_payment_method = successor
            stored.updated_at = container.clock.now()
        await s.flush()
        return row, stored


async def _newest_other(
    container: Container, user_id: str, provider: str, payment_method: str
) -> str | None:
    """The user's most recently saved card other than ``payment_method``, if any."""
    async with container.db.transaction() as s:
        stmt = (
            list_query(user_id=user_id)
            .where(PaymentMethod.provider == provider, PaymentMethod.id != payment_method)
            .order_by(PaymentMethod.created_at.desc(), PaymentMethod.id.desc())
            .limit(1)
        )
        newest = (await s.scalars(stmt)).first()
    return newest.id if newest is not None else None


def list_query(*, user_id: str) -> Select[PaymentMethod]:
    """The user's saved payment methods (paginated by id)."""
    return select(PaymentMethod).where(PaymentMethod.user_id == user_id)
