"""The pure rules of subscriptions: plans, statuses, limits and usage periods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from escrowd.errors import ConflictError


class Audience(StrEnum):
    """Who a plan is for: a person, or an organization (billed to one of its admins)."""

    user = "user"
    organization = "organization"


class SubscriptionStatus(StrEnum):
    incomplete = "incomplete"
    active = "active"
    past_due = "past_due"
    canceled = "canceled"
    expired = "expired"


STATUSES: Final = tuple(s.value for s in SubscriptionStatus)

# --- the ledger transfers of a paid invoice (ids derived from it: booked once) -------------

#: The invoice's revenue: clearing → ``platform:fees``.
REVENUE_CATEGORY: Final = "subscription"
#: The provider's processing fee on the invoice's payment: ``platform:processing_costs`` →
#: clearing, in the same category as an escrow payment's fee.
FEE_CATEGORY: Final = "processing_fee"
_INVOICE_PREFIX: Final = "in_"


def revenue_transfer_id(invoice_id: str) -> str:
    return f"{invoice_id}:{REVENUE_CATEGORY}"


def fee_transfer_id(invoice_id: str) -> str:
    return f"{invoice_id}:processing_fee"


def invoice_of_transfer(transfer_id: str, category: str | None) -> str | None:
    """The invoice a ledger transfer books (revenue or fee), or None for any other."""
    head, _, tail = transfer_id.rpartition(":")
    if not head.startswith(_INVOICE_PREFIX):
        return None
    if (category, tail) in ((REVENUE_CATEGORY, "subscription"), (FEE_CATEGORY, "processing_fee")):
        return head
    return None


#: Statuses in which a subscription still belongs to its owner (one at a time per owner).
LIVE: Final = frozenset(
    {SubscriptionStatus.incomplete, SubscriptionStatus.active, SubscriptionStatus.past_due}
)
#: Statuses in which the plan's limits apply: paid for, or in the provider's retry window.
ENTITLED: Final = frozenset({SubscriptionStatus.active, SubscriptionStatus.past_due})

#: The provider's statuses (Stripe's names) → ours.
FROM_PROVIDER: Final[Mapping[str, SubscriptionStatus]] = {
    "incomplete": SubscriptionStatus.incomplete,
    "active": SubscriptionStatus.active,
    "trialing": SubscriptionStatus.active,
    "past_due": SubscriptionStatus.past_due,
    "unpaid": SubscriptionStatus.past_due,
    "paused": SubscriptionStatus.past_due,
    "canceled": SubscriptionStatus.canceled,
    "incomplete_expired": SubscriptionStatus.expired,
}

#: Once ended, a subscription never comes back (a late event must not revive it).
FINAL: Final = frozenset({SubscriptionStatus.canceled, SubscriptionStatus.expired})


def next_status(current: SubscriptionStatus, provider_status: str) -> SubscriptionStatus:
    """The status the provider's subscription puts ours in; unknown names change nothing."""
    if current in FINAL:
        return current
    after = FROM_PROVIDER.get(provider_status, current)
    if after is SubscriptionStatus.incomplete:
        return current  # nothing goes back to waiting for its first payment
    return after


# --- plans and limits -----------------------------------------------------------------------

STARTER: Final = "starter"
PRO: Final = "pro"
TEAM: Final = "team"

PUBLISHED_JOBS_PER_MONTH: Final = "published_jobs_per_month"
#: The limits escrowd knows; a plan's ``limits`` maps each to a count or None (unlimited).
LIMITS: Final = (PUBLISHED_JOBS_PER_MONTH,)


@dataclass(frozen=True, slots=True)
class Usage:
    limit: str
    plan: str
    period: str
    used: int
    #: None: unlimited.
    maximum: int | None

    @property
    def allowed(self) -> bool:
        return self.maximum is None or self.used < self.maximum

    @property
    def remaining(self) -> int | None:
        return None if self.maximum is None else max(self.maximum - self.used, 0)


def limit_of(limits: Mapping[str, int | None], name: str) -> int | None:
    """A plan's limit; a limit the plan does not name is unlimited."""
    return limits.get(name)


def period_of(now: datetime) -> str:
    """The calendar month (UTC, escrowd's clock) a use counts in: ``2026-12``."""
    return now.astimezone(UTC).strftime("%Y-%m")


class PlanLimitReachedError(ConflictError):
    default_code = "plan_limit_reached"


def limit_reached(usage: Usage, *, plan_name: str, upgrade: str | None) -> PlanLimitReachedError:
    hint = f" Upgrade to the {upgrade} plan for more." if upgrade else ""
    return PlanLimitReachedError(
        f"The {plan_name} plan allows {usage.maximum} {usage.limit.replace('_', ' ')} "
        f"and {usage.used} were used in {usage.period}.{hint}",
        param="limit",
    )
