"""``escrowd sandbox serve`` in a process of its own, with ``escrowd serve`` pointed at it by
``ESCROWD_SANDBOX_URL`` (docs/sandbox.md): escrowd calls the sandbox over HTTP, links the
sandbox's hosted pages at the sandbox's URL, and the sandbox process delivers its webhooks
(Stripe's and PayPal's) to escrowd over HTTP, where escrowd's background loop processes them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from escrowd.config import PAYPAL_SANDBOX_CLIENT_ID, PAYPAL_SANDBOX_CLIENT_SECRET
from escrowd.sandbox.stripe import models as sandbox_models
from escrowd.webhooks.models import InboundWebhookEvent
from tests.integration.conftest import Account, make_user
from tests.live.conftest import (
    PATIENCE,
    SandboxFactory,
    ServerFactory,
    free_port,
    real_container,
    wait_until_up,
)

_SESSION = re.compile(r"name=session value='([^']+)'")


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Waits for work another process does in its own time (a guard, not a measurement)."""
    deadline = time.monotonic() + PATIENCE
    while not await check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.1)


async def _call(
    http: httpx.AsyncClient, path: str, who: Account, body: dict[str, object], key: str = ""
) -> dict[str, object]:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    r = await http.post(path, json=body, headers=headers)
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


async def test_escrowd_works_with_the_sandbox_in_its_own_process(
    postgres_url: str, servers: ServerFactory, sandbox_server: SandboxFactory
) -> None:
    escrowd_port = free_port()
    escrowd_base = f"http://127.0.0.1:{escrowd_port}"
    # Started side by side (each takes seconds to come up): neither needs the other to start.
    sandbox = sandbox_server(postgres_url, port=free_port(), deliver_to=escrowd_base, wait=False)
    (server,) = servers(
        postgres_url, 1, ports=[escrowd_port], env={"ESCROWD_SANDBOX_URL": sandbox.base}
    )
    wait_until_up(sandbox)
    container = real_container(postgres_url)
    try:
        payer = await make_user(container)
        payee = await make_user(container, role="worker")
    finally:
        await container.close()

    async with httpx.AsyncClient(base_url=server.base, timeout=PATIENCE) as http:
        # escrowd serves no sandbox of its own: the one in the other process answers.
        assert (await http.get("/sandbox/stripe/v1/balance")).status_code == 404

        account = await _call(http, "/v1/accounts", payee, {})
        link = await _call(
            http,
            f"/v1/accounts/{account['id']}/onboarding_link",
            payee,
            {"refresh_url": f"{server.base}/r", "return_url": f"{server.base}/done"},
        )
        page_url = str(link["url"])
        assert page_url.startswith(f"{sandbox.base}/sandbox/stripe/"), page_url
        page = await http.get(page_url)
        found = _SESSION.search(page.text)
        assert page.status_code == 200, page.text
        assert found is not None, page.text
        done = await http.post(page_url, data={"session": found[1], "outcome": "verified"})
        assert done.status_code == 303, done.text

        async def verified() -> bool:
            r = await http.get(f"/v1/accounts/{account['id']}", headers=payee.headers)
            return bool(r.json()["status"] == "verified")

        # Only account.updated sets it: the sandbox process posted it, escrowd processed it.
        await _eventually(verified, "account.updated delivered and processed")

        setup = await _call(http, "/v1/customers/me/setup", payer, {})
        assert str(setup["card_form_url"]).startswith(f"{sandbox.base}/sandbox/stripe/"), setup
        card = await _call(
            http, "/v1/payment_methods/attach", payer, {"payment_method": "pm_card_visa"}
        )
        escrow = await _call(
            http,
            "/v1/escrows",
            payer,
            {
                "currency": "usd",
                "amount": 5000,
                "allocations": [{"payee": payee.id, "amount": 5000}],
            },
        )
        path = f"/v1/escrows/{escrow['id']}"
        funded = await _call(http, f"{path}/fund", payer, {"payment_method": card["id"]}, "f")
        assert funded["status"] == "held", funded
        released = await _call(http, f"{path}/release", payer, {}, "r")
        assert released["status"] == "released", released

        # PayPal's webhooks cross too: signed by the sandbox process, whose certificate escrowd
        # fetches from the sandbox's URL to verify them.
        paypal = f"{sandbox.base}/sandbox/paypal"
        token = await http.post(
            f"{paypal}/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(PAYPAL_SANDBOX_CLIENT_ID, PAYPAL_SANDBOX_CLIENT_SECRET),
        )
        assert token.status_code == 200, token.text
        batch = await http.post(
            f"{paypal}/v1/payments/payouts",
            json={
                "sender_batch_header": {"sender_batch_id": f"live-{escrow['id']}"},
                "items": [
                    {"amount": {"value": "1.00", "currency": "USD"}, "receiver": payee.email}
                ],
            },
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert batch.status_code == 201, batch.text

    async def rows() -> tuple[set[str], dict[str, str]]:
        """(the sandbox's event states, escrowd's inbound webhooks: type → status)."""
        c = real_container(postgres_url)
        try:
            async with c.db.transaction() as session:
                states = set(await session.scalars(select(sandbox_models.events.c.state)))
                inbound = await session.execute(
                    select(InboundWebhookEvent.type, InboundWebhookEvent.status)
                )
                return states, {t: s for t, s in inbound}
        finally:
            await c.close()

    async def drained() -> bool:
        states, inbound = await rows()
        return "pending" not in states and "received" not in inbound.values()

    await _eventually(drained, "every sandbox webhook delivered and processed")
    states, inbound = await rows()
    assert states == {"delivered"}, states
    assert {"account.updated", "payment_intent.succeeded", "transfer.created"} <= set(inbound)
    assert "PAYMENT.PAYOUTSBATCH.PROCESSING" in inbound, inbound
    assert set(inbound.values()) <= {"processed", "ignored"}, inbound
