"""Seed 001's story for ``escrowd demo --seed 001``: a handwork booking paid with PayPal.

The client posts a $150.00 job; worker1 and worker2, who are paid out to their PayPal emails
(no Stripe account), apply; the client hires worker1 with ``payment_provider: paypal`` (worker2
is declined). The pay call answers with PayPal's approval page; the client approves there (the
sandbox's hosted page); PayPal's approval webhook reaches escrowd, which reads the order back
at PayPal and captures it: the booking's money is HELD. worker1 marks the work complete, the
client releases: worker1's available balance is $142.50 (the seed's ``worker_amount``: $150.00
less the 5 % platform fee; escrowd records no PayPal fee). worker1 requests a $100.00 payout
to PayPal, the admin processes it, PayPal pays their email: $42.50 is left.
"""

from __future__ import annotations

from typing import Any

import httpx

from escrowd.demo import DemoError
from escrowd.marketplace.demo import Part, Stage, Story
from escrowd.money import Money

BOOKING = 15_000
PAYOUT = 10_000
EMAILS = {"worker1": "wendy.worker@paypal.example", "worker2": "walt.worker@paypal.example"}


def _usd(amount: int) -> str:
    return Money(amount, "usd").format()


def _key(stage: Stage, what: str) -> str:
    return f"demo-001-{what}-{stage.container.clock.now().timestamp()}"


async def _approve_on_paypal(stage: Stage, booking: dict[str, Any]) -> str:
    """The client opens the approval link and approves, as a browser would: the order's id."""
    action = booking["payment"].get("next_action")
    if booking["payment"]["escrow_status"] != "requires_action" or not action:
        raise DemoError(f"the booking waits for no approval: {booking['payment']}")
    url = httpx.URL(action["url"])
    order_id = str(url.params.get("token") or "")
    http = stage.api.client
    page = await http.get(url.raw_path.decode())
    if page.status_code != 200 or not order_id:
        raise DemoError(f"PayPal's approval page answered HTTP {page.status_code}")
    path = url.path.removesuffix("/checkoutnow") + f"/checkoutnow/{order_id}"
    done = await http.post(path, data={"action": "approve", "funding": "balance"})
    if done.status_code not in (200, 303):
        raise DemoError(f"approving on PayPal's page failed: HTTP {done.status_code}")
    return order_id


async def scenario(stage: Stage) -> Story:
    say = stage.say
    say("2. The workers save the PayPal emails they are paid out to")
    for worker, email in EMAILS.items():
        await stage.call(
            worker,
            "POST",
            "/v1/payout_destination",
            {"paypal_email": email},
            what=f"{worker} saving a PayPal email",
        )
        say(f"  {worker}: {email}")
    say(f"3. The client posts a {_usd(BOOKING)} job; both workers apply")
    job = await stage.call(
        "client",
        "POST",
        "/v1/bookings/jobs",
        {
            "title": "Fix the kitchen sink",
            "description": "Leaking under the basin.",
            "currency": "usd",
            "budget": BOOKING,
        },
        what="posting the job",
    )
    applications = {
        worker: await stage.call(
            worker,
            "POST",
            f"/v1/bookings/jobs/{job['id']}/applications",
            {"message": f"{worker} can come tomorrow."},
            what=f"{worker} applying",
        )
        for worker in EMAILS
    }
    say(f"  {job['id']}: applications {', '.join(a['id'] for a in applications.values())}")
    say("4. The client hires worker1, to pay with PayPal; worker2 is declined")
    booking = await stage.call(
        "client",
        "POST",
        "/v1/bookings",
        {"application": applications["worker1"]["id"], "payment_provider": "paypal"},
        what="hiring worker1",
    )
    path = f"/v1/bookings/{booking['id']}"
    say(
        f"  {booking['id']}: {booking['status']}, escrow {booking['payment']['escrow']} on "
        f"{booking['payment']['provider']} (platform fee {_usd(booking['platform_fee'])}, "
        f"worker1's {_usd(booking['worker_amount'])})"
    )
    say("5. The client pays: PayPal's approval page, approved there; escrowd captures: HELD")
    started = await stage.call(
        "client", "POST", f"{path}/pay", {}, key=_key(stage, "pay"), what="paying the booking"
    )
    say(f"  next action: {started['payment']['next_action']['url']}")
    order_id = await _approve_on_paypal(stage, started)
    await stage.settle()  # CHECKOUT.ORDER.APPROVED, checked at PayPal; the order captured
    held = await stage.call("client", "GET", path, what="reading the booking")
    say(f"  PayPal order {order_id} approved; the booking's payment: {held['payment']['status']}")
    if held["payment"]["status"] != "held":
        raise DemoError(f"the booking's payment is {held['payment']['status']}, not held")
    say("6. worker1 marks the work complete; the client releases the money")
    await stage.call("worker1", "POST", f"{path}/complete", what="marking the work complete")
    released = await stage.call(
        "client", "POST", f"{path}/release", {}, key=_key(stage, "release"), what="releasing"
    )
    await stage.settle()
    say(f"  {booking['id']}: {released['status']}, payment {released['payment']['status']}")
    say(f"7. worker1 requests a {_usd(PAYOUT)} payout to PayPal; the admin processes it")
    payout = await stage.call(
        "worker1",
        "POST",
        "/v1/payouts",
        {"amount": PAYOUT, "currency": "usd", "provider": "paypal"},
        key=_key(stage, "payout"),
        what="requesting the payout",
    )
    paid = await stage.call(
        "admin",
        "POST",
        f"/v1/payouts/{payout['id']}/approve",
        {},
        key=_key(stage, "approve"),
        what="the admin processing the payout",
    )
    await stage.settle()
    say(f"  {payout['id']}: {paid['status']} to {paid['receiver_email']}")
    earnings = await stage.call(
        "worker1", "GET", "/v1/bookings/earnings/worker", what="worker1's earnings"
    )
    totals = next(t for t in earnings["totals"] if t["currency"] == "usd")
    apps = await stage.call(
        "client", "GET", f"/v1/bookings/jobs/{job['id']}/applications", what="the applications"
    )
    return Story(
        parts=[
            Part(str(booking["payment"]["escrow"]), "the booking's escrow: PayPal, released"),
            Part(str(payout["id"]), "worker1's payout to their PayPal email"),
        ],
        facts=[
            ("booking", f"{booking['id']} ({released['status']}, paid with PayPal)"),
            ("the client pays", _usd(BOOKING)),
            ("platform fee (5 %)", _usd(int(released["platform_fee"]))),
            ("the worker's amount", _usd(int(released["worker_amount"]))),
            ("payout to PayPal", f"{_usd(PAYOUT)} ({paid['status']})"),
            ("paid out to", str(paid["receiver_email"])),
            ("worker1's available balance", _usd(int(totals["available"]))),
            ("applications", ", ".join(f"{a['id']} {a['status']}" for a in apps["data"])),
        ],
    )
