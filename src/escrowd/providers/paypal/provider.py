"""``PayPalProvider``: the PaymentProvider interface on PayPal (Orders, Payments, Payouts).

A PayPal order is escrowd's payment. The payer approves it on PayPal (the order's approval
link is the payment's ``next_action_url``, as Stripe's 3-D Secure redirect is), then
``confirm_payment`` authorizes it (manual capture) or captures it (automatic). Captures,
voids and refunds go through the order's authorization and captures. A payout is one PayPal
Payouts batch with one item, paid to the receiver's email; its id is the item's.

Every call that creates or moves something sends the caller's idempotency key as
``PayPal-Request-Id`` (a payout batch also uses it as ``sender_batch_id``). What PayPal has no
counterpart for (customers, connected accounts, transfers, subscriptions, listing) raises
``ProviderError`` ``unsupported_by_provider`` (``unsupported.py``); ``capabilities`` says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping

from escrowd.providers.base import Capability
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal import mapping, shapes
from escrowd.providers.paypal.amounts import from_money, money, payout_currency
from escrowd.providers.paypal.client import PayPalClient
from escrowd.providers.paypal.errors import PROVIDER
from escrowd.providers.paypal.mapping import capture_of_refund
from escrowd.providers.paypal.unsupported import UnsupportedMixin, refuse
from escrowd.providers.types import (
    CancelRequest,
    CaptureRequest,
    Charge,
    Dispute,
    Payment,
    PaymentRecord,
    PaymentRequest,
    PaymentStatus,
    Payout,
    PayoutRequest,
    ProviderEvent,
    Refund,
    RefundRequest,
    TimeRange,
)

#: PayPal's limits on the purchase unit fields escrowd fills.
_DESCRIPTION_MAX = 127
_CUSTOM_ID_MAX = 255
_SENDER_ITEM_ID_MAX = 63
#: Order statuses with nothing authorized or captured yet: only escrowd's confirm moves money.
_UNCONFIRMED = ("CREATED", "SAVED", "PAYER_ACTION_REQUIRED", "APPROVED")


def _invalid(message: str, *, param: str | None = None) -> ProviderError:
    return ProviderError(ProviderErrorKind.invalid_request, message, param=param, provider=PROVIDER)


class PayPalProvider(UnsupportedMixin):
    name = PROVIDER
    capabilities = frozenset({Capability.payments, Capability.refunds, Capability.payouts})

    def __init__(self, client: PayPalClient) -> None:
        self._client = client

    @property
    def client(self) -> PayPalClient:
        """The REST client, for calls the neutral interface does not cover (tests, tools)."""
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- payments ------------------------------------------------------------------------

    async def create_payment(self, req: PaymentRequest) -> Payment:
        """An order for the payer to approve; ``confirm`` changes nothing (PayPal cannot
        authorize or capture before the payer approved: see ``confirm_payment``)."""
        if req.payment_method or req.customer:
            raise refuse(
                "saved payment methods or customers: the payer approves each PayPal payment "
                "on PayPal (create it without payment_method and customer)"
            )
        if req.destination or req.application_fee_amount is not None:
            raise refuse("destination charges or application fees (no connected accounts)")
        unit = shapes.PurchaseUnitRequest(
            amount=money(req.amount, req.currency),
            # The escrow's transfer group rides along so the order names its escrow at PayPal.
            custom_id=req.transfer_group[:_CUSTOM_ID_MAX] if req.transfer_group else None,
            description=req.description[:_DESCRIPTION_MAX] if req.description else None,
        )
        source = None
        if req.return_url:
            # PayPal sends the payer back here after approving or cancelling; escrowd reads
            # the order's status either way, so both go to the one URL.
            context = shapes.ExperienceContext(
                return_url=req.return_url,
                cancel_url=req.return_url,
                user_action="CONTINUE",
                shipping_preference="NO_SHIPPING",
            )
            source = shapes.PaymentSource(paypal=shapes.PayPalWallet(experience_context=context))
        order = await self._client.create_order(
            shapes.OrderRequest(
                intent="AUTHORIZE" if req.capture_method == "manual" else "CAPTURE",
                purchase_units=[unit],
                payment_source=source,
            ),
            request_id=req.idempotency_key,
        )
        return self._payment(order)

    async def confirm_payment(
        self,
        *,
        payment_id: str,
        idempotency_key: str,
        payment_method: str | None = None,
        return_url: str | None = None,
    ) -> Payment:
        """Authorize (manual capture) or capture (automatic) an order the payer approved.

        An order not yet approved is refused by PayPal (``order_not_approved``); a declined
        funding source is a ``card`` error, as a Stripe decline is."""
        if payment_method:
            raise refuse("confirming with a payment method: the payer chooses it on PayPal")
        order = await self._client.get_order(payment_id)
        if order.intent == "AUTHORIZE":
            done = await self._client.authorize_order(payment_id, request_id=idempotency_key)
        else:
            done = await self._client.capture_order(payment_id, request_id=idempotency_key)
        return self._payment(done)

    async def retrieve_payment(self, payment_id: str) -> Payment:
        return self._payment(await self._client.get_order(payment_id))

    async def capture_payment(self, req: CaptureRequest) -> Payment:
        """Capture from the order's authorization: all that remains when ``amount`` is None,
        else that much; ``final_capture`` (the default) releases the rest."""
        if req.application_fee_amount is not None:
            raise refuse("application fees (no connected accounts)")
        order = await self._client.get_order(req.payment_id)
        auth = _authorization(order)
        if auth is None:
            raise _invalid(
                f"PayPal payment {order.id} has no authorization to capture "
                f"(order status {order.status}, intent {order.intent}): confirm it first, "
                "or it was created to be captured at once."
            )
        currency = from_money(auth.amount).currency
        body = shapes.CaptureAuthorizationRequest(
            amount=money(req.amount, currency) if req.amount is not None else None,
            final_capture=req.final_capture,
        )
        await self._client.capture_authorization(auth.id, body, request_id=req.idempotency_key)
        return await self.retrieve_payment(order.id)

    async def cancel_payment(self, req: CancelRequest) -> Payment:
        """Void the authorization. An order with nothing authorized or captured holds no money
        and takes none unless escrowd confirms it, so it is answered canceled without a call
        (PayPal has no order cancellation; the unconfirmed order lapses there)."""
        order = await self._client.get_order(req.payment_id)
        if order.status in _UNCONFIRMED:
            payment = self._payment(order)
            return dataclasses.replace(payment, status=PaymentStatus.canceled, next_action_url=None)
        auth = _authorization(order)
        if auth is None:
            raise _invalid(
                f"PayPal payment {order.id} was captured, not authorized: there is nothing to "
                "void. Refund it instead."
            )
        await self._client.void_authorization(auth.id, request_id=req.idempotency_key)
        return await self.retrieve_payment(order.id)

    async def retrieve_charge(self, charge_id: str) -> Charge:
        """The capture ``charge_id`` (a payment's ``latest_charge``) with PayPal's fee."""
        return mapping.charge_from_capture(await self._client.get_capture(charge_id))

    # --- refunds -------------------------------------------------------------------------

    async def create_refund(self, req: RefundRequest) -> Refund:
        """Refund the payment's capture: all that remains when ``amount`` is None."""
        if req.reverse_transfer or req.refund_application_fee:
            raise refuse("reversing transfers or application fees (no connected accounts)")
        order = await self._client.get_order(req.payment_id)
        capture = _refundable_capture(order)
        currency = from_money(capture.amount).currency
        refund = await self._client.refund_capture(
            capture.id,
            shapes.RefundRequest(
                amount=money(req.amount, currency) if req.amount is not None else None
            ),
            request_id=req.idempotency_key,
        )
        mapped = mapping.refund_from_paypal(refund, capture_id=capture.id)
        return dataclasses.replace(mapped, payment_id=order.id)

    async def retrieve_refund(self, refund_id: str) -> Refund:
        refund = await self._client.get_refund(refund_id)
        capture_id = _capture_of(refund)
        payment_id = None
        if capture_id is not None:
            capture = await self._client.get_capture(capture_id)
            related = capture.supplementary_data.related_ids if capture.supplementary_data else None
            payment_id = related.order_id if related else None
        mapped = mapping.refund_from_paypal(refund, capture_id=capture_id or "")
        return dataclasses.replace(mapped, payment_id=payment_id, charge_id=capture_id)

    # --- reading back for reconciliation --------------------------------------------------

    async def retrieve_payment_record(self, payment_id: str) -> PaymentRecord:
        """The order with its completed captures as one charge and PayPal's fee on them
        (``mapping.record_from_order``): one ``GET /v2/checkout/orders/{id}``."""
        return mapping.record_from_order(await self._client.get_order(payment_id))

    def list_refunds(
        self, *, created: TimeRange | None = None, payment_id: str | None = None
    ) -> AsyncIterator[Refund]:
        """The refunds of one order (``payment_id``), from the order's payment collection.
        Listing by creation time would be PayPal's Transaction Search, which escrowd does not
        use (docs/providers.md): refused when called."""
        if payment_id is None or created is not None:
            raise refuse("listing refunds by creation time (list_refunds with created)")
        return self._refunds_of(payment_id)

    async def _refunds_of(self, order_id: str) -> AsyncIterator[Refund]:
        for refund in mapping.refunds_of_order(await self._client.get_order(order_id)):
            yield refund

    # --- payouts -------------------------------------------------------------------------

    async def create_payout(self, req: PayoutRequest) -> Payout:
        """One batch with one item to ``receiver_email``; the idempotency key is the batch's
        ``sender_batch_id`` and its PayPal-Request-Id, so a retry finds the first batch."""
        if req.account_id is not None:
            raise refuse("payouts from a connected account's balance (pay a receiver_email)")
        if not req.receiver_email:
            raise _invalid(
                "A PayPal payout needs the receiver's PayPal email (receiver_email).",
                param="receiver_email",
            )
        item = shapes.PayoutItemRequest(
            recipient_type="EMAIL",
            amount=payout_currency(req.amount, req.currency),
            receiver=req.receiver_email,
            sender_item_id=req.idempotency_key[:_SENDER_ITEM_ID_MAX],
            note=req.description,
        )
        header = shapes.SenderBatchHeader(
            sender_batch_id=req.idempotency_key, recipient_type="EMAIL"
        )
        created = await self._client.create_payout(
            shapes.PayoutRequest(sender_batch_header=header, items=[item])
        )
        batch_id = created.batch_header.payout_batch_id
        batch = created if created.items else await self._client.get_payout_batch(batch_id)
        if not batch.items:
            raise ProviderError(
                ProviderErrorKind.api,
                f"PayPal payout batch {batch_id} lists no item yet; retry with the same "
                "idempotency key to read it again.",
                provider=PROVIDER,
            )
        return mapping.payout_from_item(batch.items[0])

    async def retrieve_payout(self, payout_id: str, *, account_id: str | None = None) -> Payout:
        """The payout item (``account_id`` is meaningless on PayPal and ignored)."""
        return mapping.payout_from_item(await self._client.get_payout_item(payout_id))

    # --- disputes ----------------------------------------------------------------------

    async def retrieve_dispute(self, dispute_id: str) -> Dispute:
        """The dispute (Disputes v1), with the order its disputed capture belongs to as the
        payment id: one more call, to the capture, whose ``related_ids`` name the order."""
        found = await self._client.get_dispute(dispute_id)
        order_id = None
        capture_id = found.seller_transaction_id
        if capture_id is not None:
            try:
                capture = await self._client.get_capture(capture_id)
            except ProviderError as exc:
                if not exc.missing:
                    raise
                capture = None  # not a capture PayPal knows: no order, so no escrow's
            if capture is not None and capture.supplementary_data is not None:
                related = capture.supplementary_data.related_ids
                order_id = related.order_id if related is not None else None
        return mapping.dispute_from_paypal(found, order_id=order_id)

    # --- inbound webhooks ----------------------------------------------------------------

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        # PayPal's verification is a call to PayPal (or a certificate fetch), not a local
        # signature check: it lives with the webhook intake, not behind this sync method.
        raise refuse("parsing webhooks through the provider (see escrowd.webhooks)")

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _payment(order: shapes.Order) -> Payment:
        payment = mapping.payment_from_order(order)
        unit = order.purchase_units[0] if order.purchase_units else None
        group = unit.custom_id if unit is not None else None
        return dataclasses.replace(payment, transfer_group=group) if group else payment


def _authorization(order: shapes.Order) -> shapes.Authorization | None:
    unit = order.purchase_units[0] if order.purchase_units else None
    payments = unit.payments if unit is not None else None
    return payments.authorizations[0] if payments and payments.authorizations else None


def _refundable_capture(order: shapes.Order) -> shapes.Capture:
    """The latest capture with money left to refund (escrowd captures once in the common case;
    after partial captures the latest is refunded first)."""
    unit = order.purchase_units[0] if order.purchase_units else None
    captures = unit.payments.captures if unit is not None and unit.payments else []
    for capture in reversed(captures):
        if capture.status in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return capture
    raise _invalid(
        f"PayPal payment {order.id} has no capture with money left to refund "
        f"(order status {order.status})."
    )


def _capture_of(refund: shapes.Refund) -> str | None:
    """The refunded capture's id, from the refund's ``up`` link."""
    return capture_of_refund(refund.links)
