"""The notification rules (escrowd.notifications.domain): who is told what, from event data."""

from __future__ import annotations

from typing import Any

from escrowd.events.domain import EventType
from escrowd.notifications.domain import (
    PENDING_EVENT_TYPES,
    RULES,
    NotificationType,
    amount_text,
    drafts_for,
)

ESCROW: dict[str, Any] = {
    "id": "esc_1",
    "object": "escrow",
    "payer": "usr_payer",
    "amount": 2500,
    "currency": "usd",
    "description": None,
    "allocations": [{"payee": "usr_a"}, {"payee": "org_b"}, {"payee": None}],
    "last_payment_error": {"message": "Your card was declined."},
}
ACCOUNT: dict[str, Any] = {
    "id": "acct_1",
    "object": "account",
    "owner_id": "org_owner",
    "status": "verified",
    "requirements": {"currently_due": [], "past_due": []},
    "capabilities": {"transfers": "active"},
}


def test_amounts_are_shown_in_major_units_of_their_currency() -> None:
    assert amount_text(2500, "usd") == "25.00 USD"
    assert amount_text(5, "eur") == "0.05 EUR"
    assert amount_text(1200, "jpy") == "1200 JPY"
    assert amount_text(-150, "usd") == "-1.50 USD"


def test_every_rule_is_keyed_by_a_known_or_a_pending_event_type() -> None:
    known = {t.value for t in EventType}
    assert set(RULES) <= known | set(PENDING_EVENT_TYPES)


def test_funded_tells_the_payer_and_every_payee_with_one() -> None:
    payer, payees = drafts_for("escrow.funded", ESCROW, None)
    assert payer.type is payees.type is NotificationType.payment_received
    assert payer.parties == ("usr_payer",)
    assert payees.parties == ("usr_a", "org_b")
    assert "25.00 USD" in payer.title


def test_a_failed_payment_says_why() -> None:
    [draft] = drafts_for("payment.failed", ESCROW, None)
    assert draft.type is NotificationType.payment_failed
    assert "Your card was declined." in draft.body


def test_types_without_a_rule_notify_nobody() -> None:
    assert drafts_for("escrow.captured", ESCROW, None) == []
    assert drafts_for("no.such.type", ESCROW, None) == []


def test_an_account_with_new_requirements_needs_information() -> None:
    now = {**ACCOUNT, "requirements": {"currently_due": ["individual.id_number"], "past_due": []}}
    [draft] = drafts_for("account.updated", now, {"requirements": ACCOUNT["requirements"]})
    assert draft.type is NotificationType.account_needs_information
    assert draft.parties == ("org_owner",)
    assert "individual.id_number" in draft.body
    # The same requirements again (another field changed) are not news.
    assert drafts_for("account.updated", now, {"requirements": now["requirements"]}) == []
    # Requirements met: nothing to ask for.
    assert drafts_for("account.updated", ACCOUNT, {"requirements": now["requirements"]}) == []


def test_a_capability_that_stops_being_active_is_a_restriction() -> None:
    now = {**ACCOUNT, "capabilities": {"transfers": "inactive"}}
    [draft] = drafts_for("account.updated", now, {"capabilities": {"transfers": "active"}})
    assert draft.type is NotificationType.capability_restricted
    assert "transfers" in draft.body
    restricted = {**ACCOUNT, "status": "restricted"}
    [by_status] = drafts_for("account.updated", restricted, {"status": "verified"})
    assert by_status.type is NotificationType.capability_restricted
    # Becoming active is good news, not a restriction.
    assert drafts_for("account.updated", ACCOUNT, {"capabilities": {"transfers": "inactive"}}) == []


def test_titles_and_bodies_fit_their_columns() -> None:
    long = {**ESCROW, "description": "x" * 5000}
    for draft in drafts_for("escrow.funded", long, None):
        assert len(draft.title) <= 200
        assert len(draft.body) <= 1000


def test_a_release_tells_the_allocations_payee_the_net() -> None:
    allocation = {"id": "alloc_1", "escrow": "esc_1", "payee": "usr_a", "currency": "usd"}
    [draft] = drafts_for("allocation.released", {**allocation, "net_released": 1800}, None)
    assert draft.parties == ("usr_a",)
    assert draft.title == "18.00 USD was released to you"
