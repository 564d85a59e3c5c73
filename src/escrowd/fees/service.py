"""Where fee policies come from: the marketplace default and per-payee overrides.

Resolution, field by field: the escrow's own ``fee_policy`` over the payee's override over the
marketplace default (``ESCROWD_FEE_POLICY``). An open slot is priced without a payee override
when the escrow is created, and priced again with its payee's override when one is assigned
(``escrows.service.assign``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.clock import Clock
from escrowd.config import Settings
from escrowd.errors import NotFoundError
from escrowd.fees.domain import FeeOverride, FeePolicy, marketplace_policy
from escrowd.fees.models import PayeeFeePolicy


def marketplace_default(settings: Settings) -> FeePolicy:
    """The marketplace's fee policy from ``ESCROWD_FEE_POLICY`` (no fee when unset)."""
    return marketplace_policy(settings.fee_policy)


#: Built once: every escrow's creation reads its payees' policies.
_POLICIES_OF: Final = select(PayeeFeePolicy).where(
    PayeeFeePolicy.party_id.in_(bindparam("ids", expanding=True))
)


async def overrides_for(session: AsyncSession, party_ids: Iterable[str]) -> dict[str, FeeOverride]:
    ids = sorted({p for p in party_ids if p})
    if not ids:
        return {}
    rows = await session.scalars(_POLICIES_OF, {"ids": ids})
    return {r.party_id: FeeOverride.from_dict(r.policy) for r in rows}


def no_policy(party_id: str) -> NotFoundError:
    return NotFoundError(
        f"{party_id} has no fee policy of its own: the marketplace default applies.",
        param="party_id",
    )


async def get(session: AsyncSession, *, party_id: str) -> PayeeFeePolicy:
    row = await session.get(PayeeFeePolicy, party_id)
    if row is None:
        raise no_policy(party_id)
    return row


async def put(
    session: AsyncSession, *, clock: Clock, party_id: str, override: FeeOverride
) -> PayeeFeePolicy:
    """Set (replace) a payee's override; it applies to escrows created from now on."""
    now = clock.now()
    row = await session.get(PayeeFeePolicy, party_id, with_for_update=True)
    if row is None:
        row = PayeeFeePolicy(party_id=party_id, created_at=now)
        session.add(row)
    row.policy = override.to_dict()
    row.updated_at = now
    await session.flush()
    return row


async def remove(session: AsyncSession, *, party_id: str) -> None:
    """Delete ``party_id``'s own policy; 404 when it has none."""
    result = await session.execute(
        delete(PayeeFeePolicy).where(PayeeFeePolicy.party_id == party_id)
    )
    if not getattr(result, "rowcount", 0):
        raise no_policy(party_id)
