"""What happens to a PaymentIntent's money: authorize, 3-D Secure, decline, capture, release.

Shared by the PaymentIntent endpoints, the hosted 3-D Secure page, subscription invoices and
the clock (authorization expiry). Statuses and events follow Stripe:
- success, manual capture → ``requires_capture`` (charge.succeeded,
  payment_intent.amount_capturable_updated); automatic → ``succeeded`` (charge.succeeded,
  payment_intent.succeeded);
- 3-D Secure → ``requires_action`` with a redirect to the hosted page
  (payment_intent.requires_action);
- decline → ``requires_payment_method`` with ``last_payment_error``, a failed charge, a 402
  (charge.failed, payment_intent.payment_failed).
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe import cards
from escrowd.sandbox.stripe.cards import Decline, TestCard
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import CardError, attempt_error
from escrowd.sandbox.stripe.ids import token
from escrowd.sandbox.stripe.resources import balance, charges
from escrowd.sandbox.stripe.resources.payment_methods import card_of
from escrowd.sandbox.stripe.store import Obj as Doc

AUTH_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def needs_authentication(card: TestCard, pm: Doc) -> bool:
    if card.three_ds == "always":
        return True
    return card.three_ds == "on_setup" and not pm.private.get("set_up")


async def pay(ctx: Ctx, pi: Doc, pm: Doc, *, off_session: bool = False) -> None:
    """Confirm ``pi`` with ``pm``: authorize, ask for 3-D Secure, or decline (raises 402)."""
    card = card_of(pm)
    pi.data["payment_method"] = pm.id
    try:
        if needs_authentication(card, pm):
            if off_session:
                raise decline(ctx, pi, pm, cards.AUTH_REQUIRED, charge=False)
            _require_action(ctx, pi, pm)
            return
        await authorize(ctx, pi, pm, card)
    except CardError:
        if pi.data.get("invoice"):
            from escrowd.sandbox.stripe.resources import invoices

            await invoices.failed(ctx, pi)
        raise


def _require_action(ctx: Ctx, pi: Doc, pm: Doc) -> None:
    previous = {"status": pi.data["status"], "next_action": pi.data["next_action"]}
    secret = token(20)
    pi.private["auth"] = {"token": secret, "pm": pm.id}
    pi.data["status"] = "requires_action"
    pi.data["next_action"] = {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "return_url": pi.private.get("return_url"),
            "url": f"{ctx.base_url}/3ds/{pi.id}?token={secret}",
        },
    }
    ctx.store.save(pi)
    ctx.emit("payment_intent.requires_action", pi, previous=previous)


async def authorize(
    ctx: Ctx, pi: Doc, pm: Doc, card: TestCard, *, authenticated: bool = False
) -> None:
    if card.decline is not None:
        raise decline(ctx, pi, pm, card.decline)
    ch = charges.build(ctx, pi, pm, card, three_d_secure=authenticated)
    d = pi.data
    previous = {"status": d["status"], "amount_capturable": d["amount_capturable"]}
    d.update(
        latest_charge=ch.id,
        payment_method=pm.id,
        next_action=None,
        last_payment_error=None,
    )
    pi.private.pop("auth", None)
    _remember_card(ctx, pi, pm)
    if d["capture_method"] == "manual":
        d["status"] = "requires_capture"
        d["amount_capturable"] = d["amount"]
        pi.due_at = ch.data["payment_method_details"]["card"]["capture_before"]
        ctx.store.save(pi)
        ctx.emit("charge.succeeded", ch)
        ctx.emit("payment_intent.amount_capturable_updated", pi, previous=previous)
        return
    await capture(ctx, pi, ch, d["amount"], automatic=True)


def _remember_card(ctx: Ctx, pi: Doc, pm: Doc) -> None:
    """setup_future_usage saves the card on the customer; else an unattached card is spent."""
    customer = pi.data["customer"]
    if pi.data.get("setup_future_usage") and customer:
        pm.private["set_up"] = True
        if pm.data["customer"] is None:
            pm.data["customer"] = customer
            pm.parent = customer
            ctx.emit("payment_method.attached", pm, previous={"customer": None})
    elif pm.data["customer"] is None:
        pm.private["consumed"] = True
    ctx.store.save(pm)


def decline(ctx: Ctx, pi: Doc, pm: Doc, reason: Decline, *, charge: bool = True) -> CardError:
    """Record a declined attempt on ``pi`` and return the 402 to raise (state is kept)."""
    ch = None
    if charge:
        ch = charges.build(ctx, pi, pm, card_of(pm), decline=reason)
        ctx.emit("charge.failed", ch)
    d = pi.data
    previous = {"status": d["status"], "last_payment_error": d["last_payment_error"]}
    error = reason.attempt_error(pm.data)
    if reason.param:
        error["param"] = reason.param
    if ch is not None:
        error["charge"] = ch.id
        d["latest_charge"] = ch.id
    d.update(
        status="requires_payment_method",
        last_payment_error=error,
        payment_method=None,
        next_action=None,
    )
    pi.private.pop("auth", None)
    ctx.store.save(pi)
    ctx.emit("payment_intent.payment_failed", pi, previous=previous)
    extra: dict[str, Any] = {"payment_intent": d, "payment_method": pm.data}
    if ch is not None:
        extra["charge"] = ch.id
    return reason.error(**extra)


def fail_authentication(ctx: Ctx, pi: Doc, pm: Doc) -> None:
    d = pi.data
    previous = {"status": d["status"], "last_payment_error": d["last_payment_error"]}
    d.update(
        status="requires_payment_method",
        next_action=None,
        payment_method=None,
        last_payment_error=attempt_error(
            "invalid_request_error",
            "payment_intent_authentication_failure",
            AUTH_FAILED_MESSAGE,
            pm.data,
        ),
    )
    pi.private.pop("auth", None)
    ctx.store.save(pi)
    ctx.emit("payment_intent.payment_failed", pi, previous=previous)


async def capture(ctx: Ctx, pi: Doc, ch: Doc, amount: int, *, automatic: bool = False) -> None:
    """Capture ``amount`` of ``ch``; the rest of the authorization is released."""
    from escrowd.sandbox.stripe.resources import destination, disputes, invoices

    c, d = ch.data, pi.data
    released = c["amount"] - amount
    card = cards.CARDS[ch.private["card"]]
    fee = balance.card_fee(amount)
    txn = balance.record(
        ctx,
        account=ch.account,
        amount=amount,
        currency=c["currency"],
        type="charge",
        source=ch.id,
        fee=fee,
        available_on=balance.card_funds_available_on(ctx, card.available_now),
        description=c["description"],
    )
    ch.private["available_on"] = txn.data["available_on"]
    if released:
        ch.private["released"] = released
    c.update(
        captured=True,
        amount_captured=amount,
        amount_refunded=c["amount_refunded"] + released,
        balance_transaction=txn.id,
    )
    previous = {"status": d["status"], "amount_received": d["amount_received"]}
    d.update(status="succeeded", amount_received=amount, amount_capturable=0)
    pi.due_at = None
    await destination.after_capture(ctx, pi, ch)
    ctx.store.save(ch)
    ctx.store.save(pi)
    if automatic:  # authorized and captured at once: Stripe sends no charge.captured
        ctx.emit("charge.succeeded", ch)
    else:
        ctx.emit("charge.captured", ch, previous={"captured": False, "amount_captured": 0})
    ctx.emit("payment_intent.succeeded", pi, previous=previous)
    if card.dispute:
        disputes.open_dispute(ctx, ch, pi)
    if d.get("invoice"):
        await invoices.paid_by(ctx, d["invoice"], pi)


def release(ctx: Ctx, pi: Doc, ch: Doc | None, *, reason: str | None) -> None:
    """Cancel ``pi``; an uncaptured charge is released (shown as refunded, as on Stripe)."""
    d = pi.data
    previous = {"status": d["status"], "amount_capturable": d["amount_capturable"]}
    d.update(
        status="canceled",
        canceled_at=ctx.now,
        cancellation_reason=reason,
        amount_capturable=0,
        next_action=None,
    )
    pi.due_at = None
    pi.private.pop("auth", None)
    ctx.store.save(pi)
    if ch is not None and ch.data["status"] == "succeeded" and not ch.data["captured"]:
        ch.private["released"] = ch.data["amount"]
        ch.data.update(amount_refunded=ch.data["amount"], refunded=True)
        ctx.store.save(ch)
        if reason == "automatic":
            ctx.emit("charge.expired", ch)
        else:
            ctx.emit("charge.refunded", ch, previous={"refunded": False, "amount_refunded": 0})
    ctx.emit("payment_intent.canceled", pi, previous=previous)
