"""API shapes of payouts: the request bodies and the payout object (Stripe-like, ``po_…``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, Currency, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.ids import PARTY_PATTERN
from escrowd.payouts.domain import Interval, PayoutStatus, Weekday
from escrowd.payouts.models import Payout, PayoutDestination, PayoutSchedule

#: A user or an organization id.


class PayoutCreate(RequestModel):
    amount: PositiveAmountInt = Field(
        description="Minor units of `currency`; at most the party's available balance."
    )
    currency: Currency
    party: Annotated[str, Field(pattern=PARTY_PATTERN)] | None = Field(
        default=None,
        description="Whose money: an organization you are an admin of (org_…). Default: your own.",
    )
    provider: Literal["stripe", "paypal"] = Field(
        default="stripe",
        description="Where it goes: `stripe` (default) pays out from your verified connected "
        "account to your bank; `paypal` pays your PayPal email (set it with POST "
        "/v1/payout_destination; without one: 409 `paypal_email_required`) through PayPal "
        "Payouts. Money earned in PayPal escrows is paid out with `paypal`.",
    )


class PayoutReject(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="Why the payout is rejected; the payee sees it."
    )


class PayoutObject(ApiObject):
    id: str = Field(description="po_…")
    object: Literal["payout"] = "payout"
    amount: int = Field(description="Minor units of `currency` (cents for usd).")
    currency: str
    party: str = Field(description="Whose money: a user (usr_…) or an organization (org_…).")
    status: PayoutStatus = Field(
        description="requested → approved → in_transit → paid, or failed; requested → "
        "rejected (docs/payouts.md)."
    )
    provider: str = Field(description="`stripe` or `paypal`: who pays it out.")
    account: str | None = Field(
        description="The payee's connected account (acct_…) paid out; null for a PayPal payout."
    )
    receiver_email: str | None = Field(
        description="A PayPal payout's receiver (the party's PayPal email at the request)."
    )
    provider_payout: str | None = Field(description="The provider's payout id, once made.")
    arrival_date: int | None = Field(
        description="When the provider expects the money at the bank (Unix seconds)."
    )
    reason: str | None = Field(description="Why an admin rejected it.")
    failure_code: str | None = Field(description="Why it failed (the provider's code).")
    failure_message: str | None
    created: int
    updated: int

    @classmethod
    def of(cls, row: Payout) -> PayoutObject:
        return cls(
            id=row.id,
            amount=row.amount,
            currency=row.currency,
            party=row.party_id,
            status=PayoutStatus(row.status),
            provider=row.provider,
            account=row.account_id,
            receiver_email=row.receiver_email,
            provider_payout=row.provider_payout_id,
            arrival_date=None if row.arrival_date is None else unix(row.arrival_date),
            reason=row.reason,
            failure_code=row.failure_code,
            failure_message=row.failure_message,
            created=unix(row.created_at),
            updated=unix(row.updated_at),
        )


class PayoutDestinationUpdate(RequestModel):
    paypal_email: Annotated[str, Field(min_length=3, max_length=254)] | None = Field(
        description="Your PayPal account's email: payouts requested with `provider: paypal` "
        "are paid to it. One `@`, no spaces, a dotted domain; null removes it."
    )
    party: Annotated[str, Field(pattern=PARTY_PATTERN)] | None = Field(
        default=None,
        description="Whose destination: an organization you are an admin of (org_…). "
        "Default: your own.",
    )


class PayoutDestinationObject(ApiObject):
    object: Literal["payout_destination"] = "payout_destination"
    party: str = Field(description="Whose payouts: usr_… or org_….")
    paypal_email: str | None = Field(description="Where PayPal payouts go; null: none set.")
    updated: int | None

    @classmethod
    def of(cls, party: str, row: PayoutDestination | None) -> PayoutDestinationObject:
        if row is None:
            return cls(party=party, paypal_email=None, updated=None)
        return cls(party=party, paypal_email=row.paypal_email, updated=unix(row.updated_at))


_PARTY = Field(
    default=None,
    description="Whose schedule: an organization you are an admin of (org_…). Default: your own.",
)


IntervalName = Literal["daily", "weekly", "monthly", "manual"]
WeekdayName = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class PayoutScheduleUpdate(RequestModel):
    interval: IntervalName = Field(
        description="`daily`, `weekly`, `monthly`, or `manual` (only payouts you request)."
    )
    weekly_anchor: WeekdayName | None = Field(
        default=None, description="For `weekly`: the day of the week (UTC). Default `monday`."
    )
    monthly_anchor: Annotated[int, Field(ge=1, le=31)] | None = Field(
        default=None,
        description="For `monthly`: the day of the month (UTC); 29–31 mean the month's last "
        "day in shorter months. Default 1.",
    )
    minimum_amount: Annotated[int, Field(ge=0, le=10**15)] = Field(
        default=0,
        description="Pay nothing out for a period whose available balance is below this "
        "(minor units, in each currency).",
    )
    party: Annotated[str, Field(pattern=PARTY_PATTERN)] | None = _PARTY


@dataclass(frozen=True, slots=True)
class Schedule:
    """A party's schedule row, or None: it never set one (manual)."""

    party: str
    row: PayoutSchedule | None


class PayoutScheduleObject(ApiObject):
    object: Literal["payout_schedule"] = "payout_schedule"
    party: str = Field(description="Whose money: usr_… or org_….")
    interval: Interval
    weekly_anchor: Weekday | None
    monthly_anchor: int | None
    minimum_amount: int
    last_period: str | None = Field(
        description="The first day (YYYY-MM-DD, UTC) of the last period handled: at most one "
        "automatic payout per period and currency."
    )
    skip_code: str | None = Field(
        description="Why the last run paid nothing out: the KYC gate's code (e.g. "
        "`payee_account_pending`, `payee_payouts_inactive`) or `below_minimum`."
    )
    skip_message: str | None
    skipped: int | None = Field(description="When that was (Unix seconds).")
    updated: int | None

    @classmethod
    def of(cls, schedule: Schedule) -> PayoutScheduleObject:
        row = schedule.row
        if row is None:
            return cls(
                party=schedule.party,
                interval=Interval.manual,
                weekly_anchor=None,
                monthly_anchor=None,
                minimum_amount=0,
                last_period=None,
                skip_code=None,
                skip_message=None,
                skipped=None,
                updated=None,
            )
        return cls(
            party=schedule.party,
            interval=Interval(row.interval),
            weekly_anchor=None if row.weekly_anchor is None else Weekday(row.weekly_anchor),
            monthly_anchor=row.monthly_anchor,
            minimum_amount=row.minimum_amount,
            last_period=row.last_period,
            skip_code=row.skip_code,
            skip_message=row.skip_message,
            skipped=None if row.skipped_at is None else unix(row.skipped_at),
            updated=unix(row.updated_at),
        )
