"""Seed 003's story for ``escrowd demo --seed 003``: tasks done by a user and by an
organization.

worker1 is a doer for themself; worker2 runs an organization ("Walt's Workshop", made once and
reused), whose connected account worker2, its admin, onboards on the sandbox's hosted page.
The client posts a task; worker1 bids $1,000.00, worker2 bids $1,200.00 for the organization;
the client accepts worker1's bid (the organization's is rejected), pays the task's escrow with
the saved card and completes the task: worker1 is paid $900.00 (the seed's 10 % platform fee;
the platform bears Stripe's $29.30). A second task, $450.00, goes to the organization:
$405.00 to its account, $45.00 to the platform, $13.35 Stripe's.
"""

from __future__ import annotations

from typing import Any

from escrowd.demo import DemoError
from escrowd.marketplace.demo import Part, Stage, Story
from escrowd.money import Money

USER_TASK = 100_000
RIVAL_BID = 120_000
ORG_TASK = 45_000
ORG_NAME = "Walt's Workshop"


def _usd(amount: int) -> str:
    return Money(amount, "usd").format()


def _key(stage: Stage, what: str) -> str:
    return f"demo-003-{what}-{stage.container.clock.now().timestamp()}"


async def _organization(stage: Stage) -> str:
    """worker2's organization: the one named ORG_NAME they belong to, else a new one."""
    mine = await stage.call("worker2", "GET", "/v1/organizations", what="listing organizations")
    found = next((o for o in mine["data"] if o["name"] == ORG_NAME), None)
    if found is not None:
        stage.say(f"  {found['id']} {ORG_NAME!r} exists")
        return str(found["id"])
    made = await stage.call(
        "worker2", "POST", "/v1/organizations", {"name": ORG_NAME}, what="creating it"
    )
    stage.say(f"  {made['id']} {ORG_NAME!r} created; worker2 is its admin")
    return str(made["id"])


async def _bid(
    stage: Stage, label: str, task: dict[str, Any], amount: int, org: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": amount, "currency": "usd"}
    if org is not None:
        body["organization"] = org
    made = await stage.call(
        label, "POST", f"/v1/tasks/{task['id']}/bids", body, what=f"{label} bidding"
    )
    whom = f"for {org}" if org else "for themself"
    stage.say(f"  {label} bids {_usd(amount)} {whom}: {made['id']}")
    return made


async def _accept_pay_complete(
    stage: Stage, task: dict[str, Any], bid: dict[str, Any], card: str
) -> dict[str, Any]:
    path = f"/v1/tasks/{task['id']}"
    assigned = await stage.call(
        "client", "POST", f"{path}/bids/{bid['id']}/accept", what="accepting the bid"
    )
    stage.say(f"  accepted: {assigned['status']}, escrow {assigned['escrow']}")
    funded = await stage.call(
        "client",
        "POST",
        f"/v1/escrows/{assigned['escrow']}/fund",
        {"payment_method": card},
        key=_key(stage, f"fund-{task['id']}"),
        what="paying the task's escrow",
    )
    await stage.settle()
    shown = await stage.call("client", "GET", path, what="reading the task")
    stage.say(f"  paid: escrow {funded['status']}, task {shown['payment_status']}")
    done = await stage.call(
        "client",
        "POST",
        f"{path}/complete",
        {},
        key=_key(stage, f"complete-{task['id']}"),
        what="completing the task",
    )
    await stage.settle()
    stage.say(f"  {task['id']}: {done['status']}, {done['payment_status']}")
    if done["status"] != "completed":
        raise DemoError(f"the task is {done['status']} after completing it")
    return done


async def scenario(stage: Stage) -> Story:
    say = stage.say
    say("2. worker1's payout account; worker2's organization and its account")
    await stage.onboard("worker1")
    org = await _organization(stage)
    await stage.onboard("worker2", organization=org)
    card = await stage.card("client")
    say("3. The client posts a task; worker1 bids for themself, worker2 for the organization")
    task = await stage.call(
        "client",
        "POST",
        "/v1/tasks",
        {"title": "Build a landing page", "currency": "usd"},
        what="posting the task",
    )
    mine = await _bid(stage, "worker1", task, USER_TASK)
    await _bid(stage, "worker2", task, RIVAL_BID, org)
    say(f"4. The client accepts worker1's bid, pays {_usd(USER_TASK)}, completes the task")
    first = await _accept_pay_complete(stage, task, mine, card)
    say(f"5. A second task, {_usd(ORG_TASK)}, for the organization")
    second = await stage.call(
        "client",
        "POST",
        "/v1/tasks",
        {"title": "Translate the site", "currency": "usd"},
        what="posting the second task",
    )
    org_bid = await _bid(stage, "worker2", second, ORG_TASK, org)
    done = await _accept_pay_complete(stage, second, org_bid, card)
    user_escrow = await stage.call(
        "admin", "GET", f"/v1/escrows/{first['escrow']}", what="the first task's escrow"
    )
    org_escrow = await stage.call(
        "admin", "GET", f"/v1/escrows/{done['escrow']}", what="the second task's escrow"
    )
    (user_alloc,) = user_escrow["allocations"]
    (org_alloc,) = org_escrow["allocations"]
    board = await stage.call(
        "worker2", "GET", f"/v1/tasks/dashboard/doer?organization={org}", what="org dashboard"
    )
    org_released = next(t["released"] for t in board["totals"] if t["currency"] == "usd")
    return Story(
        parts=[
            Part(str(first["escrow"]), "worker1's task: paid, completed, released"),
            Part(str(done["escrow"]), "the organization's task: paid, completed, released"),
        ],
        facts=[
            ("worker1's task", _usd(USER_TASK)),
            ("… platform fee (10 %)", _usd(int(user_alloc["platform_fee"]))),
            ("… Stripe's fee, the platform's", _usd(int(user_escrow["payment"]["processing_fee"]))),
            ("… worker1 receives", _usd(int(user_alloc["net_released"]))),
            (f"{ORG_NAME}'s task", _usd(ORG_TASK)),
            ("… its platform fee (10 %)", _usd(int(org_alloc["platform_fee"]))),
            (
                "… its Stripe fee, the platform's",
                _usd(int(org_escrow["payment"]["processing_fee"])),
            ),
            ("… the organization receives", _usd(int(org_alloc["net_released"]))),
            ("… its doer dashboard: released", _usd(int(org_released))),
        ],
        names={org: ORG_NAME},
    )
