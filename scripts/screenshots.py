#!/usr/bin/env python3
"""Screenshots of the web app's main pages, for docs/screenshots/ (README and docs/webapp.md).

Starts ``escrowd serve`` on a new SQLite database in a temporary directory (sandbox mode; an
empty database gets the demo users and the demo's escrows, payout and dispute), adds a little
more through the API as a marketplace would (an escrow to pay, an open dispute, a payout to
review, two artworks and a winning bid, a testing job with a submitted slot, a task with two
bids), then drives Debian's chromium with Playwright
(``/usr/bin/chromium``, headless; no browser is downloaded) and writes one PNG per page and
width. Run from the repository root with the test extras installed:

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshots/*.png
    .venv/bin/python scripts/screenshots.py --out /tmp/shots
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
DESKTOP: ViewportSize = {"width": 1100, "height": 760}
PHONE: ViewportSize = {"width": 390, "height": 760}
PASSWORDS = {
    "admin": ("admin@demo.escrowd.dev", "demo-admin-password"),
    "client": ("client@demo.escrowd.dev", "demo-client-password"),
    "worker1": ("worker1@demo.escrowd.dev", "demo-worker-password"),
    "worker2": ("worker2@demo.escrowd.dev", "demo-worker-password"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Api:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        self.tokens: dict[str, str] = {}

    def login(self, who: str) -> None:
        email, password = PASSWORDS[who]
        r = self.http.post("/v1/auth/tokens", json={"email": email, "password": password})
        r.raise_for_status()
        self.tokens[who] = r.json()["access_token"]

    def call(self, who: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {
            "Authorization": f"Bearer {self.tokens[who]}",
            "Idempotency-Key": f"screenshots-{uuid.uuid4()}",
        }
        r = self.http.request(method, path, json=body, headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"{method} {path} as {who}: HTTP {r.status_code}: {r.text[:300]}")
        return r.json()


def user_id(api: Api, who: str) -> str:
    return str(api.call(who, "GET", "/v1/users/me")["id"])


def add_data(api: Api) -> dict[str, str]:
    """What the screenshots show beyond the demo: returns the ids the pages need."""
    for who in PASSWORDS:
        api.login(who)
    worker1, worker2 = user_id(api, "worker1"), user_id(api, "worker2")
    to_pay = api.call(
        "client",
        "POST",
        "/v1/escrows",
        {
            "currency": "usd",
            "amount": 48_000,
            "description": "Website redesign: two payees",
            "allocations": [
                {"payee": worker1, "amount": 30_000},
                {"payee": worker2, "amount": 18_000},
            ],
        },
    )
    disputed = api.call(
        "client",
        "POST",
        "/v1/escrows",
        {
            "currency": "usd",
            "amount": 12_000,
            "description": "Logo design",
            "allocations": [{"payee": worker2, "amount": 12_000}],
        },
    )
    api.call("client", "POST", f"/v1/escrows/{disputed['id']}/fund",
             {"payment_method": "pm_card_visa"})  # fmt: skip
    api.call("client", "POST", "/v1/disputes",
             {"escrow": disputed["id"], "reason": "quality"})  # fmt: skip
    # Money for worker1 to ask for (the 0077 card's funds are available at once), and a
    # declined card for the payment success rate.
    earned = api.call(
        "client",
        "POST",
        "/v1/escrows",
        {
            "currency": "usd",
            "amount": 26_000,
            "description": "Mobile app prototype",
            "allocations": [{"payee": worker1, "amount": 26_000}],
        },
    )
    api.call("client", "POST", f"/v1/escrows/{earned['id']}/fund",
             {"payment_method": "pm_card_bypassPending"})  # fmt: skip
    api.call("client", "POST", f"/v1/escrows/{earned['id']}/release")
    declined = api.http.post(
        f"/v1/escrows/{to_pay['id']}/fund",
        json={"payment_method": "pm_card_chargeDeclined"},
        headers={"Authorization": f"Bearer {api.tokens['client']}",
                 "Idempotency-Key": f"screenshots-{uuid.uuid4()}"},
    )  # fmt: skip
    assert declined.status_code == 402, declined.text
    available = [
        b["amount"]
        for b in api.call("worker1", "GET", "/v1/balance").get("available", [])
        if b["currency"] == "usd"
    ]
    if available and available[0] >= 1_000:
        api.call("worker1", "POST", "/v1/payouts", {"amount": 10_000, "currency": "usd"})
    lemons = {"title": "Still Life with Lemons", "currency": "usd", "threshold": 50_000}
    api.call("worker1", "POST", "/v1/auctions/artworks", lemons)
    harbour = {"title": "Harbour at Dusk", "currency": "usd", "threshold": 10_000}
    art = api.call("worker1", "POST", "/v1/auctions/artworks", harbour)
    api.call("client", "POST", f"/v1/auctions/artworks/{art['id']}/bids",
             {"amount": 8_000, "currency": "usd"})  # fmt: skip
    api.call("client", "POST", f"/v1/auctions/artworks/{art['id']}/bids",
             {"amount": 15_000, "currency": "usd"})  # fmt: skip
    job = api.call("client", "POST", "/v1/jobs",
                   {"title": "Test our checkout on Android", "currency": "usd",
                    "budget_per_tester": 10_000, "max_testers": 3})  # fmt: skip
    api.call("client", "POST", f"/v1/jobs/{job['id']}/publish", {"payment_method": "pm_card_visa"})
    slot = api.call("worker1", "POST", f"/v1/jobs/{job['id']}/claim")
    api.call("worker1", "POST", f"/v1/jobs/{job['id']}/slots/{slot['id']}/submit",
             {"submission": "Checkout fails on Android 14 when the card needs 3-D Secure: "
                            "steps and a recording attached."})  # fmt: skip
    task = api.call("client", "POST", "/v1/tasks",
                    {"title": "Assemble a wardrobe", "currency": "usd"})  # fmt: skip
    for who, amount in (("worker1", 8_000), ("worker2", 7_550)):
        api.call(who, "POST", f"/v1/tasks/{task['id']}/bids", {"amount": amount, "currency": "usd"})
    return {"escrow": to_pay["id"], "artwork": art["id"], "job": job["id"], "task": task["id"]}


def shoot(base: str, ids: dict[str, str], out: Path) -> list[Path]:
    from playwright.sync_api import Page, sync_playwright

    written: list[Path] = []

    def snap(page: Page, name: str, *, full: bool = False) -> None:
        page.wait_for_load_state("networkidle")
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        written.append(path)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)

        def signed_in(who: str, viewport: ViewportSize) -> Page:
            context = browser.new_context(base_url=base, viewport=viewport)
            page = context.new_page()
            page.goto("/app/sign-in")
            if who:
                email, password = PASSWORDS[who]
                page.get_by_label("Email").fill(email)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("button", name="Sign out").wait_for()
            return page

        page = signed_in("", PHONE)
        snap(page, "sign-in-phone")
        for viewport, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
            page = signed_in("client", viewport)
            page.goto(f"/app/escrows/{ids['escrow']}")
            snap(page, f"escrow-pay{suffix}")
            page.goto(f"/app/auctions/{ids['artwork']}")
            page.get_by_role("dialog").wait_for()
            snap(page, f"auction-payment-modal{suffix}")
        page = signed_in("client", DESKTOP)
        page.goto("/app/escrows")
        snap(page, "escrows")
        page.goto("/app/payment-methods")
        snap(page, "payment-methods")
        page.goto(f"/app/jobs/{ids['job']}")
        snap(page, "job", full=True)
        page = signed_in("client", PHONE)
        page.goto(f"/app/tasks/{ids['task']}")
        snap(page, "task-phone", full=True)
        page = signed_in("worker1", DESKTOP)
        page.goto("/app/balance")
        snap(page, "balance", full=True)
        page.goto("/app/payout-settings")
        snap(page, "payout-settings")
        page.goto("/app/auctions")
        snap(page, "auctions")
        page = signed_in("admin", DESKTOP)
        for path, name in (
            ("/app/admin/escrows?status=held", "admin-escrows"),
            ("/app/admin/payouts", "admin-payouts"),
            ("/app/admin/disputes", "admin-disputes"),
            ("/app/admin/reports?period=day", "admin-reports"),
            ("/app/admin/incidents", "admin-incidents"),
        ):
            page.goto(path)
            snap(page, name, full=name == "admin-reports")
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="escrowd-shots-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "ESCROWD_PUBLIC_URL": base,
            "ESCROWD_MARKETPLACES": "all",
            "ESCROWD_LOG_LEVEL": "WARNING",
        }
        url = f"sqlite+aiosqlite:///{tmp}/escrowd.sqlite3"
        log = Path(tmp) / "server.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
                [sys.executable, "-c", "from escrowd.cli import main; main()", "serve",
                 "--host", "127.0.0.1", "--port", str(port), "--database-url", url],
                stdout=sink, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"escrowd did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            ids = add_data(Api(base))
            for path in shoot(base, ids, args.out):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                sys.stdout.write(f"{shown}  {path.stat().st_size // 1024} KiB\n")
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
