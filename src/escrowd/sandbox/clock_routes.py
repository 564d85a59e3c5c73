"""The sandbox clock in escrowd's own API (admin only), mounted by the app under ``/v1``:

- ``GET /v1/sandbox/clock``: the sandbox's time (real time plus the stored offset).
- ``POST /v1/sandbox/clock/advance`` ``{"seconds": 604800}``: move it forward and run what
  comes due (authorizations expire, payouts arrive, subscriptions renew). Webhooks for what
  happened are sent by the background delivery step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from escrowd.api.auth import AdminPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.schemas import error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.errors import ConflictError
from escrowd.sandbox.stripe import clock
from escrowd.sandbox.stripe.clock import MAX_ADVANCE, ClockState
from escrowd.sandbox.stripe.due import run_due

router = APIRouter(prefix="/sandbox/clock", tags=["sandbox"])


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: int = Field(
        ge=1, le=MAX_ADVANCE, description="How far to move the sandbox clock forward."
    )


class SandboxClock(BaseModel):
    object: Literal["sandbox_clock"] = "sandbox_clock"
    now: int = Field(description="The sandbox's time, unix seconds.")
    offset_seconds: int = Field(description="How far the sandbox runs ahead of real time.")
    real_now: int = Field(description="escrowd's own clock, unix seconds.")
    handled: int = Field(0, description="Objects that came due and were handled (advance).")

    @classmethod
    def of(cls, state: ClockState, handled: int = 0) -> SandboxClock:
        return cls(handled=handled, **state.as_dict())


def _sandbox_only(container: ContainerDep) -> None:
    if container.settings.provider != "sandbox":
        raise ConflictError(
            "The sandbox clock exists only in sandbox mode (ESCROWD_PROVIDER=sandbox).",
            code="sandbox_disabled",
        )


@router.get(
    "",
    response_model=SandboxClock,
    summary="Read the sandbox clock",
    responses=error_responses(403, 409),
)
async def show(_: AdminPrincipal, container: ContainerDep, session: SessionDep) -> SandboxClock:
    _sandbox_only(container)
    return SandboxClock.of(await clock.state(container, conn=await session.connection()))


@router.post(
    "/advance",
    response_model=SandboxClock,
    summary="Move the sandbox clock forward",
    responses=error_responses(403, 409),
)
async def advance(
    body: ClockAdvance, _: AdminPrincipal, container: ContainerDep, session: SessionDep
) -> SandboxClock:
    _sandbox_only(container)
    conn = await session.connection()
    state = await clock.shift(container, body.seconds, conn=conn)
    handled = await run_due(container, conn=conn)
    return SandboxClock.of(state, handled)
