"""Reconciliation against the in-process sandbox: a clean day, each kind of drift, the CLI
and the daily sweep's incidents."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select, update
from typer.testing import CliRunner

from escrowd.cli import app
from escrowd.clock import FrozenClock
from escrowd.escrows.models import Escrow
from escrowd.jobs.models import Incident, Job
from escrowd.jobs.worker import Worker
from escrowd.reconcile.differences import Kind
from escrowd.reconcile.service import reconcile, reconcile_escrow
from escrowd.reconcile.sweep import DIFFERENCE_JOB, daily
from tests.escrows.conftest import Ctx, payees, payer, settle, sweep
from tests.reconcile.conftest import (
    call,
    edit_sandbox_object,
    funded,
    on_sandbox,
    own_day,
    sandbox_get,
)


async def test_a_clean_day_has_no_differences_and_equal_totals(
    ctx: Ctx, clock: FrozenClock
) -> None:
    day = own_day(clock, 0)
    who = await payer(ctx)
    a, b = await payees(ctx, 2)
    escrow = await funded(ctx, who, [(a, 6000), (b, 4000)])
    allocation = escrow["allocations"][0]["id"]
    await call(
        ctx, who, f"/v1/escrows/{escrow['id']}/release", {"allocations": [{"id": allocation}]}
    )
    await call(ctx, who, f"/v1/escrows/{escrow['id']}/refund", {"amount": 1000})
    await settle(ctx.container)
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    assert report.differences == []
    assert report.compared == {"payments": 1, "refunds": 1, "transfers": 1, "payouts": 0}
    [(slot, totals)] = report.totals.items()
    assert slot == (day.date(), "usd")
    assert totals["charges"] == [10_000, 10_000]
    assert totals["fees"] == [320, 320]
    assert totals["refunds"] == [1000, 1000]
    assert totals["transfers"][0] == totals["transfers"][1] > 0
    assert (await reconcile_escrow(ctx.container, escrow["id"])).differences == []


async def test_every_kind_of_drift_is_reported_with_advice(ctx: Ctx, clock: FrozenClock) -> None:
    day = own_day(clock, 1)
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    clean = await funded(ctx, who, [(payee, 5000)])
    await call(ctx, who, f"/v1/escrows/{clean['id']}/release")

    # (a) payments the ledger lacks: one naming an escrow (a second charge), one naming none.
    charged_twice = await funded(ctx, who, [(payee, 3000)])
    twice = await on_sandbox(
        ctx,
        "payment_intents",
        {
            "amount": "3000",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "metadata[escrow_id]": charged_twice["id"],
        },
    )
    stranger = await on_sandbox(
        ctx,
        "payment_intents",
        {"amount": "777", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"},
    )
    # (b) a ledger funding whose payment the provider does not know.
    unknown = await funded(ctx, who, [(payee, 2000)])
    async with ctx.container.db.transaction() as s:
        await s.execute(
            update(Escrow).where(Escrow.id == unknown["id"]).values(payment_id="pi_NotAtStripe")
        )
    # (c) a charge one cent off the ledger.
    off = await funded(ctx, who, [(payee, 4000)])
    off_charge = (await sandbox_get(ctx, f"payment_intents/{off['payment']['id']}"))[
        "latest_charge"
    ]
    await edit_sandbox_object(ctx, off_charge, amount_captured=4001)
    # (d) a release transfer reversed at the provider, its webhook never processed.
    reversed_ = await funded(ctx, who, [(payee, 6000)])
    await call(ctx, who, f"/v1/escrows/{reversed_['id']}/release")
    [transfer] = (await sandbox_get(ctx, "transfers", {"transfer_group": reversed_["id"]}))["data"]
    await on_sandbox(ctx, f"transfers/{transfer['id']}/reversals", {"amount": "250"})
    # (e) a refund made in the provider's dashboard.
    refunded = await funded(ctx, who, [(payee, 8000)])
    dashboard = await on_sandbox(
        ctx, "refunds", {"payment_intent": refunded["payment"]["id"], "amount": "1500"}
    )
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    found = {(d.kind, d.escrow_id, d.object_id): d for d in report.differences}
    assert set(found) == {
        (Kind.payment_unrecorded, charged_twice["id"], twice["id"]),
        (Kind.payment_unrecorded, None, stranger["id"]),
        (Kind.payment_missing, unknown["id"], "pi_NotAtStripe"),
        # Its real payment is now one no escrow holds: reported as well.
        (Kind.payment_unrecorded, unknown["id"], unknown["payment"]["id"]),
        (Kind.payment_amount, off["id"], off["payment"]["id"]),
        (Kind.reversal_unrecorded, reversed_["id"], transfer["id"]),
        (Kind.refund_unrecorded, refunded["id"], dashboard["id"]),
    }
    off_by_one = found[(Kind.payment_amount, off["id"], off["payment"]["id"])]
    assert (off_by_one.ours, off_by_one.theirs) == (4000, 4001)
    reversal = found[(Kind.reversal_unrecorded, reversed_["id"], transfer["id"])]
    assert (reversal.ours, reversal.theirs) == (0, 250)
    assert found[(Kind.refund_unrecorded, refunded["id"], dashboard["id"])].theirs == 1500
    assert all(d.advice for d in report.differences)
    # The day's totals disagree by exactly the drift the ledger does not hold.
    totals = report.totals[(day.date(), "usd")]
    assert totals["refunds"] == [0, 1500]
    assert totals["reversals"] == [0, 250]

    # One escrow at a time finds its own differences too.
    alone = await reconcile_escrow(ctx.container, reversed_["id"])
    assert [d.kind for d in alone.differences] == [Kind.reversal_unrecorded]
    # Once the reversal's webhook is processed, the ledger holds it: the difference is gone.
    await settle(ctx.container)
    assert (await reconcile_escrow(ctx.container, reversed_["id"])).differences == []
    assert (await reconcile_escrow(ctx.container, clean["id"])).differences == []


async def test_the_daily_sweep_opens_one_incident_per_difference(
    ctx: Ctx, clock: FrozenClock
) -> None:
    own_day(clock, 2)
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    escrow = await funded(ctx, who, [(payee, 5000)])
    await on_sandbox(ctx, "refunds", {"payment_intent": escrow["payment"]["id"], "amount": "500"})
    clock.advance(timedelta(days=1))

    async def incidents() -> list[Incident]:
        async with ctx.container.db.transaction() as s:
            stmt = (
                select(Incident)
                .join(Job, Job.id == Incident.job_id)
                .where(Job.dedupe_key.like(f"reconcile:%:{escrow['id']}:%"))
            )
            return list((await s.scalars(stmt)).all())

    worker = Worker(ctx.container, kinds=[DIFFERENCE_JOB], run_sweeps=False)
    assert await sweep(ctx.container, daily) == 1
    await worker.tick()
    [incident] = await incidents()
    assert incident.kind == DIFFERENCE_JOB
    assert incident.error.startswith("PermanentJobError: refund_unrecorded: refund re_")
    assert "What to do:" in incident.error
    # The next day's run sees the same difference: no second job, no second incident.
    clock.advance(timedelta(hours=12))
    assert await sweep(ctx.container, daily) == 0
    await worker.tick()
    assert len(await incidents()) == 1


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["reconcile", *args], env=env)
    return result.exit_code, result.stdout


async def test_the_command_exits_0_1_or_2_and_prints_json(ctx: Ctx, clock: FrozenClock) -> None:
    own_day(clock, 3)
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    clean = await funded(ctx, who, [(payee, 5000)])
    drifted = await funded(ctx, who, [(payee, 5000)])
    await on_sandbox(ctx, "refunds", {"payment_intent": drifted["payment"]["id"]})
    env = {
        "ESCROWD_DATABASE_URL": ctx.container.settings.effective_database_url,
        "ESCROWD_ENV": "test",
        "ESCROWD_SECRET_KEY": ctx.container.settings.secret_key,
        "ESCROWD_LOG_LEVEL": "WARNING",
    }

    code, out = await asyncio.to_thread(_cli, env, "--escrow", clean["id"], "--json")
    assert code == 0, out
    assert json.loads(out)["ok"] is True
    code, out = await asyncio.to_thread(_cli, env, "--escrow", drifted["id"], "--json")
    assert code == 1, out
    body = json.loads(out)
    assert [d["kind"] for d in body["differences"]] == ["refund_unrecorded"]
    assert body["differences"][0]["theirs"] == 5000
    code, out = await asyncio.to_thread(_cli, env, "--escrow", drifted["id"])
    assert code == 1
    assert "refund_unrecorded" in out
    assert "What to do:" in out
    code, _ = await asyncio.to_thread(_cli, env, "--escrow", "esc_nosuchescrow")
    assert code == 2
    broken = {**env, "ESCROWD_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    code, _ = await asyncio.to_thread(_cli, broken, "--since", "2024-01-01")
    assert code == 2
