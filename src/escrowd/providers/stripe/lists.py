"""Listing what happened at Stripe, for reconciliation: a page of 100 per call, streamed.

Every list walks Stripe's cursor (``starting_after`` = the last id of the page before) until
``has_more`` is false, yielding objects as pages arrive, so a caller comparing a busy day
never holds more than one page of Stripe's side. Each page is one ``_call``: a failure comes
out as a ``ProviderError`` like any other call's.

Money details come along in the same call where Stripe can expand them: a PaymentIntent's
charge and its balance transaction (the fee), a transfer reversal's transfer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from stripe.params import (
    BalanceTransactionListParams,
    InvoiceListParams,
    PaymentIntentListParams,
    PaymentIntentRetrieveParams,
    RefundListParams,
    TransferListParams,
)

from escrowd.clock import unix
from escrowd.providers.stripe import mapping
from escrowd.providers.stripe.billing import INVOICE_PAYMENTS
from escrowd.providers.stripe.core import StripeCore, path
from escrowd.providers.types import (
    Invoice,
    PaymentRecord,
    Refund,
    TimeRange,
    Transfer,
    TransferReversal,
)

#: Stripe's largest page.
PAGE = 100
_PAYMENT_EXPAND = ["latest_charge.balance_transaction"]


class ListsMixin(StripeCore):
    async def _pages(
        self, operation: str, list_path: str, params: Mapping[str, Any]
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Every object of a list, page after page (newest first, as Stripe orders them):
        ``params`` for the first page, with ``starting_after`` for each one after."""
        page_params = params
        while True:
            body = await self._fetch(operation, "get", list_path, page_params)
            data = body.get("data")
            items = [o for o in data if isinstance(o, Mapping)] if isinstance(data, list) else []
            for item in items:
                yield item
            if not body.get("has_more") or not items:
                return
            page_params = {**params, "starting_after": str(items[-1]["id"])}

    async def list_payments(self, created: TimeRange) -> AsyncIterator[PaymentRecord]:
        """PaymentIntents created in the range, each with its charge and the charge's fee."""
        params: PaymentIntentListParams = {
            "created": {"gte": unix(created.gte), "lt": unix(created.lt)},
            "limit": PAGE,
            "expand": [f"data.{e}" for e in _PAYMENT_EXPAND],
        }
        async for obj in self._pages("payment_intents.list", "/v1/payment_intents", params):
            yield mapping.payment_record(obj)

    async def retrieve_payment_record(self, payment_id: str) -> PaymentRecord:
        """One PaymentIntent with its charge and fee (what ``list_payments`` yields)."""
        params: PaymentIntentRetrieveParams = {"expand": _PAYMENT_EXPAND}
        obj = await self._fetch(
            "payment_intents.retrieve",
            "get",
            path("/v1/payment_intents/{}", payment_id),
            params,
        )
        return mapping.payment_record(obj)

    async def list_invoices(self, created: TimeRange) -> AsyncIterator[Invoice]:
        """Invoices created in the range, each naming the payment that paid it."""
        params: InvoiceListParams = {
            "created": {"gte": unix(created.gte), "lt": unix(created.lt)},
            "limit": PAGE,
            "expand": [f"data.{e}" for e in INVOICE_PAYMENTS],
        }
        async for obj in self._pages("invoices.list", "/v1/invoices", params):
            yield mapping.invoice(obj)

    async def list_refunds(
        self, *, created: TimeRange | None = None, payment_id: str | None = None
    ) -> AsyncIterator[Refund]:
        """Refunds created in the range, or every refund of one payment."""
        params: RefundListParams = {"limit": PAGE}
        if created is not None:
            params["created"] = {"gte": unix(created.gte), "lt": unix(created.lt)}
        if payment_id is not None:
            params["payment_intent"] = payment_id
        async for obj in self._pages("refunds.list", "/v1/refunds", params):
            yield mapping.refund(obj)

    async def retrieve_refund(self, refund_id: str) -> Refund:
        obj = await self._fetch("refunds.retrieve", "get", path("/v1/refunds/{}", refund_id))
        return mapping.refund(obj)

    async def list_transfers(
        self, *, created: TimeRange | None = None, transfer_group: str | None = None
    ) -> AsyncIterator[Transfer]:
        """Transfers created in the range, or every transfer of one transfer group."""
        params: TransferListParams = {"limit": PAGE}
        if created is not None:
            params["created"] = {"gte": unix(created.gte), "lt": unix(created.lt)}
        if transfer_group is not None:
            params["transfer_group"] = transfer_group
        async for obj in self._pages("transfers.list", "/v1/transfers", params):
            yield mapping.transfer(obj)

    async def list_transfer_reversals(self, created: TimeRange) -> AsyncIterator[TransferReversal]:
        """Transfer reversals made in the range, each with its transfer.

        Stripe lists reversals only per transfer; across transfers they are found through
        the platform's balance transactions of type ``transfer_refund``, whose source is
        the reversal (expanded, with its transfer).
        """
        params: BalanceTransactionListParams = {
            "created": {"gte": unix(created.gte), "lt": unix(created.lt)},
            "type": "transfer_refund",
            "limit": PAGE,
            "expand": ["data.source.transfer"],
        }
        async for txn in self._pages(
            "balance_transactions.list", "/v1/balance_transactions", params
        ):
            source = txn.get("source")
            if isinstance(source, Mapping) and source.get("object") == "transfer_reversal":
                yield mapping.transfer_reversal(source)
