"""Stripe objects read into neutral types: account status, expandable fields, older shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from escrowd.providers.stripe import mapping
from escrowd.providers.types import AccountStatus, PaymentStatus


def account(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "acct_1",
        "object": "account",
        "business_type": "individual",
        "charges_enabled": False,
        "payouts_enabled": False,
        "details_submitted": False,
        "capabilities": {"transfers": "inactive"},
        "requirements": {
            "currently_due": [],
            "eventually_due": [],
            "past_due": [],
            "disabled_reason": None,
            "current_deadline": None,
        },
    }
    req = fields.pop("requirements", {})
    base.update(fields)
    base["requirements"] = {**base["requirements"], **req}
    return base


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        # A fresh account: Stripe reports what onboarding asks for as already past due.
        (
            {
                "requirements": {
                    "currently_due": ["individual.first_name", "external_account"],
                    "past_due": ["individual.first_name", "external_account"],
                    "disabled_reason": "requirements.past_due",
                }
            },
            AccountStatus.pending_verification,
        ),
        (
            {
                "details_submitted": True,
                "requirements": {"disabled_reason": "requirements.pending_verification"},
            },
            AccountStatus.pending_verification,
        ),
        (
            {
                "details_submitted": True,
                "charges_enabled": True,
                "payouts_enabled": True,
                "capabilities": {"transfers": "active"},
                "requirements": {"eventually_due": ["individual.id_number"]},
            },
            AccountStatus.verified,
        ),
        (
            {
                "details_submitted": True,
                "requirements": {
                    "past_due": ["individual.verification.document"],
                    "disabled_reason": "requirements.past_due",
                },
            },
            AccountStatus.restricted,
        ),
        (
            {"details_submitted": True, "requirements": {"disabled_reason": "rejected.fraud"}},
            AccountStatus.restricted,
        ),
        # Enabled, but something is due now: not verified until it is provided.
        (
            {
                "details_submitted": True,
                "charges_enabled": True,
                "payouts_enabled": True,
                "requirements": {"currently_due": ["individual.ssn_last_4"]},
            },
            AccountStatus.pending_verification,
        ),
    ],
    ids=["new", "verifying", "verified", "past-due", "rejected", "due-now"],
)
def test_account_status_follows_stripes_requirements(
    fields: dict[str, Any], status: AccountStatus
) -> None:
    assert mapping.connected_account(account(**fields)).status is status


def test_an_account_keeps_its_requirements_and_capabilities() -> None:
    acct = mapping.connected_account(
        account(
            capabilities={"transfers": "pending"},
            requirements={
                "currently_due": ["external_account"],
                "eventually_due": ["individual.id_number"],
                "past_due": ["external_account"],
                "current_deadline": 1_900_000_000,
                "disabled_reason": "requirements.past_due",
            },
        )
    )
    assert acct.capabilities == {"transfers": "pending"}
    assert acct.requirements.currently_due == ("external_account",)
    assert acct.requirements.eventually_due == ("individual.id_number",)
    assert acct.requirements.past_due == ("external_account",)
    assert acct.requirements.current_deadline == datetime.fromtimestamp(1_900_000_000, UTC)
    assert acct.requirements.disabled_reason == "requirements.past_due"


def test_a_payment_reads_the_fee_from_its_charge_s_expanded_balance_transaction() -> None:
    base = {"id": "pi_1", "status": "succeeded", "amount": 5000, "currency": "usd"}
    expanded = {"id": "ch_1", "balance_transaction": {"id": "txn_1", "fee": 175, "net": 4825}}
    assert mapping.payment({**base, "latest_charge": expanded}).fee == 175
    # Not expanded, or not settled yet: unknown, for the caller to read from the charge.
    unexpanded = {"id": "ch_1", "balance_transaction": "txn_1"}
    assert mapping.payment({**base, "latest_charge": unexpanded}).fee is None
    assert mapping.payment({**base, "latest_charge": {"id": "ch_1"}}).fee is None
    assert mapping.payment({**base, "latest_charge": "ch_1"}).fee is None


def test_a_payment_reads_the_3ds_url_and_the_capture_deadline_from_the_expanded_charge() -> None:
    pay = mapping.payment(
        {
            "id": "pi_1",
            "status": "requires_action",
            "amount": 5000,
            "currency": "usd",
            "capture_method": "manual",
            "client_secret": "pi_1_secret_x",
            "customer": {"id": "cus_1", "object": "customer"},
            "payment_method": "pm_1",
            "latest_charge": {
                "id": "ch_1",
                "payment_method_details": {"card": {"capture_before": 1_900_000_000}},
            },
            "next_action": {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": "https://hooks.test/3ds", "return_url": "https://b"},
            },
        }
    )
    assert pay.status is PaymentStatus.requires_action
    assert (pay.customer, pay.latest_charge) == ("cus_1", "ch_1")
    assert pay.next_action_url == "https://hooks.test/3ds"
    assert pay.client_secret == "pi_1_secret_x"
    assert pay.capture_before == datetime.fromtimestamp(1_900_000_000, UTC)
    # Fields a server left out read as zero, not as an error after money moved.
    assert (pay.amount_capturable, pay.amount_received) == (0, 0)


def test_a_failed_payment_carries_the_human_message_of_its_decline() -> None:
    pay = mapping.payment(
        {
            "id": "pi_1",
            "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"},
        }
    )
    assert pay.last_error is not None
    assert pay.last_error.message == "Your card has insufficient funds."


def test_legacy_payment_statuses_are_read_as_their_current_names() -> None:
    assert mapping.payment_status("requires_source") is PaymentStatus.requires_payment_method
    assert mapping.payment_status("requires_source_action") is PaymentStatus.requires_action


def test_a_charge_reads_the_fee_from_its_expanded_balance_transaction() -> None:
    ch = mapping.charge(
        {
            "id": "ch_1",
            "amount": 10000,
            "amount_captured": 10000,
            "currency": "usd",
            "captured": True,
            "balance_transaction": {"id": "txn_1", "fee": 320, "net": 9680},
        }
    )
    assert (ch.fee, ch.net, ch.balance_transaction) == (320, 9680, "txn_1")
    unexpanded = mapping.charge({"id": "ch_1", "balance_transaction": "txn_1"})
    assert (unexpanded.fee, unexpanded.balance_transaction) == (None, "txn_1")


@pytest.mark.parametrize(
    "invoice",
    [
        {"id": "in_1", "confirmation_secret": {"client_secret": "pi_9_secret_a"}},
        {"id": "in_1", "payment_intent": {"id": "pi_9", "client_secret": "pi_9_secret_a"}},
    ],
    ids=["current-api", "before-2025-03-31"],
)
def test_a_subscription_reads_its_first_invoice_secret_in_either_api_shape(
    invoice: dict[str, Any],
) -> None:
    sub = mapping.subscription(
        {
            "id": "sub_1",
            "status": "incomplete",
            "customer": "cus_1",
            "cancel_at_period_end": False,
            "items": {"data": [{"price": {"id": "price_1"}, "current_period_end": 1_900_000_000}]},
            "latest_invoice": invoice,
        }
    )
    assert (sub.client_secret, sub.latest_invoice, sub.price_id) == (
        "pi_9_secret_a",
        "in_1",
        "price_1",
    )
    assert sub.current_period_end == datetime.fromtimestamp(1_900_000_000, UTC)


_PAID = {
    "id": "in_1",
    "status": "paid",
    "amount_due": 4900,
    "amount_paid": 4900,
    "currency": "usd",
    "customer": "cus_1",
}


@pytest.mark.parametrize(
    "shape",
    [
        {
            "payments": {
                "object": "list",
                "data": [
                    {"status": "canceled", "payment": {"payment_intent": "pi_old"}},
                    {
                        "status": "paid",
                        "payment": {"type": "payment_intent", "payment_intent": {"id": "pi_9"}},
                    },
                ],
            }
        },
        {"payment_intent": "pi_9", "charge": None},
    ],
    ids=["current-api", "before-2025-03-31"],
)
def test_an_invoice_names_the_payment_that_paid_it_in_either_api_shape(
    shape: dict[str, Any],
) -> None:
    assert mapping.invoice({**_PAID, **shape}).payment_id == "pi_9"


def test_an_invoice_not_paid_yet_names_no_payment() -> None:
    open_ = {**_PAID, "status": "open", "amount_paid": 0}
    listed = {"payments": {"data": [{"status": "open", "payment": {"payment_intent": "pi_9"}}]}}
    assert mapping.invoice({**open_, **listed}).payment_id is None


def test_a_payment_names_its_invoice_where_the_api_version_does() -> None:
    pi = {"id": "pi_9", "status": "succeeded", "amount": 4900, "currency": "usd"}
    assert mapping.payment_record({**pi, "invoice": "in_1"}).invoice_id == "in_1"
    assert mapping.payment_record(pi).invoice_id is None
