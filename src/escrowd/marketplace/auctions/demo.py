"""Seed 004's story for ``escrowd demo --seed 004``: a secret threshold, a winning bid, paid.

worker1 sells an artwork with a hidden $100.00 threshold; the client bids $80.00 (kept, not
winning), then $150.00 (winning: the artwork is pending payment, an escrow waits for the
client alone), pays it with the saved card within the 10-minute window, and the artwork is
sold: the seller receives $150.00 less Stripe's fee, with no platform fee (a direct sale).
"""

from __future__ import annotations

from escrowd.demo import DemoError
from escrowd.marketplace.auctions.sweeps import NAME as FOLLOW
from escrowd.marketplace.demo import Part, Stage, Story
from escrowd.money import Money

THRESHOLD = 10_000
LOW_BID = 8_000
WINNING_BID = 15_000


def _usd(amount: int) -> str:
    return Money(amount, "usd").format()


async def scenario(stage: Stage) -> Story:
    say = stage.say
    say("2. The seller's payout account")
    await stage.onboard("worker1")
    card = await stage.card("client")
    say(f"3. worker1 lists an artwork with a secret threshold of {_usd(THRESHOLD)}")
    art = await stage.call(
        "worker1",
        "POST",
        "/v1/auctions/artworks",
        {"title": "Harbour at Dusk", "currency": "usd", "threshold": THRESHOLD},
        what="listing the artwork",
    )
    path = f"/v1/auctions/artworks/{art['id']}"
    seen = await stage.call("client", "GET", path, what="reading the artwork as a buyer")
    say(f"  {art['id']}: the seller sees threshold {art['threshold']}, a buyer {seen['threshold']}")
    say(f"4. The client bids {_usd(LOW_BID)}, then {_usd(WINNING_BID)}")
    low = await stage.call(
        "client",
        "POST",
        f"{path}/bids",
        {"amount": LOW_BID, "currency": "usd"},
        what="bidding low",
    )
    say(f"  {_usd(LOW_BID)}: {low['status']}")
    won = await stage.call(
        "client",
        "POST",
        f"{path}/bids",
        {"amount": WINNING_BID, "currency": "usd"},
        what="bidding at the threshold",
    )
    pending = await stage.call("client", "GET", path, what="reading the artwork")
    say(
        f"  {_usd(WINNING_BID)}: {won['status']}; the artwork is {pending['status']}, "
        f"escrow {won['escrow']} waits for the client's payment (10 minutes)"
    )
    if won["escrow"] is None:
        raise DemoError(f"the winning bid made no escrow: {won['status']}")
    say("5. The client pays within the window")
    paid = await stage.call(
        "client",
        "POST",
        f"/v1/escrows/{won['escrow']}/fund",
        {"payment_method": card},
        key=f"demo-004-{won['escrow']}",
        what="paying the winning bid",
    )
    say(f"  escrow {paid['id']}: {paid['status']}")
    await stage.settle("escrows.inspections", FOLLOW)
    sold = await stage.call("client", "GET", path, what="reading the sold artwork")
    escrow = await stage.call("worker1", "GET", f"/v1/escrows/{paid['id']}", what="the escrow")
    (alloc,) = escrow["allocations"]
    say(f"  the artwork is {sold['status']}; the escrow is {escrow['status']}")
    return Story(
        parts=[Part(escrow["id"], "the winning bid's escrow: paid, released to the seller")],
        facts=[
            ("artwork", f"{art['id']} ({sold['status']})"),
            ("winning bid", _usd(WINNING_BID)),
            ("platform fee", _usd(alloc["platform_fee"])),
            ("card processing (Stripe)", _usd(alloc["processing_cost"])),
            ("the seller receives", _usd(alloc["net_released"])),
        ],
    )
