"""Admin endpoints for per-payee fee policies (the middle layer of fee resolution)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from escrowd.api.auth import AdminPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import retrieve_route, write_route
from escrowd.api.schemas import DeletedObject
from escrowd.api.strict_json import APIRouter
from escrowd.fees import service as fee_policies
from escrowd.fees.domain import FeeOverride
from escrowd.fees.schemas import FeePolicySet, PayeeFeePolicyObject
from escrowd.ids import PARTY_PATTERN

PartyPath = Annotated[
    str,
    Path(
        pattern=PARTY_PATTERN,
        description="The payee: a user (usr_…) or an organization (org_…).",
    ),
]

router = APIRouter(prefix="/fee_policies", tags=["fees"])


@router.post(
    "/{party_id}",
    **write_route(
        "Set a payee's own fee policy (applies to escrows created from now on)",
        PayeeFeePolicyObject,
        400,
        401,
        403,
    ),
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
    "/{party_id}", **retrieve_route("Retrieve a payee's own fee policy", PayeeFeePolicyObject, 403)
)
async def get_payee_fee_policy(
    party_id: PartyPath, session: SessionDep, _: AdminPrincipal
) -> PayeeFeePolicyObject:
    return PayeeFeePolicyObject.of(await fee_policies.get(session, party_id=party_id))


@router.delete(
    "/{party_id}",
    **write_route(
        "Remove a payee's own fee policy (the marketplace default applies again)",
        DeletedObject,
        401,
        403,
        404,
    ),
)
async def delete_payee_fee_policy(
    party_id: PartyPath, session: SessionDep, _: AdminPrincipal
) -> DeletedObject:
    await fee_policies.remove(session, party_id=party_id)
    return DeletedObject(id=party_id, object="payee_fee_policy")
