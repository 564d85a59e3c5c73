"""API shapes of per-payee fee policies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from escrowd.api.schemas import RequestModel
from escrowd.clock import unix
from escrowd.fees.models import PayeeFeePolicy


class FeePolicySet(RequestModel):
    #: Fields of a fee policy to override for this payee (docs/escrows.md): rate_bps, fixed,
    #: processing_bearer, processing_mode, processing_rate_bps, processing_fixed,
    #: processing_base. Rates are basis points as integers or decimal strings.
    fee_policy: dict[str, Any]


class PayeeFeePolicyObject(BaseModel):
    id: str
    object: Literal["payee_fee_policy"] = "payee_fee_policy"
    fee_policy: dict[str, Any]
    created: int
    updated: int

    @classmethod
    def of(cls, row: PayeeFeePolicy) -> PayeeFeePolicyObject:
        return cls(
            id=row.party_id,
            fee_policy=row.policy,
            created=unix(row.created_at),
            updated=unix(row.updated_at),
        )
