"""The adapter against escrowd's sandbox: Connect onboarding, transfers, reversals, payouts.

Seed 000's flow: a client pays the platform; the platform transfers the tester's share to the
tester's Express account from that charge (``source_transaction``, one ``transfer_group`` per
escrow); a payout moves it to the tester's bank. Seed 002's alternative is a destination charge
with the platform fee as ``application_fee_amount``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from ulid import ULID

from escrowd.clock import FrozenClock
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.types import (
    AccountLinkRequest,
    AccountRequest,
    AccountStatus,
    ConnectedAccount,
    PaymentRequest,
    PaymentStatus,
    PayoutRequest,
    RefundRequest,
    TransferRequest,
    TransferReversalRequest,
)
from tests.providers.conftest import Browser


def key(label: str) -> str:
    return f"test:{ULID()}:{label}"


async def onboarded(
    sandbox: StripeProvider,
    browser: Browser,
    *,
    outcome: str = "verified",
    kind: str = "individual",
) -> ConnectedAccount:
    acct = await sandbox.create_account(
        AccountRequest(idempotency_key=key("acct"), business_type=kind, email="t@e.test")  # type: ignore[arg-type]
    )
    link = await sandbox.create_account_link(
        AccountLinkRequest(
            account_id=acct.id,
            refresh_url="https://market.test/connect/refresh",
            return_url="https://market.test/connect/done",
        )
    )
    done = await browser.onboard(link.url, outcome=outcome)
    assert done.status_code == 303
    assert done.headers["location"] == "https://market.test/connect/done"
    return await sandbox.retrieve_account(acct.id)


@pytest.mark.parametrize("kind", ["individual", "company"])
async def test_a_new_account_waits_for_onboarding_with_its_requirements(
    sandbox: StripeProvider, kind: str
) -> None:
    acct = await sandbox.create_account(
        AccountRequest(idempotency_key=key("acct"), business_type=kind, metadata={"owner": "u1"})  # type: ignore[arg-type]
    )
    assert acct.id.startswith("acct_")
    assert acct.business_type == kind
    assert acct.status is AccountStatus.pending_verification
    assert (acct.charges_enabled, acct.payouts_enabled, acct.details_submitted) == (
        False,
        False,
        False,
    )
    assert acct.requirements.currently_due
    assert any(
        f.startswith(f"{kind}.") or f.startswith("company.")
        for f in acct.requirements.currently_due
    )
    assert "transfers" in acct.capabilities


async def test_an_onboarding_link_expires_within_minutes(
    sandbox: StripeProvider, clock: FrozenClock
) -> None:
    acct = await sandbox.create_account(
        AccountRequest(idempotency_key=key("acct"), business_type="individual")
    )
    link = await sandbox.create_account_link(
        AccountLinkRequest(
            account_id=acct.id, refresh_url="https://r.test", return_url="https://b.test"
        )
    )
    assert link.expires_at is not None
    assert timedelta(0) < link.expires_at - clock.now() <= timedelta(minutes=5)


async def test_onboarding_verified_on_the_hosted_page_makes_the_account_verified(
    sandbox: StripeProvider, browser: Browser
) -> None:
    acct = await onboarded(sandbox, browser)
    assert acct.status is AccountStatus.verified
    assert (acct.charges_enabled, acct.payouts_enabled, acct.details_submitted) == (
        True,
        True,
        True,
    )
    assert acct.capabilities["transfers"] == "active"
    assert not acct.requirements.currently_due
    dashboard = await sandbox.create_login_link(acct.id)
    assert dashboard.url
    assert (await browser.client.get(browser.local(dashboard.url))).status_code == 200


async def test_onboarding_restricted_on_the_hosted_page_makes_the_account_restricted(
    sandbox: StripeProvider, browser: Browser
) -> None:
    acct = await onboarded(sandbox, browser, outcome="restricted", kind="company")
    assert acct.status is AccountStatus.restricted
    assert acct.requirements.past_due
    assert acct.requirements.disabled_reason


async def test_an_escrow_is_paid_out_by_a_transfer_from_its_charge_then_partly_reversed(
    sandbox: StripeProvider, browser: Browser
) -> None:
    tester = await onboarded(sandbox, browser)
    paid = await sandbox.create_payment(
        PaymentRequest(
            idempotency_key=key("pay"),
            amount=10000,
            currency="usd",
            payment_method="pm_card_visa",
            confirm=True,
            transfer_group="esc_42",
        )
    )
    assert paid.status is PaymentStatus.succeeded
    transfer = await sandbox.create_transfer(
        TransferRequest(
            idempotency_key=key("tr"),
            amount=8500,
            currency="usd",
            destination=tester.id,
            transfer_group="esc_42",
            source_transaction=paid.latest_charge,
            metadata={"escrow": "esc_42"},
        )
    )
    assert (transfer.amount, transfer.destination, transfer.transfer_group) == (
        8500,
        tester.id,
        "esc_42",
    )
    reversal = await sandbox.reverse_transfer(
        TransferReversalRequest(idempotency_key=key("trr"), transfer_id=transfer.id, amount=500)
    )
    assert (reversal.amount, reversal.transfer_id) == (500, transfer.id)
    after = await sandbox.retrieve_transfer(transfer.id)
    assert (after.amount_reversed, after.reversed) == (500, False)


async def test_a_transfer_to_an_unknown_account_is_an_invalid_request(
    sandbox: StripeProvider,
) -> None:
    with pytest.raises(ProviderError) as caught:
        await sandbox.create_transfer(
            TransferRequest(
                idempotency_key=key("tr"), amount=100, currency="usd", destination="acct_nobody"
            )
        )
    assert caught.value.kind is ProviderErrorKind.invalid_request


async def test_a_destination_charge_keeps_the_fee_and_its_refund_pulls_both_back(
    sandbox: StripeProvider, browser: Browser
) -> None:
    tester = await onboarded(sandbox, browser)
    paid = await sandbox.create_payment(
        PaymentRequest(
            idempotency_key=key("pay"),
            amount=10000,
            currency="usd",
            payment_method="pm_card_visa",
            confirm=True,
            destination=tester.id,
            application_fee_amount=1500,
        )
    )
    assert paid.status is PaymentStatus.succeeded
    refund = await sandbox.create_refund(
        RefundRequest(
            idempotency_key=key("re"),
            payment_id=paid.id,
            amount=4000,
            reverse_transfer=True,
            refund_application_fee=True,
        )
    )
    assert (refund.amount, refund.status) == (4000, "succeeded")


async def test_a_payee_is_paid_out_from_their_connected_balance(
    sandbox: StripeProvider, browser: Browser
) -> None:
    tester = await onboarded(sandbox, browser)
    paid = await sandbox.create_payment(
        PaymentRequest(
            idempotency_key=key("pay"),
            amount=10000,
            currency="usd",
            payment_method="pm_card_bypassPending",  # funds available at once
            confirm=True,
        )
    )
    await sandbox.create_transfer(
        TransferRequest(
            idempotency_key=key("tr"),
            amount=8500,
            currency="usd",
            destination=tester.id,
            source_transaction=paid.latest_charge,
        )
    )
    payout = await sandbox.create_payout(
        PayoutRequest(idempotency_key=key("po"), amount=8500, currency="usd", account_id=tester.id)
    )
    assert (payout.amount, payout.currency) == (8500, "usd")
    assert payout.status in ("pending", "in_transit")
    assert payout.arrival_date is not None
    again = await sandbox.retrieve_payout(payout.id, account_id=tester.id)
    assert again.id == payout.id
    # The payout belongs to the connected account, not to the platform.
    with pytest.raises(ProviderError):
        await sandbox.retrieve_payout(payout.id)


async def test_the_same_transfer_key_twice_moves_money_once(
    sandbox: StripeProvider, browser: Browser
) -> None:
    tester = await onboarded(sandbox, browser)
    paid = await sandbox.create_payment(
        PaymentRequest(
            idempotency_key=key("pay"),
            amount=10000,
            currency="usd",
            payment_method="pm_card_visa",
            confirm=True,
        )
    )
    request = TransferRequest(
        idempotency_key=key("tr"),
        amount=8500,
        currency="usd",
        destination=tester.id,
        source_transaction=paid.latest_charge,
    )
    first = await sandbox.create_transfer(request)
    second = await sandbox.create_transfer(request)
    assert first.id == second.id
