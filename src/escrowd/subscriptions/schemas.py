"""API shapes: plans and subscriptions (``subs_…``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt

from escrowd.api.schemas import AmountInt, ApiObject, Currency, RequestModel
from escrowd.clock import unix
from escrowd.ids import Prefix, id_pattern
from escrowd.subscriptions.domain import Audience, SubscriptionStatus
from escrowd.subscriptions.models import Plan, Subscription

PLAN_CODE = r"^[a-z][a-z0-9_]{1,39}$"
PlanCode = Annotated[str, Field(pattern=PLAN_CODE, description="A plan's code: `pro`.")]


class PlanCreate(RequestModel):
    code: PlanCode
    name: Annotated[str, Field(min_length=1, max_length=100)]
    amount: AmountInt = Field(description="Minor units of `currency` per interval; 0 is free.")
    currency: Currency
    interval: Literal["month", "year"] = "month"
    limits: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[StrictInt, Field(ge=0)] | None,
    ] = Field(
        default_factory=dict,
        description="Limit name → how many per period; null (or absent) is unlimited.",
    )
    audience: Audience = Audience.user
    upgrade_to: PlanCode | None = Field(
        default=None, description="The plan a refusal points to when a limit is reached."
    )


class PlanObject(ApiObject):
    id: str = Field(description="The plan's code.")
    object: Literal["plan"] = "plan"
    name: str
    amount: int = Field(description="Minor units of `currency` per interval (4900 = $49.00).")
    currency: str
    interval: str
    limits: dict[str, int | None] = Field(description="null: unlimited.")
    audience: Audience = Field(description="`user`, or `organization` (its admins subscribe).")
    upgrade_to: str | None

    @classmethod
    def of(cls, row: Plan) -> PlanObject:
        return cls(
            id=row.code,
            name=row.name,
            amount=row.amount,
            currency=row.currency,
            interval=row.interval,
            limits=dict(row.limits),
            audience=Audience(row.audience),
            upgrade_to=row.upgrade_to,
        )


class SubscriptionCreate(RequestModel):
    plan: PlanCode
    payment_method: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        default=None,
        description="A card (pm_…) to pay with; saved to your customer. Default: your default "
        "card, or none (confirm the first payment with `client_secret`).",
    )
    organization: Annotated[str, Field(pattern=id_pattern(Prefix.organization))] | None = Field(
        default=None, description="For an organization plan: the organization (you are its admin)."
    )


class PlanChange(RequestModel):
    plan: PlanCode


class SubscriptionObject(ApiObject):
    id: str = Field(description="subs_…")
    object: Literal["subscription"] = "subscription"
    owner: str = Field(description="Whose plan: a user (usr_…) or an organization (org_…).")
    payer: str = Field(description="The person who subscribed; their card pays.")
    plan: str
    status: SubscriptionStatus = Field(
        description="incomplete → active ⇄ past_due → canceled; incomplete → expired "
        "(docs/subscriptions.md)."
    )
    cancel_at_period_end: bool
    current_period_end: int | None = Field(description="Unix seconds.")
    latest_invoice: str | None = Field(description="The provider's latest invoice (in_…).")
    provider_subscription: str | None
    created: int
    ended_at: int | None

    @classmethod
    def of(cls, row: Subscription) -> SubscriptionObject:
        return cls(
            id=row.id,
            owner=row.owner_id,
            payer=row.payer_id,
            plan=row.plan_code,
            status=SubscriptionStatus(row.status),
            cancel_at_period_end=row.cancel_at_period_end,
            current_period_end=None
            if row.current_period_end is None
            else unix(row.current_period_end),
            latest_invoice=row.latest_invoice,
            provider_subscription=row.provider_subscription_id,
            created=unix(row.created_at),
            ended_at=None if row.ended_at is None else unix(row.ended_at),
        )


class SubscriptionCreated(SubscriptionObject):
    client_secret: str | None = Field(
        description="Confirm the first payment with it (Stripe.js `confirmCardPayment`, which "
        "runs 3-D Secure when the card asks); null when nothing is left to confirm."
    )
