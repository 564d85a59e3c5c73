"""Table: payee_fee_policies, a payee's own fee policy (migration 0010)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime


class PayeeFeePolicy(Base):
    __tablename__ = "payee_fee_policies"

    #: The payee: a user (``usr_…``) or an organization (``org_…``).
    party_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: The override's fields as ``FeeOverride.to_dict`` writes them.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
