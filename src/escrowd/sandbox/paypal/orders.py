"""Orders v2 and Payments v2 in the sandbox: orders, authorizations, captures, refunds.

Behaviours worth knowing (docs/sandbox.md lists them):
- the payer approves on the hosted page, choosing a funding source; "declined" makes the
  order's authorize / capture fail with 422 ``INSTRUMENT_DECLINED`` (the order stays APPROVED,
  so a retry after a new approval can succeed);
- an authorization expires 29 days after it was made, by the sandbox clock: then it reads
  ``EXPIRED`` and a capture gets 422 ``AUTHORIZATION_EXPIRED``;
- captures of an authorization may total up to 115 % of it or 75 major units more, whichever
  is less (PayPal's rule);
- one purchase unit per order;
- a completed capture carries PayPal's ``seller_receivable_breakdown``: a fee of 3.49 % plus
  a fixed fee per currency (``FIXED_FEES``, 0.49 for USD), rounded half up;
- funding "echeck" leaves a capture ``PENDING`` (``status_details.reason: ECHECK``, no fee
  yet) until ``settle_pending_capture`` completes it (``PAYMENT.CAPTURE.COMPLETED``) or
  denies it (``PAYMENT.CAPTURE.DENIED``), as an eCheck clears or bounces days later.
"""

from __future__ import annotations

from typing import Any

from escrowd.errors import InvalidRequestError
from escrowd.money import exponent, parse_major
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import to_value
from escrowd.sandbox.paypal import webhooks
from escrowd.sandbox.paypal.faults import PayPalError, not_found, unprocessable
from escrowd.sandbox.paypal.store import Obj, Unit, new_id, stamp

#: PayPal's standard US rate for PayPal checkout, in hundredths of a percent (3.49 %).
FEE_RATE_BPS = 349
#: The fixed part of PayPal's fee per currency, in minor units (others: ``DEFAULT_FIXED_FEE``).
FIXED_FEES = {"usd": 49, "eur": 39, "gbp": 29, "cad": 59, "aud": 59, "jpy": 49}
DEFAULT_FIXED_FEE = 49
AUTHORIZATION_DAYS = 29
HONOR_DAYS = 3
DAY = 86400
Reply = tuple[int, dict[str, Any] | None]


def minor(money: shapes.Money | shapes.PayoutCurrency, field: str) -> tuple[int, str]:
    """(minor units, lower-case currency) of a request's amount, refused as PayPal refuses."""
    code = money.currency_code if isinstance(money, shapes.Money) else money.currency
    try:
        exp = exponent(code)
    except InvalidRequestError as exc:
        raise unprocessable(
            "CURRENCY_NOT_SUPPORTED",
            "Currency code is not currently supported.",
            f"{field}/currency_code",
        ) from exc
    if len(money.value.partition(".")[2]) > exp:
        raise unprocessable(
            "DECIMAL_PRECISION",
            f"If the currency supports decimals, only {exp} decimal place precision is supported.",
            f"{field}/value",
        )
    try:
        amount = parse_major(money.value, code).amount
    except InvalidRequestError as exc:
        raise unprocessable("AMOUNT_OUT_OF_RANGE", exc.message, f"{field}/value") from exc
    if amount <= 0:
        raise unprocessable(
            "CANNOT_BE_ZERO_OR_NEGATIVE", "Must be greater than zero.", f"{field}/value"
        )
    return amount, code.lower()


def _money(amount: int, currency: str) -> dict[str, str]:
    return {"currency_code": currency.upper(), "value": to_value(amount, currency)}


def paypal_fee(amount: int, currency: str) -> int:
    """The sandbox's fee on a capture: 3.49 % (half up) plus the currency's fixed fee, never
    more than the capture itself."""
    rate = (amount * FEE_RATE_BPS + 5_000) // 10_000
    return min(rate + FIXED_FEES.get(currency, DEFAULT_FIXED_FEE), amount)


def _breakdown(amount: int, currency: str) -> dict[str, Any]:
    fee = paypal_fee(amount, currency)
    return {
        "gross_amount": _money(amount, currency),
        "paypal_fee": _money(fee, currency),
        "net_amount": _money(amount - fee, currency),
    }


# --- orders ----------------------------------------------------------------------------------


async def create_order(u: Unit, req: shapes.OrderRequest) -> Reply:
    if len(req.purchase_units) != 1:
        raise unprocessable(
            "MULTIPLE_PURCHASE_UNITS_NOT_SUPPORTED",
            "The sandbox takes one purchase unit per order.",
            "/purchase_units",
        )
    unit = req.purchase_units[0]
    amount, currency = minor(unit.amount, "/purchase_units/@reference_id=='default'/amount")
    order_id = new_id()
    pu: dict[str, Any] = {"reference_id": unit.reference_id or "default"}
    pu["amount"] = _money(amount, currency)
    for key in ("custom_id", "invoice_id", "description"):
        if getattr(unit, key) is not None:
            pu[key] = getattr(unit, key)
    path = f"/v2/checkout/orders/{order_id}"
    approve = f"/checkoutnow?token={order_id}"
    data: dict[str, Any] = {
        "id": order_id,
        "intent": req.intent,
        "purchase_units": [pu],
        "create_time": stamp(u.now),
        "links": [u.link(path, "self"), u.link(path, "update", "PATCH")],
    }
    private: dict[str, Any] = {"amount": amount, "currency": currency}
    if req.payment_source is not None:
        context = req.payment_source.paypal.experience_context
        private.update(return_url=context.return_url, cancel_url=context.cancel_url)
        data["payment_source"] = {"paypal": {}}
        data["status"] = "PAYER_ACTION_REQUIRED"
        data["links"].insert(1, u.link(approve, "payer-action"))
    else:
        data["status"] = "CREATED"
        data["links"].insert(1, u.link(approve, "approve"))
    action = "authorize" if req.intent == "AUTHORIZE" else "capture"
    data["links"].append(u.link(f"{path}/{action}", action, "POST"))
    order = u.create("order", order_id, data, **private)
    await u.save(order)
    return 200, data


async def load_order(u: Unit, order_id: str, *, lock: bool = False) -> Obj:
    order = await u.get(order_id, "order", lock=lock)
    if order is None:
        raise not_found("order", "order_id")
    return order


async def get_order(u: Unit, order_id: str) -> Reply:
    order = await load_order(u, order_id)
    return 200, await render_order(u, order)


async def render_order(u: Unit, order: Obj) -> dict[str, Any]:
    """The order with its payments as they are now (refunds and expiry change them)."""
    data = dict(order.data)
    payments: dict[str, list[dict[str, Any]]] = {}
    capture_ids = list(order.private.get("captures", []))
    for auth_id in order.private.get("authorizations", []):
        auth = await u.get(auth_id, "authorization")
        if auth is not None:
            payments.setdefault("authorizations", []).append(await _current(u, auth))
            # Captures made on the authorization show on the order too, as on PayPal.
            capture_ids.extend(auth.private.get("captures", []))
    for capture_id in capture_ids:
        capture = await u.get(capture_id, "capture")
        if capture is not None:
            payments.setdefault("captures", []).append(capture.data)
            # PayPal's payment collection lists the purchase unit's refunds too.
            for refund_id in capture.private.get("refunds", []):
                refund = await u.get(refund_id, "refund")
                if refund is not None:
                    payments.setdefault("refunds", []).append(refund.data)
    if payments:
        data["purchase_units"] = [{**data["purchase_units"][0], "payments": payments}]
    return data


async def approve(u: Unit, order: Obj, *, funding: str, payer_id: str) -> None:
    if order.data["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED", "APPROVED"):
        raise unprocessable("ORDER_CANNOT_BE_APPROVED", "The order cannot be approved now.")
    order.data["status"] = "APPROVED"
    order.data["payer"] = {"payer_id": payer_id}
    order.data["update_time"] = stamp(u.now)
    order.private["funding"] = funding
    await u.save(order)
    await webhooks.emit(
        u,
        "CHECKOUT.ORDER.APPROVED",
        "checkout-order",
        await render_order(u, order),
        f"An order {order.id} has been approved by buyer",
    )


def _ready(order: Obj, intent: str) -> None:
    status, done = order.data["status"], "AUTHORIZED" if intent == "AUTHORIZE" else "CAPTURED"
    if order.data["intent"] != intent:
        raise unprocessable(
            "ACTION_DOES_NOT_MATCH_INTENT",
            f"Order was created with an intent to '{order.data['intent']}'. Please use "
            f"/v2/checkout/orders/order_id/{order.data['intent'].lower()} instead.",
        )
    if status == "COMPLETED":
        raise unprocessable(f"ORDER_ALREADY_{done}", f"Order already {done.lower()}.")
    if status != "APPROVED":
        raise unprocessable(
            "ORDER_NOT_APPROVED",
            "Payer has not yet approved the Order for payment. Please redirect the payer to "
            "the 'rel':'approve' url returned as part of the HATEOAS links.",
        )
    if order.private.get("funding") == "declined":
        raise unprocessable(
            "INSTRUMENT_DECLINED",
            "The instrument presented was either declined by the processor or bank, or it "
            "can't be used for this payment.",
        )


async def authorize_order(u: Unit, order_id: str) -> Reply:
    order = await load_order(u, order_id, lock=True)
    _ready(order, "AUTHORIZE")
    auth_id = new_id()
    amount, currency = order.private["amount"], order.private["currency"]
    path = f"/v2/payments/authorizations/{auth_id}"
    data = {
        "id": auth_id,
        "status": "CREATED",
        "amount": _money(amount, currency),
        "expiration_time": stamp(u.now + AUTHORIZATION_DAYS * DAY),
        "create_time": stamp(u.now),
        "update_time": stamp(u.now),
        "links": [
            u.link(path, "self"),
            u.link(f"{path}/capture", "capture", "POST"),
            u.link(f"{path}/void", "void", "POST"),
            u.link(f"/v2/checkout/orders/{order_id}", "up"),
        ],
        "supplementary_data": {"related_ids": {"order_id": order_id}},
    }
    _copy_refs(order, data)
    auth = u.create(
        "authorization",
        auth_id,
        data,
        order=order_id,
        amount=amount,
        currency=currency,
        captured=0,
        captures=[],
        honor_until=u.now + HONOR_DAYS * DAY,
    )
    await u.save(auth, parent=order_id)
    order.data["status"] = "COMPLETED"
    order.data["update_time"] = stamp(u.now)
    order.private["authorizations"] = [auth_id]
    await u.save(order)
    await webhooks.emit(
        u,
        "PAYMENT.AUTHORIZATION.CREATED",
        "authorization",
        auth.data,
        "A payment authorization was created",
    )
    return 201, await render_order(u, order)


async def capture_order(u: Unit, order_id: str) -> Reply:
    order = await load_order(u, order_id, lock=True)
    _ready(order, "CAPTURE")
    capture = await _new_capture(
        u,
        order.private["amount"],
        order.private["currency"],
        final=True,
        related={"order_id": order_id},
        refs=order.data["purchase_units"][0],
        pending=order.private.get("funding") == "echeck",
    )
    order.data["status"] = "COMPLETED"
    order.data["update_time"] = stamp(u.now)
    order.private["captures"] = [capture.id]
    await u.save(order)
    return 201, await render_order(u, order)


def _copy_refs(order: Obj, data: dict[str, Any]) -> None:
    for key in ("invoice_id", "custom_id"):
        value = order.data["purchase_units"][0].get(key)
        if value is not None:
            data[key] = value


# --- authorizations --------------------------------------------------------------------------


async def _current(u: Unit, obj: Obj) -> dict[str, Any]:
    """An authorization past its 29 days reads EXPIRED from then on (sandbox clock)."""
    expires = obj.created + AUTHORIZATION_DAYS * DAY
    live = obj.data["status"] in ("CREATED", "PARTIALLY_CAPTURED")
    if obj.type == "authorization" and live and u.now >= expires:
        obj.data["status"] = "EXPIRED"
        obj.data["update_time"] = stamp(expires)
        await u.save(obj)
    return obj.data


async def load_authorization(u: Unit, auth_id: str, *, lock: bool = False) -> Obj:
    auth = await u.get(auth_id, "authorization", lock=lock)
    if auth is None:
        raise not_found("authorization", "authorization_id")
    await _current(u, auth)
    return auth


async def get_authorization(u: Unit, auth_id: str) -> Reply:
    return 200, (await load_authorization(u, auth_id)).data


def _usable(auth: Obj) -> None:
    status = auth.data["status"]
    if status == "EXPIRED":
        raise unprocessable("AUTHORIZATION_EXPIRED", "An expired authorization cannot be captured.")
    if status == "VOIDED":
        raise unprocessable("AUTHORIZATION_VOIDED", "A voided authorization cannot be captured.")
    if status == "CAPTURED":
        raise unprocessable(
            "AUTHORIZATION_ALREADY_CAPTURED",
            "Authorization has been previously captured and hence cannot be captured again.",
        )


def max_capture(amount: int, currency: str) -> int:
    """PayPal's ceiling on all captures of one authorization: 115 %, or +75 major units."""
    extra: int = 75 * 10 ** exponent(currency)
    return min(amount * 115 // 100, amount + extra)


async def capture_authorization(
    u: Unit, auth_id: str, req: shapes.CaptureAuthorizationRequest
) -> Reply:
    auth = await load_authorization(u, auth_id, lock=True)
    _usable(auth)
    total, currency, captured = (
        auth.private["amount"],
        auth.private["currency"],
        auth.private["captured"],
    )
    if req.amount is None:
        amount = max(total - captured, 0)
    else:
        amount, asked = minor(req.amount, "/amount")
        if asked != currency:
            raise unprocessable(
                "CURRENCY_MISMATCH",
                "Currency of capture must be the same as currency of authorization.",
                "/amount/currency_code",
            )
    if amount <= 0 or captured + amount > max_capture(total, currency):
        raise unprocessable(
            "MAX_CAPTURE_AMOUNT_EXCEEDED",
            "Capture amount exceeds allowable limit. Please contact customer service or your "
            "account manager to change the limit.",
            "/amount/value",
        )
    refs = {"invoice_id": req.invoice_id or auth.data.get("invoice_id")}
    refs["custom_id"] = auth.data.get("custom_id")
    capture = await _new_capture(
        u,
        amount,
        currency,
        final=req.final_capture,
        related={"order_id": auth.private["order"], "authorization_id": auth_id},
        refs=refs,
        up=f"/v2/payments/authorizations/{auth_id}",
    )
    auth.private["captured"] = captured + amount
    auth.private["captures"].append(capture.id)
    done = req.final_capture or captured + amount >= total
    auth.data["status"] = "CAPTURED" if done else "PARTIALLY_CAPTURED"
    auth.data["update_time"] = stamp(u.now)
    await u.save(auth)
    return 201, capture.data


async def void_authorization(u: Unit, auth_id: str) -> Reply:
    auth = await load_authorization(u, auth_id, lock=True)
    status = auth.data["status"]
    if status == "EXPIRED":
        raise unprocessable("AUTHORIZATION_EXPIRED", "An expired authorization cannot be voided.")
    if status == "VOIDED":
        raise unprocessable(
            "PREVIOUSLY_VOIDED",
            "Authorization has been previously voided and hence cannot be voided again.",
        )
    if status in ("CAPTURED", "PARTIALLY_CAPTURED"):
        raise unprocessable(
            "PREVIOUSLY_CAPTURED",
            "Authorization has been previously captured and hence cannot be voided.",
        )
    auth.data["status"] = "VOIDED"
    auth.data["update_time"] = stamp(u.now)
    await u.save(auth)
    await webhooks.emit(
        u,
        "PAYMENT.AUTHORIZATION.VOIDED",
        "authorization",
        auth.data,
        "A payment authorization was voided",
    )
    return 200, auth.data


# --- captures and refunds --------------------------------------------------------------------


async def _new_capture(
    u: Unit,
    amount: int,
    currency: str,
    *,
    final: bool,
    related: dict[str, str],
    refs: dict[str, Any],
    up: str | None = None,
    pending: bool = False,
) -> Obj:
    capture_id = new_id()
    path = f"/v2/payments/captures/{capture_id}"
    links = [u.link(path, "self"), u.link(f"{path}/refund", "refund", "POST")]
    if up is not None:
        links.append(u.link(up, "up"))
    data: dict[str, Any] = {
        "id": capture_id,
        "status": "PENDING" if pending else "COMPLETED",
        "amount": _money(amount, currency),
        "final_capture": final,
        "create_time": stamp(u.now),
        "update_time": stamp(u.now),
        "links": links,
        "supplementary_data": {"related_ids": related},
    }
    if pending:
        data["status_details"] = {"reason": "ECHECK"}
    else:
        data["seller_receivable_breakdown"] = _breakdown(amount, currency)
    for key in ("invoice_id", "custom_id"):
        if refs.get(key) is not None:
            data[key] = refs[key]
    capture = u.create("capture", capture_id, data, amount=amount, currency=currency, refunded=0)
    await u.save(capture, parent=related.get("authorization_id") or related.get("order_id"))
    if pending:
        await webhooks.emit(
            u,
            "PAYMENT.CAPTURE.PENDING",
            "capture",
            data,
            f"Payment pending for {data['amount']['value']} {data['amount']['currency_code']}",
        )
    else:
        await _completed(u, data)
    return capture


async def _completed(u: Unit, data: dict[str, Any]) -> None:
    await webhooks.emit(
        u,
        "PAYMENT.CAPTURE.COMPLETED",
        "capture",
        data,
        f"Payment completed for {data['amount']['value']} {data['amount']['currency_code']}",
    )


async def settle_pending_capture(u: Unit, capture_id: str, *, completed: bool) -> dict[str, Any]:
    """A pending (eCheck) capture clears (``COMPLETED``, with its fee) or bounces
    (``DECLINED``), and PayPal says so by webhook. Sandbox only: PayPal decides this itself."""
    capture = await load_capture(u, capture_id, lock=True)
    if capture.data["status"] != "PENDING":
        raise unprocessable("CAPTURE_NOT_PENDING", "Only a pending capture can be settled.")
    data = capture.data
    data.pop("status_details", None)
    data["update_time"] = stamp(u.now)
    if completed:
        data["status"] = "COMPLETED"
        data["seller_receivable_breakdown"] = _breakdown(
            capture.private["amount"], capture.private["currency"]
        )
    else:
        data["status"] = "DECLINED"
    await u.save(capture)
    if completed:
        await _completed(u, data)
    else:
        await webhooks.emit(
            u,
            "PAYMENT.CAPTURE.DENIED",
            "capture",
            data,
            f"A payment capture for {data['amount']['value']} was denied",
        )
    return data


async def reverse_capture(u: Unit, capture_id: str) -> dict[str, Any]:
    """PayPal takes a capture's money back (a chargeback through the card network, or a
    reversal with no Resolution Center dispute): status ``REVERSED``, and
    ``PAYMENT.CAPTURE.REVERSED`` (resource: the capture). Sandbox only: PayPal decides this
    itself. Only a ``COMPLETED`` capture can be reversed here (422 ``CAPTURE_NOT_REVERSIBLE``)."""
    capture = await load_capture(u, capture_id, lock=True)
    if capture.data["status"] != "COMPLETED":
        raise unprocessable(
            "CAPTURE_NOT_REVERSIBLE",
            f"The capture is {capture.data['status']}: only a completed capture can be reversed.",
        )
    data = capture.data
    data["status"] = "REVERSED"
    data["update_time"] = stamp(u.now)
    await u.save(capture)
    await webhooks.emit(
        u,
        "PAYMENT.CAPTURE.REVERSED",
        "capture",
        data,
        f"A payment capture for {data['amount']['value']} "
        f"{data['amount']['currency_code']} was reversed",
    )
    return data


async def load_capture(u: Unit, capture_id: str, *, lock: bool = False) -> Obj:
    capture = await u.get(capture_id, "capture", lock=lock)
    if capture is None:
        raise not_found("capture", "capture_id")
    return capture


async def get_capture(u: Unit, capture_id: str) -> Reply:
    return 200, (await load_capture(u, capture_id)).data


async def refund_capture(u: Unit, capture_id: str, req: shapes.RefundRequest) -> Reply:
    capture = await load_capture(u, capture_id, lock=True)
    if capture.data["status"] == "REFUNDED":
        raise unprocessable(
            "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded."
        )
    total, currency, refunded = (
        capture.private["amount"],
        capture.private["currency"],
        capture.private["refunded"],
    )
    if req.amount is None:
        amount = total - refunded
    else:
        amount, asked = minor(req.amount, "/amount")
        if asked != currency:
            raise unprocessable(
                "CURRENCY_MISMATCH",
                "Refund must be in the same currency as the capture.",
                "/amount/currency_code",
            )
    if refunded + amount > total:
        raise unprocessable(
            "REFUND_AMOUNT_EXCEEDED",
            "The refund amount must be less than or equal to the capture amount that has not "
            "yet been refunded.",
            "/amount/value",
        )
    refund_id = new_id()
    path = f"/v2/payments/refunds/{refund_id}"
    data: dict[str, Any] = {
        "id": refund_id,
        "status": "COMPLETED",
        "amount": _money(amount, currency),
        "create_time": stamp(u.now),
        "update_time": stamp(u.now),
        "links": [u.link(path, "self"), u.link(f"/v2/payments/captures/{capture_id}", "up")],
    }
    if req.invoice_id is not None:
        data["invoice_id"] = req.invoice_id
    if req.note_to_payer is not None:
        data["note_to_payer"] = req.note_to_payer
    await u.save(u.create("refund", refund_id, data, capture=capture_id), parent=capture_id)
    capture.private["refunded"] = refunded + amount
    capture.private["refunds"] = [*capture.private.get("refunds", []), refund_id]
    capture.data["status"] = "REFUNDED" if refunded + amount >= total else "PARTIALLY_REFUNDED"
    capture.data["update_time"] = stamp(u.now)
    await u.save(capture)
    await webhooks.emit(
        u,
        "PAYMENT.CAPTURE.REFUNDED",
        "refund",
        data,
        f"A capture payment of {data['amount']['value']} was refunded",
    )
    return 201, data


async def get_refund(u: Unit, refund_id: str) -> Reply:
    refund = await u.get(refund_id, "refund")
    if refund is None:
        raise not_found("refund", "refund_id")
    return 200, refund.data


__all__ = ["PayPalError"]
