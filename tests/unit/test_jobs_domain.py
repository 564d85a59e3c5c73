"""Seed 000's pure rules (budgets, slots following disputes, completion) and the rate
limiter's sliding window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escrowd.api.rate_limit import Limit, admit
from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.fees.domain import FeePolicy, allocation_breakdown
from escrowd.marketplace.jobs import domain
from escrowd.marketplace.jobs.domain import JobStatus, SlotStatus

LIMIT = Limit("test", 5, timedelta(minutes=1))


def test_total_budget_is_budget_per_tester_times_slots() -> None:
    assert domain.total_budget(10_000, 3) == 30_000
    for bad in (0, domain.MAX_TESTERS + 1):
        with pytest.raises(InvalidRequestError):
            domain.total_budget(10_000, bad)


def test_the_seed_fee_policy_pays_a_100_dollar_slot_82_45() -> None:
    policy = FeePolicy.from_dict(domain.FEE_POLICY)
    b = allocation_breakdown(10_000, policy)
    assert (b.platform_fee, b.payee_processing, b.net, b.charged) == (1_500, 255, 8_245, 10_000)


@pytest.mark.parametrize(
    ("dispute", "before", "remaining", "released", "after"),
    [
        ("open", "submitted", 10_000, 0, None),
        ("under_review", "rejected", 10_000, 0, None),
        ("closed", "rejected", 10_000, 0, SlotStatus.rejected),
        ("closed", None, 10_000, 0, SlotStatus.submitted),
        ("resolved", "rejected", 0, 10_000, SlotStatus.paid),
        ("resolved", "submitted", 0, 0, SlotStatus.refunded),
        ("resolved", "submitted", 6_000, 0, SlotStatus.submitted),
        ("resolved", "submitted", 0, 7_000, SlotStatus.paid),
    ],
)
def test_a_disputed_slot_follows_its_dispute(
    dispute: str, before: str | None, remaining: int, released: int, after: SlotStatus | None
) -> None:
    got = domain.after_dispute(
        dispute_status=dispute, before=before, remaining=remaining, released=released
    )
    assert got == after


def test_a_job_completes_when_every_slot_is_paid() -> None:
    assert domain.job_after("open", ["paid", "paid"]) == JobStatus.completed
    assert domain.job_after("open", ["paid", "submitted"]) is None
    assert domain.job_after("cancelled", ["paid", "paid"]) is None
    assert domain.job_after("open", []) is None


def test_slot_actions_are_refused_in_other_states() -> None:
    domain.check_slot("submitted", (SlotStatus.submitted,), "approved")
    with pytest.raises(ConflictError) as e:
        domain.check_slot("claimed", (SlotStatus.submitted,), "approved")
    assert e.value.code == "slot_state_conflict"


def test_the_window_slides_and_retry_after_names_the_oldest_attempt() -> None:
    hits: list[int] = []
    for t in range(0, 50_000, 10_000):
        hits, wait = admit(hits, now_ms=t, limit=LIMIT)
        assert wait is None
    assert len(hits) == 5
    full, wait = admit(hits, now_ms=55_000, limit=LIMIT)
    assert (full, wait) == (hits, 5)  # refused: nothing counted
    _, wait = admit(hits, now_ms=59_999, limit=LIMIT)
    assert wait == 1  # never 0
    hits, wait = admit(hits, now_ms=60_000, limit=LIMIT)
    assert wait is None
    assert hits == [10_000, 20_000, 30_000, 40_000, 60_000]
