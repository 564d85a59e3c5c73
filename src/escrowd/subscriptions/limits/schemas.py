"""API shapes: a limit check and a recorded use (``use_…``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, RequestModel
from escrowd.clock import unix
from escrowd.ids import PARTY_PATTERN
from escrowd.subscriptions.domain import Usage
from escrowd.subscriptions.limits.models import UsageRecord

LimitName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The limit: `published_jobs_per_month`.",
    ),
]
Owner = Annotated[str, Field(pattern=PARTY_PATTERN)]


class LimitCheck(RequestModel):
    limit: LimitName
    owner: Owner | None = Field(
        default=None,
        description="Whose limit: you (default), an organization you belong to; platform keys "
        "name anyone.",
    )


class UsageCreate(LimitCheck):
    key: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        description="The use's own key (the job's id): the same key counts once."
    )


class LimitObject(ApiObject):
    object: Literal["limit"] = "limit"
    limit: str
    owner: str
    plan: str
    period: str = Field(description="The calendar month (UTC) uses count in: `2026-12`.")
    allowed: bool = Field(description="Whether one more use fits.")
    used: int
    maximum: int | None = Field(description="null: unlimited.")
    remaining: int | None = Field(description="null: unlimited.")

    @classmethod
    def of(cls, owner: str, usage: Usage) -> LimitObject:
        return cls(
            limit=usage.limit,
            owner=owner,
            plan=usage.plan,
            period=usage.period,
            allowed=usage.allowed,
            used=usage.used,
            maximum=usage.maximum,
            remaining=usage.remaining,
        )


class UsageObject(ApiObject):
    id: str = Field(description="use_…")
    object: Literal["usage_record"] = "usage_record"
    key: str
    limit: LimitObject
    created: int

    @classmethod
    def of(cls, row: UsageRecord, usage: Usage) -> UsageObject:
        return cls(
            id=row.id,
            key=row.key,
            limit=LimitObject.of(row.owner_id, usage),
            created=unix(row.created_at),
        )
