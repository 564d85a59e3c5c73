"""The accounts' pure rules: owners, staleness, and the KYC gate's wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escrowd.accounts.domain import (
    AccountView,
    business_type_for,
    is_stale,
    listed,
    owner_type_of,
    payee_problem,
)
from escrowd.errors import InvalidRequestError
from escrowd.sandbox.stripe.resources.accounts import initially_due

USER = "usr_01J9Z3Q4K5M6N7P8R9S0T1V2W3"
ORG = "org_01J9Z3Q4K5M6N7P8R9S0T1V2W3"
T = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def view(status: str, **kw: object) -> AccountView:
    base: dict[str, object] = {
        "id": "acct_01J9Z3Q4K5M6N7P8R9S0T1V2W3",
        "status": status,
        "provider_account_id": "acct_1Stripe",
        "details_submitted": True,
        "requirements": {},
        "capabilities": {"transfers": "active"},
    }
    return AccountView(**{**base, **kw})  # type: ignore[arg-type]


def test_a_user_is_an_individual_and_an_organization_a_company() -> None:
    assert (owner_type_of(USER), business_type_for("user")) == ("user", "individual")
    assert (owner_type_of(ORG), business_type_for("organization")) == ("organization", "company")
    with pytest.raises(InvalidRequestError):
        owner_type_of("acct_01J9Z3Q4K5M6N7P8R9S0T1V2W3")


def test_an_event_is_stale_only_when_a_whole_second_older_than_the_state() -> None:
    assert is_stale(T - timedelta(seconds=1), T)
    assert not is_stale(T, T + timedelta(milliseconds=900))
    assert not is_stale(T + timedelta(seconds=1), T)


def test_long_requirement_lists_are_summarized() -> None:
    assert listed(["a", "b"]) == "a, b"
    assert listed([str(i) for i in range(8)]) == "0, 1, 2, 3, 4 and 3 more"


def test_the_gate_lets_a_verified_account_with_active_transfers_through() -> None:
    assert payee_problem(USER, view("verified")) is None
    assert payee_problem(USER, view("verified", capabilities={})) is None
    refused = payee_problem(USER, view("verified", capabilities={"transfers": "pending"}))
    assert refused is not None
    assert refused.code == "payee_transfers_inactive"


def test_the_gate_names_what_a_new_sandbox_account_still_needs() -> None:
    due = initially_due("individual")
    refused = payee_problem(
        USER,
        view(
            "pending_verification",
            details_submitted=False,
            requirements={"currently_due": due},
        ),
    )
    assert refused is not None
    assert "(currently due: business_profile.mcc, business_profile.url, external_account, " in (
        refused.message
    )
    assert f" and {len(due) - 5} more)" in refused.message


def test_the_gate_says_when_the_provider_is_still_verifying() -> None:
    refused = payee_problem(ORG, view("pending_verification"))
    assert refused is not None
    assert "the payment provider is verifying the details submitted" in refused.message


def test_a_restricted_account_without_past_due_items_says_why_it_is_disabled() -> None:
    refused = payee_problem(
        USER, view("restricted", requirements={"disabled_reason": "rejected.fraud"})
    )
    assert refused is not None
    assert "is restricted: disabled (rejected.fraud)" in refused.message
