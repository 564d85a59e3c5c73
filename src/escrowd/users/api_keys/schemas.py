"""Request and response shapes for platform API keys."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, RequestModel
from escrowd.clock import unix
from escrowd.users.api_keys import models
from escrowd.users.schemas import Name


class ApiKeyCreate(RequestModel):
    name: Name = Field(description="What the key is for, e.g. 'billing backend'.")


class ApiKey(ApiObject):
    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    redacted: str = Field(description="The key with its secret part hidden, e.g. ek_…abcd.")
    created: int
    created_by: str | None
    last_used: int | None = Field(description="Unix time of the last use (to the minute).")
    revoked: bool
    revoked_at: int | None

    @classmethod
    def of(cls, k: models.ApiKey) -> ApiKey:
        return cls(
            id=k.id,
            name=k.name,
            redacted=f"ek_…{k.last4}",
            created=unix(k.created_at),
            created_by=k.created_by,
            last_used=unix(k.last_used_at) if k.last_used_at else None,
            revoked=k.revoked_at is not None,
            revoked_at=unix(k.revoked_at) if k.revoked_at else None,
        )


class ApiKeyWithSecret(ApiKey):
    secret: str = Field(
        description="The full key. Shown only in this response: store it now, it cannot be "
        "retrieved again."
    )
