"""Customers, payment methods, PaymentIntents, charges and refunds."""

from __future__ import annotations

from stripe.params import (
    ChargeRetrieveParams,
    CustomerCreateParams,
    CustomerUpdateParams,
    PaymentIntentCancelParams,
    PaymentIntentCaptureParams,
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
    PaymentIntentCreateParamsAutomaticPaymentMethods,
    PaymentIntentRetrieveParams,
    PaymentMethodAttachParams,
    RefundCreateParams,
    SetupIntentCreateParams,
    SetupIntentRetrieveParams,
)

from escrowd.providers.errors import unsupported
from escrowd.providers.stripe import mapping
from escrowd.providers.stripe.core import StripeCore, options, path
from escrowd.providers.types import (
    CancelRequest,
    CaptureRequest,
    Charge,
    Customer,
    CustomerRequest,
    Dispute,
    Payment,
    PaymentMethod,
    PaymentRequest,
    Refund,
    RefundRequest,
    SetupIntent,
)

# The charge comes back with every PaymentIntent: its ``capture_before`` is the deadline of a
# manual-capture authorization, which escrowd schedules against; its balance transaction
# carries the provider's fee, read here rather than by a second call (charges.retrieve).
_EXPAND_CHARGE = ["latest_charge", "latest_charge.balance_transaction"]


def _payment_methods(*, redirects: bool) -> PaymentIntentCreateParamsAutomaticPaymentMethods:
    """Payment methods enabled in the Dashboard; redirect-based ones only with a return URL.

    Stripe requires a ``return_url`` to confirm a payment that could redirect the payer. escrowd
    takes cards from its own hosted form and confirms on the server, so without a return URL
    redirect-based methods are left out and confirmation needs none; with one (3-D Secure in a
    browser) they are allowed and the next action is a ``redirect_to_url``.
    """
    if redirects:
        return {"enabled": True}
    return {"enabled": True, "allow_redirects": "never"}


class PaymentsMixin(StripeCore):
    # --- customers and payment methods ---------------------------------------------------

    async def create_customer(self, req: CustomerRequest) -> Customer:
        params: CustomerCreateParams = {}
        if req.email:
            params["email"] = req.email
        if req.name:
            params["name"] = req.name
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "customers.create",
            "post",
            "/v1/customers",
            params,
            options(req.idempotency_key),
        )
        return mapping.customer(obj)

    async def create_setup_intent(
        self, *, customer: str, idempotency_key: str, return_url: str | None = None
    ) -> SetupIntent:
        # Saved for later charges the payer is not present for (releases, subscriptions).
        params: SetupIntentCreateParams = {"customer": customer, "usage": "off_session"}
        if return_url:
            params["return_url"] = return_url
        obj = await self._fetch(
            "setup_intents.create",
            "post",
            "/v1/setup_intents",
            params,
            options(idempotency_key),
        )
        return mapping.setup_intent(obj)

    async def attach_payment_method(self, *, payment_method: str, customer: str) -> PaymentMethod:
        params: PaymentMethodAttachParams = {"customer": customer}
        obj = await self._fetch(
            "payment_methods.attach",
            "post",
            path("/v1/payment_methods/{}/attach", payment_method),
            params,
        )
        return mapping.payment_method(obj)

    async def set_default_payment_method(self, *, customer: str, payment_method: str) -> Customer:
        params: CustomerUpdateParams = {
            "invoice_settings": {"default_payment_method": payment_method}
        }
        obj = await self._fetch(
            "customers.update",
            "post",
            path("/v1/customers/{}", customer),
            params,
        )
        return mapping.customer(obj)

    async def detach_payment_method(
        self, *, payment_method: str, idempotency_key: str
    ) -> PaymentMethod:
        obj = await self._fetch(
            "payment_methods.detach",
            "post",
            path("/v1/payment_methods/{}/detach", payment_method),
            None,
            options(idempotency_key),
        )
        return mapping.payment_method(obj)

    async def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntent:
        params: SetupIntentRetrieveParams = {}
        obj = await self._fetch(
            "setup_intents.retrieve",
            "get",
            path("/v1/setup_intents/{}", setup_intent_id),
            params,
        )
        return mapping.setup_intent(obj)

    # --- payments ------------------------------------------------------------------------

    async def create_payment(self, req: PaymentRequest) -> Payment:
        params: PaymentIntentCreateParams = {
            "amount": req.amount,
            "currency": req.currency,
            "capture_method": req.capture_method,
            "automatic_payment_methods": _payment_methods(redirects=req.return_url is not None),
            "expand": _EXPAND_CHARGE,
        }
        if req.customer:
            params["customer"] = req.customer
        if req.payment_method:
            params["payment_method"] = req.payment_method
        if req.confirm:
            params["confirm"] = True
        if req.return_url:
            params["return_url"] = req.return_url
        if req.description:
            params["description"] = req.description
        if req.transfer_group:
            params["transfer_group"] = req.transfer_group
        if req.destination:
            params["transfer_data"] = {"destination": req.destination}
        if req.application_fee_amount is not None:
            params["application_fee_amount"] = req.application_fee_amount
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "payment_intents.create",
            "post",
            "/v1/payment_intents",
            params,
            options(req.idempotency_key),
        )
        return mapping.payment(obj)

    async def confirm_payment(
        self,
        *,
        payment_id: str,
        idempotency_key: str,
        payment_method: str | None = None,
        return_url: str | None = None,
    ) -> Payment:
        params: PaymentIntentConfirmParams = {"expand": _EXPAND_CHARGE}
        if payment_method:
            params["payment_method"] = payment_method
        if return_url:
            # With a return URL, 3-D Secure comes back as ``redirect_to_url``: a page any
            # browser can open, not only Stripe.js.
            params["return_url"] = return_url
        obj = await self._fetch(
            "payment_intents.confirm",
            "post",
            path("/v1/payment_intents/{}/confirm", payment_id),
            params,
            options(idempotency_key),
        )
        return mapping.payment(obj)

    async def retrieve_payment(self, payment_id: str) -> Payment:
        params: PaymentIntentRetrieveParams = {"expand": _EXPAND_CHARGE}
        obj = await self._fetch(
            "payment_intents.retrieve",
            "get",
            path("/v1/payment_intents/{}", payment_id),
            params,
        )
        return mapping.payment(obj)

    async def capture_payment(self, req: CaptureRequest) -> Payment:
        if not req.final_capture:
            # One capture per PaymentIntent here: a "non-final" capture would still release
            # the rest, which is not what the caller asked for.
            raise unsupported("stripe", "captures that keep the rest capturable", label="Stripe")
        params: PaymentIntentCaptureParams = {"expand": _EXPAND_CHARGE}
        if req.amount is not None:
            # Less than authorized captures that much and releases the rest of the hold.
            params["amount_to_capture"] = req.amount
        if req.application_fee_amount is not None:
            params["application_fee_amount"] = req.application_fee_amount
        obj = await self._fetch(
            "payment_intents.capture",
            "post",
            path("/v1/payment_intents/{}/capture", req.payment_id),
            params,
            options(req.idempotency_key),
        )
        return mapping.payment(obj)

    async def cancel_payment(self, req: CancelRequest) -> Payment:
        params: PaymentIntentCancelParams = {"expand": _EXPAND_CHARGE}
        if req.reason:
            params["cancellation_reason"] = req.reason
        obj = await self._fetch(
            "payment_intents.cancel",
            "post",
            path("/v1/payment_intents/{}/cancel", req.payment_id),
            params,
            options(req.idempotency_key),
        )
        return mapping.payment(obj)

    async def retrieve_charge(self, charge_id: str) -> Charge:
        # The balance transaction carries Stripe's fee and the net amount.
        params: ChargeRetrieveParams = {"expand": ["balance_transaction"]}
        obj = await self._fetch(
            "charges.retrieve",
            "get",
            path("/v1/charges/{}", charge_id),
            params,
        )
        return mapping.charge(obj)

    async def retrieve_dispute(self, dispute_id: str) -> Dispute:
        obj = await self._fetch("disputes.retrieve", "get", path("/v1/disputes/{}", dispute_id))
        return mapping.dispute(obj)

    # --- refunds -------------------------------------------------------------------------

    async def create_refund(self, req: RefundRequest) -> Refund:
        params: RefundCreateParams = {"payment_intent": req.payment_id}
        if req.amount is not None:
            params["amount"] = req.amount
        if req.reason:
            params["reason"] = req.reason
        if req.reverse_transfer is not None:
            params["reverse_transfer"] = req.reverse_transfer
        if req.refund_application_fee is not None:
            params["refund_application_fee"] = req.refund_application_fee
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "refunds.create",
            "post",
            "/v1/refunds",
            params,
            options(req.idempotency_key),
        )
        return mapping.refund(obj)
