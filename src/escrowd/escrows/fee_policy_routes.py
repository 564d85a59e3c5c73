"""Admin endpoints for per-payee fee policies (the middle layer of fee resolution)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel

from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.schemas import DeletedObject, RequestModel, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.clock import unix
from escrowd.escrows import fee_policies
from escrowd.escrows.fees import FeeOverride
from escrowd.escrows.schemas import FeePolicyOverride
from escrowd.users.auth import AdminPrincipal

PartyPath = Annotated[
    str,
    Path(
        pattern=r"^(usr|org)_[0-9A-HJKMNP-TV-Z]{26}$",
        description="The payee: a user (usr_…) or an organization (org_…).",
    ),
]

router = APIRouter(prefix="/fee_policies", tags=["fees"])


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
    def of(cls, row: fee_policies.PayeeFeePolicy) -> PayeeFeePolicyObject:
        return cls(
            id=row.party_id,
            fee_policy=row.policy,
            created=unix(row.created_at),
            updated=unix(row.updated_at),
        )


@router.post(
    "/{party_id}",
    summary="Set a payee's own fee policy (applies to escrows created from now on)",
    response_model=PayeeFeePolicyObject,
    responses=error_responses(400, 401, 403),
)
async def set_payee_fee_policy(
    party_id: PartyPath,
    body: FeePolicySet,
    session: SessionDep,
    container: ContainerDep,
    _: AdminPrincipal,
) -> PayeeFeePolicyObject:
    override = FeeOverride.from_dict(body.fee_policy, param="fee_policy")
    row = await fee_policies.put(
        session, clock=container.clock, party_id=party_id, override=override
    )
    return PayeeFeePolicyObject.of(row)


@router.get(
    "/{party_id}",
    summary="Retrieve a payee's own fee policy",
    response_model=PayeeFeePolicyObject,
    responses=error_responses(401, 403, 404),
)
async def get_payee_fee_policy(
    party_id: PartyPath, session: SessionDep, _: AdminPrincipal
) -> PayeeFeePolicyObject:
    return PayeeFeePolicyObject.of(await fee_policies.get(session, party_id=party_id))


@router.delete(
    "/{party_id}",
    summary="Remove a payee's own fee policy (the marketplace default applies again)",
    response_model=DeletedObject,
    responses=error_responses(401, 403, 404),
)
async def delete_payee_fee_policy(
    party_id: PartyPath, session: SessionDep, _: AdminPrincipal
) -> DeletedObject:
    await fee_policies.get(session, party_id=party_id)
    await fee_policies.remove(session, party_id=party_id)
    return DeletedObject(id=party_id, object="payee_fee_policy")
