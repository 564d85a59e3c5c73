"""Connect: Express accounts, onboarding and dashboard links, transfers, reversals, payouts."""

from __future__ import annotations

from stripe.params import (
    AccountCreateParams,
    AccountLinkCreateParams,
    PayoutCreateParams,
    TransferCreateParams,
    TransferReversalCreateParams,
)

from escrowd.providers.errors import unsupported
from escrowd.providers.stripe import mapping
from escrowd.providers.stripe.core import StripeCore, options, path
from escrowd.providers.types import (
    AccountLinkRequest,
    AccountRequest,
    ConnectedAccount,
    Link,
    Payout,
    PayoutRequest,
    Transfer,
    TransferRequest,
    TransferReversal,
    TransferReversalRequest,
)


class ConnectMixin(StripeCore):
    # --- connected accounts --------------------------------------------------------------

    async def create_account(self, req: AccountRequest) -> ConnectedAccount:
        # Express: Stripe hosts onboarding and the payee's dashboard. ``type`` is what the
        # OpenAPI spec escrowd validates against knows (``controller`` came later); Stripe
        # still accepts it and maps it onto the same controller settings.
        params: AccountCreateParams = {
            "type": "express",
            "country": req.country,
            "business_type": req.business_type,
            # Only transfers: payments are charged on the platform and moved with transfers.
            "capabilities": {"transfers": {"requested": True}},
        }
        if req.email:
            params["email"] = req.email
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "accounts.create",
            "post",
            "/v1/accounts",
            params,
            options(req.idempotency_key),
        )
        return mapping.connected_account(obj)

    async def retrieve_account(self, account_id: str) -> ConnectedAccount:
        obj = await self._fetch("accounts.retrieve", "get", path("/v1/accounts/{}", account_id))
        return mapping.connected_account(obj)

    async def create_account_link(self, req: AccountLinkRequest) -> Link:
        # Links are single-use and expire within minutes: never cached, made on each visit
        # (``refresh_url`` is where Stripe sends the payee to get a fresh one).
        params: AccountLinkCreateParams = {
            "account": req.account_id,
            "refresh_url": req.refresh_url,
            "return_url": req.return_url,
            "type": req.type,
        }
        obj = await self._fetch("account_links.create", "post", "/v1/account_links", params)
        return mapping.link(obj)

    async def create_login_link(self, account_id: str) -> Link:
        obj = await self._fetch(
            "accounts.login_links.create",
            "post",
            path("/v1/accounts/{}/login_links", account_id),
        )
        return mapping.link(obj)

    # --- transfers and payouts -----------------------------------------------------------

    async def create_transfer(self, req: TransferRequest) -> Transfer:
        params: TransferCreateParams = {
            "amount": req.amount,
            "currency": req.currency,
            "destination": req.destination,
        }
        if req.transfer_group:
            params["transfer_group"] = req.transfer_group
        if req.source_transaction:
            # Paid from that charge's funds, so the transfer need not wait for them to settle.
            params["source_transaction"] = req.source_transaction
        if req.description:
            params["description"] = req.description
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "transfers.create",
            "post",
            "/v1/transfers",
            params,
            options(req.idempotency_key),
        )
        return mapping.transfer(obj)

    async def retrieve_transfer(self, transfer_id: str) -> Transfer:
        obj = await self._fetch("transfers.retrieve", "get", path("/v1/transfers/{}", transfer_id))
        return mapping.transfer(obj)

    async def reverse_transfer(self, req: TransferReversalRequest) -> TransferReversal:
        params: TransferReversalCreateParams = {}
        if req.amount is not None:
            params["amount"] = req.amount
        if req.refund_application_fee is not None:
            params["refund_application_fee"] = req.refund_application_fee
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        obj = await self._fetch(
            "transfers.reversals.create",
            "post",
            path("/v1/transfers/{}/reversals", req.transfer_id),
            params,
            options(req.idempotency_key),
        )
        return mapping.transfer_reversal(obj)

    async def create_payout(self, req: PayoutRequest) -> Payout:
        if req.receiver_email is not None:
            # Stripe pays out a balance to its bank account, never to an email address.
            raise unsupported("stripe", "payouts to an email address", label="Stripe")
        params: PayoutCreateParams = {"amount": req.amount, "currency": req.currency}
        if req.description:
            params["description"] = req.description
        if req.metadata:
            params["metadata"] = dict(req.metadata)
        # On a connected account the call is made as that account (Stripe-Account header):
        # its balance goes to its own bank account.
        obj = await self._fetch(
            "payouts.create",
            "post",
            "/v1/payouts",
            params,
            options(req.idempotency_key, account=req.account_id),
        )
        return mapping.payout(obj)

    async def retrieve_payout(self, payout_id: str, *, account_id: str | None = None) -> Payout:
        obj = await self._fetch(
            "payouts.retrieve",
            "get",
            path("/v1/payouts/{}", payout_id),
            None,
            options(account=account_id),
        )
        return mapping.payout(obj)
