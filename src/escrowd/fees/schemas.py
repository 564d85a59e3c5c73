"""API shapes of per-payee fee policies."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel

from escrowd.api.schemas import RequestModel, component
from escrowd.clock import unix
from escrowd.fees.domain import Bearer, ProcessingBase, ProcessingMode
from escrowd.fees.models import PayeeFeePolicy
from escrowd.money import BPS, MAX_AMOUNT


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _rate(what: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": BPS},
            # 0 to 10000 with up to 4 decimals, as escrowd.fees.domain._check_rate reads it.
            {
                "type": "string",
                "pattern": r"^(?:(?:0|[1-9][0-9]{0,3})(?:\.[0-9]{1,4})?|10000(?:\.0{1,4})?)$",
            },
            {"type": "null"},
        ],
        "description": f"{what}, in basis points (1500 = 15 %): an integer, or a decimal "
        'string with up to 4 decimals ("2.9"), from 0 to 10000.',
    }


def _fixed(what: str) -> dict[str, Any]:
    return _nullable({"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT, "description": what})


def _choice(values: tuple[str, ...], what: str) -> dict[str, Any]:
    return _nullable({"type": "string", "enum": list(values), "description": what})


#: What ``fee_policy`` may say: the fields of escrowd.fees.domain.FeeOverride, each optional
#: (left out or null, it is inherited). Stated for the document only: FeeOverride.from_dict
#: checks it, so a bad one keeps its own codes (`fee_policy_invalid`, `parameter_unknown`).
FeePolicyOverride = Annotated[
    dict[str, Any],
    component(
        "FeePolicyOverride",
        {
            "type": "object",
            "description": "Fee policy fields to override; any left out (or null) are "
            "inherited (docs/escrows.md).",
            "properties": {
                "rate_bps": _rate("The platform's fee rate"),
                "fixed": _fixed("The platform's fixed fee per allocation, in minor units."),
                "processing_bearer": _choice(
                    get_args(Bearer), "Who bears the provider's processing cost."
                ),
                "processing_mode": _choice(
                    get_args(ProcessingMode),
                    "The provider's actual fee split pro rata, or a flat rate per allocation.",
                ),
                "processing_rate_bps": _rate("flat_rate only: the processing rate"),
                "processing_fixed": _fixed(
                    "flat_rate only: the fixed processing part per allocation, in minor units."
                ),
                "processing_base": _choice(
                    get_args(ProcessingBase),
                    "flat_rate only: the rate applies to the gross or to what is left after "
                    "the platform fee.",
                ),
            },
            "additionalProperties": False,
        },
    ),
]


class FeePolicySet(RequestModel):
    #: Fields of a fee policy to override for this payee (docs/escrows.md). Rates are basis
    #: points as integers or decimal strings.
    fee_policy: FeePolicyOverride


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
