"""Fixtures for notifications: the escrow tests' app and drivers, a real SMTP server.

- ``smtp``: an aiosmtpd server on 127.0.0.1 (a free port), in the test's event loop; what it
  receives is in ``smtp.received``. ``await smtp.stop()`` / ``await smtp.start()`` take it
  down and bring it back on the same port. The ``settings`` send escrowd's email there.
- ``await notify(container)``: one run of the notifications sweep.
- ``await send_emails(container)``: the worker runs the due ``notifications.email`` jobs.
- ``await notifications_of(ctx, who, **params)``: the caller's list (``data``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from escrowd.bootstrap import Container
from escrowd.config import Environment, Settings
from escrowd.jobs.worker import Worker
from escrowd.notifications import emails
from escrowd.notifications.sweep import notify as notify_sweep
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    funded,
    payer,
    person,
    sweep,
)
from tests.escrows.conftest import container as container
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import Account

SENDER = "Market Notifications <notify@market.test>"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802  (aiosmtpd's hook name)
        content = envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], message)
        )
        return "250 Message accepted for delivery"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp.test", loop=loop), "127.0.0.1", self.port
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        self.server = None

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if r.rcpt_tos == [address]]


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    if server.server is not None:
        await server.stop()


@pytest.fixture
def settings(db_url: str, smtp: SmtpServer) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        smtp_url=f"smtp://127.0.0.1:{smtp.port}",
        smtp_starttls="off",
        smtp_timeout_seconds=5,
        email_from=SENDER,
    )


async def notify(container: Container) -> int:
    made = await sweep(container, notify_sweep)
    assert made is not None
    return made


async def send_emails(container: Container) -> int:
    worker = Worker(container, kinds=[emails.KIND], run_sweeps=False)
    total = 0
    # The suite shares one database: every earlier test's due email jobs are drained here too
    # (hundreds once the whole suite has run), so the bound is on a runaway, not on a count.
    for _ in range(2000):
        ran = await worker.tick()
        total += ran
        if not ran:
            return total
    raise AssertionError("email jobs kept coming")


async def notifications_of(ctx: Ctx, who: Account, **params: Any) -> list[dict[str, Any]]:
    r = await ctx.client.get(
        "/v1/notifications", params={"limit": 100, **params}, headers=who.headers
    )
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def about(items: list[dict[str, Any]], object_id: str) -> list[dict[str, Any]]:
    """The notifications about one object (the shared databases hold other tests' too)."""
    return [n for n in items if n["related_object"]["id"] == object_id]
