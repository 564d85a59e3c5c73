"""With a payout delay, released money is pending until the delay has passed, then a job
makes it available; a reversal takes it back from wherever it is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from escrowd.balances.tasks import AVAILABLE_JOB, make_available
from escrowd.clock import FrozenClock
from escrowd.config import Settings
from escrowd.escrows.ledgering import payee_available, payee_pending
from escrowd.escrows.models import Operation
from escrowd.jobs import JobContext, JobInfo
from escrowd.jobs.models import Job
from escrowd.ledger.models import LedgerTransfer
from tests.balances.conftest import balance_of, fresh_payee, run_all_jobs
from tests.balances.test_balances import reverse
from tests.escrows.conftest import Ctx, Sandbox, funded, ledger_balance, payer, post

DELAY = 3600


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"payout_delay_seconds": DELAY})


def figures(available: int, pending: int) -> dict[str, dict[str, int]]:
    return {"available": {"usd": available}, "pending": {"usd": pending}, "in_transit": {"usd": 0}}


async def test_released_money_is_pending_until_the_delay_has_passed(
    ctx: Ctx, clock: FrozenClock
) -> None:
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    escrow = await funded(ctx, client_, [(worker.id, 3000)], fee_policy={"rate_bps": 1000})
    await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    # 30.00 released, 3.00 fee: the 27.00 net waits.
    assert await balance_of(ctx, worker) == figures(0, 2700)
    async with ctx.container.db.transaction() as s:
        (job,) = (
            await s.scalars(
                select(Job).where(Job.kind == AVAILABLE_JOB, Job.payload.contains(escrow["id"]))
            )
        ).all()
        assert job.run_at == ctx.container.clock.now() + timedelta(seconds=DELAY)

    # Not due yet: nothing moves.
    clock.advance(timedelta(seconds=DELAY - 1))
    await run_all_jobs(ctx.container)
    assert await balance_of(ctx, worker) == figures(0, 2700)

    clock.advance(timedelta(seconds=1))
    assert await run_all_jobs(ctx.container) >= 1
    assert await balance_of(ctx, worker) == figures(2700, 0)
    assert await ledger_balance(ctx, payee_pending(worker.id)) == 0
    assert await ledger_balance(ctx, payee_available(worker.id)) == 2700
    async with ctx.container.db.transaction() as s:
        moved = (
            await s.scalars(select(LedgerTransfer).where(LedgerTransfer.category == "available"))
        ).all()
        mine = [t for t in moved if t.reference == escrow["id"]]
        assert [(t.id.endswith(":available"), t.amount) for t in mine] == [(True, 2700)]


async def test_a_reversal_takes_from_pending_first_then_from_available(
    ctx: Ctx, sandbox: Sandbox, clock: FrozenClock
) -> None:
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    escrow = await funded(ctx, client_, [(worker.id, 3000)], fee_policy={"rate_bps": 1000})
    await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    assert await balance_of(ctx, worker) == figures(0, 2700)

    # Reversed while still pending: pending shrinks, the job later moves only what is left.
    await reverse(ctx, sandbox, escrow["id"], 500)
    assert await balance_of(ctx, worker) == figures(0, 2200)
    clock.advance(timedelta(seconds=DELAY))
    await run_all_jobs(ctx.container)
    assert await balance_of(ctx, worker) == figures(2200, 0)

    # Reversed once available: taken from available.
    await reverse(ctx, sandbox, escrow["id"], 300)
    assert await balance_of(ctx, worker) == figures(1900, 0)
    # A repeated job (a worker that died after committing) moves nothing more.
    now = ctx.container.clock.now()
    info = JobInfo("job_test", AVAILABLE_JOB, 2, 5, None, now, now)
    (op_key,) = await _release_keys(ctx, escrow["id"])
    await make_available(JobContext(ctx.container, info, "test-worker"), {"key": op_key})
    assert await balance_of(ctx, worker) == figures(1900, 0)


async def _release_keys(ctx: Ctx, escrow_id: str) -> list[str]:
    async with ctx.container.db.transaction() as s:
        rows = await s.scalars(
            select(Operation.key).where(
                Operation.escrow_id == escrow_id, Operation.kind == "release"
            )
        )
        return list(rows)
