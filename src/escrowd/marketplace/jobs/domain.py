"""The job marketplace's pure rules: budgets, slot and job states, and how a disputed slot
follows its allocation. No database, no web."""

from __future__ import annotations

from enum import StrEnum

from escrowd.errors import ConflictError, InvalidRequestError

#: Seed 000: 15 % platform fee; the tester bears a 3 % processing cost on what the fee leaves
#: ($100 → $15 fee, $85 gross to the tester, $2.55 processing, $82.45 net).
FEE_POLICY = {
    "rate_bps": 1500,
    "processing_bearer": "payee",
    "processing_mode": "flat_rate",
    "processing_rate_bps": 300,
    "processing_base": "after_platform_fee",
}
#: The plan limit a publish uses (docs/subscriptions.md): Starter allows 5 a month.
PUBLISH_LIMIT = "published_jobs_per_month"
#: The escrow core takes at most 100 allocations, one per slot.
MAX_TESTERS = 100


class JobStatus(StrEnum):
    draft = "draft"
    #: Published and paid: slots may be claimed.
    open = "open"
    #: Every slot was paid.
    completed = "completed"
    #: Called off: its unclaimed slots were refunded.
    cancelled = "cancelled"


class SlotStatus(StrEnum):
    open = "open"
    claimed = "claimed"
    submitted = "submitted"
    rejected = "rejected"
    disputed = "disputed"
    paid = "paid"
    refunded = "refunded"


def total_budget(budget_per_tester: int, max_testers: int) -> int:
    if max_testers < 1 or max_testers > MAX_TESTERS:
        raise InvalidRequestError(
            f"A job has 1 to {MAX_TESTERS} tester slots.", param="max_testers"
        )
    return budget_per_tester * max_testers


def check_slot(status: str, allowed: tuple[SlotStatus, ...], what: str) -> None:
    if status not in allowed:
        names = " or ".join(a.value for a in allowed)
        raise ConflictError(
            f"This slot is {status}; it can be {what} only when {names}.",
            code="slot_state_conflict",
        )


def after_dispute(
    *, dispute_status: str, before: str | None, remaining: int, released: int
) -> SlotStatus | None:
    """A disputed slot's next status once its dispute ended (None while it is still open).

    Closed (withdrawn): back to where it was. Resolved: paid if money reached the tester and
    nothing is left, refunded if all went back to the client; money left after a partial
    refund waits for the client's decision again (``submitted``)."""
    if dispute_status in ("open", "under_review"):
        return None
    if dispute_status == "closed":
        return SlotStatus(before or SlotStatus.submitted.value)
    if remaining > 0:
        return SlotStatus.submitted
    return SlotStatus.paid if released > 0 else SlotStatus.refunded


def job_after(status: str, slots: list[str]) -> JobStatus | None:
    """An open job whose every slot is paid is completed."""
    if status == JobStatus.open and slots and all(s == SlotStatus.paid for s in slots):
        return JobStatus.completed
    return None
