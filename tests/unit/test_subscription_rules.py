"""The pure rules of subscriptions: statuses from the provider's, usage periods, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from escrowd.subscriptions.domain import (
    SubscriptionStatus,
    Usage,
    limit_reached,
    next_status,
    period_of,
)

S = SubscriptionStatus


@pytest.mark.parametrize(
    ("current", "provider", "expected"),
    [
        (S.incomplete, "active", S.active),
        (S.incomplete, "incomplete_expired", S.expired),
        (S.active, "past_due", S.past_due),
        (S.past_due, "active", S.active),
        (S.active, "canceled", S.canceled),
        (S.active, "incomplete", S.active),  # never back to waiting for the first payment
        (S.canceled, "active", S.canceled),  # ended stays ended
        (S.expired, "active", S.expired),
        (S.active, "something_new", S.active),
        (S.active, "trialing", S.active),
        (S.active, "unpaid", S.past_due),
    ],
)
def test_the_provider_status_moves_ours(current: S, provider: str, expected: S) -> None:
    assert next_status(current, provider) is expected


def test_a_use_counts_in_the_utc_calendar_month() -> None:
    assert period_of(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == "2026-12"
    assert period_of(datetime(2027, 1, 1, 0, 0, tzinfo=UTC)) == "2027-01"


def test_a_used_up_limit_names_the_plan_and_the_upgrade() -> None:
    usage = Usage(
        limit="published_jobs_per_month", plan="starter", period="2026-12", used=5, maximum=5
    )
    assert not usage.allowed
    assert usage.remaining == 0
    error = limit_reached(usage, plan_name="Starter", upgrade="Pro")
    assert (error.http_status, error.code, error.param) == (409, "plan_limit_reached", "limit")
    assert "Starter plan allows 5 published jobs per month" in error.message
    assert "Upgrade to the Pro plan" in error.message
    unlimited = Usage(
        limit="published_jobs_per_month", plan="pro", period="2026-12", used=10_000, maximum=None
    )
    assert unlimited.allowed
    assert unlimited.remaining is None
