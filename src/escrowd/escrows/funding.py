"""Fund, capture and cancel: the payment phase of an escrow.

Fund and capture call the provider **inside the use case** (operations.py: record, call,
settle): the payer is waiting for the answer — a decline (402), 3-D Secure (the escrow becomes
``requires_action`` with the page to open), or the money held. Cancel changes the escrow at
once and **defers** voiding the authorization to an outbox job (``escrow.void_payment``)
committed with it: nothing the caller waits for depends on the provider's answer, and the job
retries until the provider confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.config import ProviderMode
from escrowd.customers import service as customers
from escrowd.customers.models import Customer
from escrowd.errors import CardError, InvalidRequestError, PermissionDeniedError
from escrowd.escrows import operations, store
from escrowd.escrows.book import Book
from escrowd.escrows.models import Escrow, Operation, OpKind
from escrowd.escrows.operations import Outcome, Settling
from escrowd.escrows.payments import SYNC_JOB, Unit, apply_payment, close
from escrowd.escrows.schemas import escrow_json
from escrowd.escrows.states import Action, State, apply_event, transition
from escrowd.events import EventType
from escrowd.jobs import enqueue
from escrowd.logging import get_logger
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal.events import PROVIDER as PAYPAL
from escrowd.providers.types import (
    CaptureRequest,
    Payment,
    PaymentError,
    PaymentRequest,
    PaymentStatus,
)
from escrowd.users.models import User

log = get_logger(__name__)


def _card_form_url(container: Container, escrow_id: str, return_url: str) -> str:
    base = container.settings.sandbox_public_url + customers.SANDBOX_CARD_FORM_PATH
    return f"{base}?{urlencode({'return_url': return_url, 'state': escrow_id})}"


async def fund(
    container: Container,
    *,
    escrow_id: str,
    actor: Principal | None,
    payment_method: str | None = None,
    return_url: str | None = None,
) -> dict[str, Any]:
    """Charge (capture mode) or authorize (authorize mode) the payer's card.

    ``payment_method``: a ``pm_…`` (one of the payer's saved cards, or a fresh one); omitted,
    the payer's default card. ``return_url`` without a payment method sends the payer to the
    hosted card form (sandbox), which comes back to ``return_url?payment_method=pm_…&state=``
    the escrow's id — then fund again with that payment method. With a payment method,
    ``return_url`` is where 3-D Secure returns to.
    """
    now = container.clock.now()
    first: Operation | dict[str, Any] | None = None
    payer: User | None = None
    # One transaction when the payer's customer exists (every fund after the first): the
    # escrow is locked, its caller's right to act on it checked (before anything else is read
    # or said of it, and before any provider call) and the operation recorded together.
    async with container.db.transaction() as s:
        book = await store.book_of(s, escrow_id, lock=True)
        e = book.escrow
        await store.check_write(s, actor, e)
        provider = container.provider_named(e.provider)
        if provider.name == PAYPAL:
            if payment_method is not None:
                raise InvalidRequestError(
                    "A PayPal escrow takes no payment_method: the payer chooses how to pay on "
                    "PayPal's approval page (next_action.url).",
                    code="payment_method_unsupported",
                    param="payment_method",
                )
            first = _paypal_fund_op(s, book, now, return_url)
        else:
            # The payer acting (the usual case) was read already to authenticate the call.
            payer = (
                actor.user
                if actor is not None and actor.user is not None and actor.user.id == e.payer_id
                else await s.get(User, e.payer_id)
            )
            if payer is None:  # pragma: no cover - payers are never deleted while escrows exist
                raise store.not_found(escrow_id)
            transition(e.status, Action.fund, context=book.context())
            store.check_idle(book, what="fund it")
            customer = await customers.existing_customer(container, s, user_id=payer.id)
            if customer is not None:
                first = await _card_fund(
                    container, s, book, payer, customer, now, payment_method, return_url
                )
    if first is None:
        # The payer's first payment: their customer is made at the provider first, outside
        # any transaction, then the escrow is locked again and looked at afresh.
        assert payer is not None  # a PayPal escrow has its operation already
        customer = await customers.ensure_customer(container, user=payer)
        async with container.db.transaction() as s:
            book = await store.book_of(s, escrow_id, lock=True)
            transition(book.escrow.status, Action.fund, context=book.context())
            store.check_idle(book, what="fund it")
            first = await _card_fund(
                container, s, book, payer, customer, now, payment_method, return_url
            )
    if isinstance(first, dict):
        return first  # the hosted card form's page to open: no provider call yet
    return (await operations.run(container, escrow_id, FUND, [first])).answer()


async def _card_fund(
    container: Container,
    s: AsyncSession,
    book: Book,
    payer: User,
    customer: Customer,
    now: datetime,
    payment_method: str | None,
    return_url: str | None,
) -> Operation | dict[str, Any]:
    """The card payment's operation, recorded on the locked escrow (its state checked), or
    the hosted card form's answer when the payer names no card but a page to come back to."""
    e = book.escrow
    if payment_method is None and return_url is not None:
        return await _hosted_card_form(container, Unit(s, container.clock), book, return_url)
    method = payment_method or await customers.default_payment_method(s, user_id=payer.id)
    if method is None:
        raise InvalidRequestError(
            f"The payer {payer.id} has no saved card: pass payment_method (a pm_…), save "
            "a card first (POST /v1/payment_methods/attach), or pass return_url to send "
            "the payer to the hosted card form.",
            code="payment_method_required",
            param="payment_method",
        )
    e.payment_attempts += 1
    e.provider = e.provider or container.provider_named(e.provider).name
    e.customer_id = customer.provider_customer_id
    return _fund_op(
        s,
        e,
        now,
        payment_id=e.payment_id,
        payment_method=method,
        return_url=return_url,
        customer=customer.provider_customer_id,
    )


def _paypal_fund_op(
    s: AsyncSession, book: Book, now: datetime, return_url: str | None
) -> Operation:
    """The first call creates the PayPal order (the escrow waits in ``requires_action`` for
    the payer to approve it); a call after the payer approved authorizes (authorize mode) or
    captures it. An order the payer has not approved yet is refused by PayPal
    (``order_not_approved``) and the escrow stays as it was."""
    e = book.escrow
    transition(e.status, Action.fund, context=book.context())
    store.check_idle(book, what="fund it")
    e.payment_attempts += 1
    return _fund_op(
        s,
        e,
        now,
        # Only an order still waiting for its payer is confirmed; after a decline the
        # escrow is back in requires_payment and a new order is made.
        payment_id=e.payment_id if e.status == State.requires_action else None,
        return_url=return_url,
    )


def _fund_op(s: AsyncSession, e: Escrow, now: datetime, **first: str | None) -> Operation:
    """The escrow's next fund operation (its attempt counted already): the provider call's
    ``first`` parameters, then the ones every provider's payment takes."""
    params: dict[str, Any] = {
        **first,
        "currency": e.currency,
        "capture_method": "manual" if e.capture_mode == "authorize" else "automatic",
        "transfer_group": e.id,
        "description": e.description,
    }
    return operations.new_op(
        s,
        escrow=e,
        kind=OpKind.fund,
        key=f"{e.id}:fund:{e.payment_attempts}",
        amount=e.charged,
        provider_amount=e.charged,
        params=params,
        now=now,
    )


async def _hosted_card_form(
    container: Container, unit: Unit, book: Book, return_url: str
) -> dict[str, Any]:
    if container.settings.provider is not ProviderMode.sandbox:
        raise InvalidRequestError(
            "The hosted card form exists in sandbox mode only: with Stripe, collect the card "
            "with Stripe.js or Checkout and fund with its payment_method.",
            code="hosted_card_form_unavailable",
            param="return_url",
        )
    e = book.escrow
    new = transition(e.status, Action.require_action, context=book.context())
    e.status = new.value
    e.next_action_url = _card_form_url(container, e.id, return_url)
    store.touch(e, unit.clock)
    await store.emit(
        unit.session, clock=unit.clock, type=EventType.escrow_requires_action, book=book
    )
    return escrow_json(book, book.open_ops)


# --- paying in the browser with Stripe.js (the real Stripe) -----------------------------------


@dataclass(frozen=True, slots=True)
class BrowserPayment:
    """The escrow's PaymentIntent as Stripe.js needs it, read from the provider."""

    payment_id: str
    client_secret: str
    status: PaymentStatus
    #: The last attempt's failure (a decline, 3-D Secure refused), as the provider says it.
    last_error: PaymentError | None


#: PaymentIntent statuses a browser may still confirm (again, after a decline).
CONFIRMABLE = frozenset(
    {
        PaymentStatus.requires_payment_method,
        PaymentStatus.requires_confirmation,
        PaymentStatus.requires_action,
    }
)


async def browser_payment(
    container: Container, *, escrow_id: str, actor: Principal
) -> BrowserPayment | None:
    """The escrow's PaymentIntent for Stripe.js's Payment Element in its payer's browser,
    made unconfirmed on first use (recorded as a fund operation with its own key,
    ``esc_…:intent:<n>``); afterwards the same one, which the browser confirms again after a
    decline. None when it cannot be confirmed any more (paid, being processed).

    Its client secret lets a browser pay it: only the escrow's payer gets it (others 403, or
    404 when they may not see the escrow).
    """
    async with container.db.transaction() as s:
        escrow = await store.load(s, escrow_id)
        await store.check_write(s, actor, escrow)
        payer = await s.get(User, escrow.payer_id)
    if actor.user_id is None or actor.user_id != escrow.payer_id or payer is None:
        raise PermissionDeniedError(
            f"Only the payer of escrow {escrow_id} pays it in the browser.", code="payer_required"
        )
    provider = container.provider_named(escrow.provider)
    if provider.name == PAYPAL:
        raise InvalidRequestError(
            "A PayPal escrow is paid on PayPal's approval page, not with Stripe.js.",
            code="payment_method_unsupported",
        )
    payment_id = escrow.payment_id
    if payment_id is None:
        payment_id = await _new_intent(container, escrow_id, payer, provider.name)
    try:
        payment = await provider.retrieve_payment(payment_id)
    except ProviderError as exc:
        raise exc.to_api_error() from exc
    if payment.status not in CONFIRMABLE or payment.client_secret is None:
        return None
    return BrowserPayment(payment.id, payment.client_secret, payment.status, payment.last_error)


async def _new_intent(container: Container, escrow_id: str, payer: User, provider: str) -> str:
    customer = await customers.ensure_customer(container, user=payer)
    async with container.db.transaction() as s:
        book = await store.book_of(s, escrow_id, lock=True)
        e = book.escrow
        transition(e.status, Action.fund, context=book.context())
        store.check_idle(book, what="pay it")
        if e.payment_id is not None:  # made meanwhile by another page
            return e.payment_id
        made = await s.scalar(
            select(func.count()).where(
                Operation.escrow_id == e.id, Operation.key.like(f"{e.id}:intent:%")
            )
        )
        e.provider = e.provider or provider
        e.customer_id = customer.provider_customer_id
        op = operations.new_op(
            s,
            escrow=e,
            kind=OpKind.fund,
            key=f"{e.id}:intent:{(made or 0) + 1}",
            amount=e.charged,
            provider_amount=e.charged,
            params={
                "customer": customer.provider_customer_id,
                "confirm": False,
                "currency": e.currency,
                "capture_method": "manual" if e.capture_mode == "authorize" else "automatic",
                "transfer_group": e.id,
                "description": e.description,
            },
            now=container.clock.now(),
        )
    settled = await operations.run(container, escrow_id, FUND, [op])
    settled.answer()  # the provider's refusal, if any
    payment_id = settled.book.escrow.payment_id
    assert payment_id is not None  # settling adopts the intent made
    return payment_id


async def read_back(container: Container, escrow_id: str) -> None:
    """Apply what the provider says of the escrow's payment now (its own PaymentIntent, read
    from it): the return from Stripe.js's confirmation, the sync job. Nothing the browser
    brings back is trusted; a payment already applied changes nothing."""
    async with container.db.transaction() as s:
        e = await store.load(s, escrow_id)
        payment_id, name = e.payment_id, e.provider
    if payment_id is None:
        return
    provider = container.provider_named(name)
    payment = await provider.retrieve_payment(payment_id)  # ProviderError: the caller's call
    fee = await charge_fee(provider, payment)
    async with container.db.transaction() as s:
        book = await store.book_of(s, escrow_id, lock=True)
        await apply_payment(Unit(s, container.clock), book, payment, fee=fee)


async def capture(
    container: Container, *, escrow_id: str, actor: Principal | None
) -> dict[str, Any]:
    """Capture an authorized escrow's whole authorization: it becomes ``held``."""
    async with operations.recording(container, escrow_id, actor) as (s, book):
        e = book.escrow
        transition(e.status, Action.capture, context=book.context())
        store.check_idle(book, what="capture it")
        op = operations.new_op(
            s,
            escrow=e,
            kind=OpKind.capture,
            key=await operations.next_key(s, e.id, OpKind.capture),
            amount=e.charged,
            provider_amount=e.charged,
            params={"payment_id": e.payment_id},
            now=container.clock.now(),
        )
    return (await operations.run(container, escrow_id, CAPTURE, [op])).answer()


async def cancel(
    container: Container,
    *,
    escrow_id: str,
    actor: Principal | None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Call the escrow off before money is held; an authorization is voided by a job."""
    async with operations.recording(container, escrow_id, actor) as (s, book):
        transition(book.escrow.status, Action.cancel, context=book.context())
        store.check_idle(book, what="cancel it")
        await close(Unit(s, container.clock), book, Action.cancel, reason=reason)
        return escrow_json(book, book.open_ops)


# --- the provider calls and settling of the fund and capture operations ----------------------


async def call_payment(provider: PaymentProvider, op: Operation) -> Outcome:
    """Step 2 of fund and capture, with the operation's key as the idempotency key: create and
    confirm the PaymentIntent (or confirm the escrow's earlier one), or capture it."""
    p = op.params
    payment: Payment
    if op.kind == OpKind.capture.value:
        payment = await provider.capture_payment(
            CaptureRequest(idempotency_key=op.key, payment_id=p["payment_id"])
        )
    elif p.get("payment_id"):
        payment = await provider.confirm_payment(
            payment_id=p["payment_id"],
            idempotency_key=op.key,
            payment_method=p.get("payment_method"),
            return_url=p.get("return_url"),
        )
    else:
        payment = await provider.create_payment(
            PaymentRequest(
                idempotency_key=op.key,
                amount=op.provider_amount,
                currency=p["currency"],
                capture_method=p["capture_method"],
                customer=p.get("customer"),
                payment_method=p.get("payment_method"),
                # False: the escrow's PaymentIntent for Stripe.js, confirmed in the browser.
                confirm=p.get("confirm", True),
                return_url=p.get("return_url"),
                description=p.get("description"),
                transfer_group=p["transfer_group"],
                metadata={"escrow_id": op.escrow_id},
            )
        )
    return Outcome(result=payment, fee=await charge_fee(provider, payment))


async def charge_fee(provider: PaymentProvider, payment: Payment) -> int | None:
    """The provider's fee on a captured payment's charge; None when it cannot be read now."""
    if payment.status is not PaymentStatus.succeeded or not payment.latest_charge:
        return None
    if payment.fee is not None:
        return payment.fee  # came with the payment: no second call
    try:
        return (await provider.retrieve_charge(payment.latest_charge)).fee
    except ProviderError as exc:
        if exc.code == "unsupported_by_provider":
            # PayPal: its fee is not mapped (docs/providers.md); expected, not a warning.
            log.info("escrow_charge_fee_not_mapped", payment=payment.id, error=str(exc))
        else:
            log.warning("escrow_charge_fee_unavailable", payment=payment.id, error=str(exc))
        return None


async def settle_payment(ctx: Settling, op: Operation, outcome: Outcome) -> None:
    assert isinstance(outcome.result, Payment)
    await apply_payment(ctx.unit(), ctx.book, outcome.result, fee=outcome.fee, adopt=True)


async def fail_fund(ctx: Settling, op: Operation, exc: ProviderError) -> None:
    if exc.kind is not ProviderErrorKind.card:
        return  # refused before anything happened (a bad parameter): nothing to record
    e = ctx.book.escrow
    new = apply_event(e.status, Action.payment_failed, context=ctx.book.context())
    if new is None:
        return
    e.status = new.value
    e.next_action_url = None
    e.last_payment_error = {
        "code": exc.code,
        "decline_code": exc.decline_code,
        "message": exc.message,
    }
    ctx.later(EventType.payment_failed)


async def fail_capture(ctx: Settling, op: Operation, exc: ProviderError) -> None:
    e = ctx.book.escrow
    if exc.code == "charge_expired_for_capture":
        # The authorization ran out before the capture arrived: the escrow expires.
        if e.status == State.authorized:
            await close(ctx.unit(), ctx.book, Action.expire, via_event=True)
        return
    # Anything else (the payment moved on at the provider meanwhile): ask the provider.
    await enqueue(
        ctx.session,
        clock=ctx.clock,
        kind=SYNC_JOB,
        payload={"escrow_id": e.id},
        dedupe_key=f"{SYNC_JOB}:{e.id}:{op.key}",
    )


#: Funding: create and confirm the payment; a card decline moves the escrow to payment_failed.
FUND = operations.Verb(call=call_payment, settle=settle_payment, fail=fail_fund)
#: Capturing an authorization; an expired one expires the escrow, anything else is re-read.
CAPTURE = operations.Verb(call=call_payment, settle=settle_payment, fail=fail_capture)

__all__ = [
    "CAPTURE",
    "CONFIRMABLE",
    "FUND",
    "BrowserPayment",
    "CardError",
    "browser_payment",
    "call_payment",
    "cancel",
    "capture",
    "charge_fee",
    "fail_capture",
    "fail_fund",
    "fund",
    "read_back",
    "settle_payment",
]
