"""Seed 002's story for ``escrowd demo --seed 002``: hire an expert, complete one gig, cancel
another.

worker1 is the expert (onboarded on the sandbox's hosted page); the client hires them for
$200.00 (the card authorized, not captured; the platform's 10 % commission), completes the gig
(captured and released: the expert gets $180.00, the platform bears Stripe's fee), then hires
them again for $50.00 and cancels before the capture (the authorization voided: nothing
charged).
"""

from __future__ import annotations

from escrowd.demo import DemoError
from escrowd.marketplace.demo import Part, Stage, Story
from escrowd.money import Money

PRICE = 20_000
CANCELLED_PRICE = 5_000


def _usd(amount: int) -> str:
    return Money(amount, "usd").format()


async def _hire(stage: Stage, amount: int, card: str, what: str) -> dict[str, object]:
    gig = await stage.call(
        "client",
        "POST",
        "/v1/gigs",
        {
            "expert": stage.id("worker1"),
            "amount": amount,
            "currency": "usd",
            "description": what,
            "payment_method": card,
        },
        key=f"demo-002-{what}-{stage.container.clock.now().timestamp()}",
        what=f"hiring the expert ({what})",
    )
    stage.say(
        f"  {gig['id']}: {_usd(amount)} {gig['status']} (commission {_usd(int(gig['commission']))},"
        f" the expert's {_usd(int(gig['expert_amount']))})"
    )
    return gig


async def scenario(stage: Stage) -> Story:
    say = stage.say
    say("2. The expert onboards (account link, hosted onboarding, verified)")
    await stage.onboard("worker1")
    card = await stage.card("client")
    say(f"3. The client hires the expert for {_usd(PRICE)}: authorized, not captured")
    gig = await _hire(stage, PRICE, card, "Architecture review")
    say("4. The gig is done: captured and released to the expert")
    done = await stage.call(
        "client",
        "POST",
        f"/v1/gigs/{gig['id']}/complete",
        {},
        key=f"demo-002-complete-{gig['id']}",
        what="completing the gig",
    )
    await stage.settle()
    say(f"  {done['id']}: {done['status']}")
    if done["status"] != "completed":
        raise DemoError(f"the gig is {done['status']} after completing it")
    say(f"5. A second gig, {_usd(CANCELLED_PRICE)}, cancelled before the capture: voided")
    second = await _hire(stage, CANCELLED_PRICE, card, "Follow-up call")
    cancelled = await stage.call(
        "client",
        "POST",
        f"/v1/gigs/{second['id']}/cancel",
        {},
        key=f"demo-002-cancel-{second['id']}",
        what="cancelling the gig",
    )
    await stage.settle()
    say(f"  {cancelled['id']}: {cancelled['status']}")
    history = await stage.call("client", "GET", "/v1/gigs?limit=2", what="the payment history")
    return Story(
        parts=[
            Part(str(gig["escrow"]), "the completed gig: authorized, captured, released"),
            Part(str(second["escrow"]), "the cancelled gig: authorized, voided"),
        ],
        facts=[
            ("gig price", _usd(PRICE)),
            ("platform commission (10 %)", _usd(int(done["commission"]))),
            ("the expert receives", _usd(int(done["expert_amount"]))),
            ("cancelled gig", f"{cancelled['id']} ({cancelled['status']})"),
            ("payment history", ", ".join(f"{g['id']} {g['status']}" for g in history["data"])),
        ],
    )
