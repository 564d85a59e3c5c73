"""Seed 000's story for ``escrowd demo --seed 000``: a testing job with two tester slots.

The client drafts a job at $100.00 per tester for two testers and publishes it ($200.00 paid
into escrow). worker1 claims a slot, submits, and is approved: $82.45 (the seed's figure:
$100.00 less the 15 % platform fee and 3 % processing on what the fee leaves). worker2 claims
the other, is rejected, disputes the rejection, and the admin releases it: $82.45 too. Every
slot is paid: the job is completed.
"""

from __future__ import annotations

from typing import Any

from escrowd.demo import DemoError
from escrowd.marketplace.demo import Part, Stage, Story
from escrowd.marketplace.jobs.sweeps import NAME as DISPUTES
from escrowd.money import Money

BUDGET = 10_000
TESTERS = 2


def _usd(amount: int) -> str:
    return Money(amount, "usd").format()


async def _claim_and_submit(stage: Stage, job: str, tester: str) -> dict[str, Any]:
    slot = await stage.call(tester, "POST", f"/v1/jobs/{job}/claim", what=f"{tester} claiming")
    await stage.call(
        tester,
        "POST",
        f"/v1/jobs/{job}/slots/{slot['id']}/submit",
        {"submission": f"{tester}: checkout tested on three browsers, two bugs found."},
        what=f"{tester} submitting",
    )
    stage.say(f"  {tester} claimed {slot['id']} and submitted")
    return slot


async def scenario(stage: Stage) -> Story:
    say = stage.say
    say("2. The testers' payout accounts")
    for tester in ("worker1", "worker2"):
        await stage.onboard(tester)
    card = await stage.card("client")
    say(f"3. The client drafts a job, {_usd(BUDGET)} per tester for {TESTERS}, and publishes it")
    job = await stage.call(
        "client",
        "POST",
        "/v1/jobs",
        {
            "title": "Test our checkout",
            "currency": "usd",
            "budget_per_tester": BUDGET,
            "max_testers": TESTERS,
        },
        what="drafting the job",
    )
    published = await stage.call(
        "client",
        "POST",
        f"/v1/jobs/{job['id']}/publish",
        {"payment_method": card},
        key=f"demo-000-publish-{job['id']}",
        what="publishing the job",
    )
    say(f"  {job['id']}: {published['status']}, escrow {published['escrow']} holds the budget")
    say("4. worker1 claims a slot, submits, and the client approves")
    first = await _claim_and_submit(stage, job["id"], "worker1")
    approved = await stage.call(
        "client",
        "POST",
        f"/v1/jobs/{job['id']}/slots/{first['id']}/approve",
        {"feedback": "Clear report, thanks."},
        key=f"demo-000-approve-{first['id']}",
        what="approving worker1's submission",
    )
    say(f"  {first['id']}: {approved['status']}")
    say("5. worker2 claims the other, is rejected, disputes; the admin releases it")
    second = await _claim_and_submit(stage, job["id"], "worker2")
    await stage.call(
        "client",
        "POST",
        f"/v1/jobs/{job['id']}/slots/{second['id']}/reject",
        {"feedback": "Not enough detail"},
        what="rejecting worker2's submission",
    )
    disputed = await stage.call(
        "worker2",
        "POST",
        f"/v1/jobs/{job['id']}/slots/{second['id']}/dispute",
        {"reason": "other", "description": "Every step of the brief is covered."},
        what="worker2 disputing the rejection",
    )
    await stage.call(
        "admin",
        "POST",
        f"/v1/disputes/{disputed['dispute']}/resolve",
        {"outcome": "release"},
        key=f"demo-000-resolve-{disputed['dispute']}",
        what="the admin releasing the disputed slot",
    )
    await stage.settle(DISPUTES)
    done = await stage.call("client", "GET", f"/v1/jobs/{job['id']}", what="reading the job")
    say(f"  {job['id']}: {done['status']}; slots {[s['status'] for s in done['slots']]}")
    if done["status"] != "completed":
        raise DemoError(f"the job is {done['status']}, expected completed")
    escrow = await stage.call(
        "admin", "GET", f"/v1/escrows/{done['escrow']}", what="reading the job's escrow"
    )
    nets = [a["net_released"] for a in escrow["allocations"]]
    return Story(
        parts=[Part(escrow["id"], "the job's escrow: published, two slots paid")],
        facts=[
            ("job", f"{job['id']} ({done['status']})"),
            ("budget", f"{_usd(BUDGET)} × {TESTERS} testers"),
            ("platform fee (15 %)", _usd(escrow["allocations"][0]["platform_fee"])),
            ("tester's processing (3 %)", _usd(escrow["allocations"][0]["processing_cost"])),
            ("each tester receives", " and ".join(_usd(n) for n in nets)),
        ],
    )
