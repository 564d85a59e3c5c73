"""``escrowd demo --seed NNN``: one marketplace flow's story, told through escrowd's HTTP API.

A flow with a story names the module that tells it (``Flow.demo``); that module's
``scenario(stage)`` walks the seed's users through the flow's routes and returns a ``Story``:
the escrows and payouts it made (whose ledger transfers ``escrowd demo`` prints as the money
trail) and a few facts worth printing. The ``Stage`` gives it what every story needs: the demo
users logged in, payout accounts onboarded on the sandbox's hosted page, a saved test card,
and the background work (sandbox webhooks, jobs, named sweeps) run until idle, as
``escrowd serve``'s worker would run it.

The app is served in process with the flow switched on, whatever ``ESCROWD_MARKETPLACES``
says: the demo is about that flow.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from escrowd.bootstrap import Container
from escrowd.config import ProviderMode
from escrowd.demo import (
    CARD,
    CARD_LAST4,
    DEMO_USERS,
    Api,
    DemoError,
    Say,
    ensure_users,
    issued_token,
    onboard,
    run_background,
    saved_card,
)
from escrowd.jobs.registry import SweepContext
from escrowd.marketplace import Flow


@dataclass(frozen=True)
class Part:
    """One escrow or payout the story made: its ledger transfers are a chapter of the trail."""

    #: ``esc_…`` or ``po_…``: the ledger transfers' reference.
    reference: str
    title: str


@dataclass
class Story:
    parts: list[Part]
    #: (what, value) lines printed after the trail: the seed's own figures.
    facts: list[tuple[str, str]] = field(default_factory=list)
    #: Who is who: user id → demo label, for the balances table.
    names: dict[str, str] = field(default_factory=dict)


class Stage:
    """The demo users and the in-process API a scenario calls (labels: ``admin``,
    ``client``, ``worker1``, ``worker2``)."""

    def __init__(
        self,
        container: Container,
        api: Api,
        users: dict[str, tuple[str, str, str]],
        say: Say,
    ) -> None:
        self.container = container
        self.api = api
        #: label → (user id, email, token)
        self.users = users
        self.say = say

    def id(self, label: str) -> str:
        return self.users[label][0]

    def names(self) -> dict[str, str]:
        return {user_id: label for label, (user_id, _, _) in self.users.items()}

    async def call(
        self,
        label: str | None,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        what: str,
    ) -> dict[str, Any]:
        """escrowd's API as ``label`` (None: anonymous); a refusal stops the demo."""
        token = self.users[label][2] if label else None
        return await self.api.call(method, path, token, body, key=key, what=what)

    async def settle(self, *sweeps: str) -> None:
        """Sandbox webhooks and jobs until idle; then, for each named sweep in order, one run
        of it and what it set off."""
        await run_background(self.container)
        registry = self.container.registries.jobs
        for name in sweeps:
            spec = registry.sweep(name)
            if spec is None:  # pragma: no cover - a scenario names a sweep that exists
                raise DemoError(f"no sweep {name!r}")
            now = self.container.clock.now()
            await spec.fn(SweepContext(self.container, name, now, None, "demo"))
            await run_background(self.container)

    async def onboard(self, label: str, *, organization: str | None = None) -> str:
        """``label``'s verified payout account (onboarded on the sandbox's hosted page); with
        ``organization`` (one ``label`` administers), the organization's account."""
        _, email, token = self.users[label]
        return await onboard(
            self.api,
            token,
            email,
            public_url=self.container.settings.public_url,
            settle=self.settle,
            say=self.say,
            organization=organization,
        )

    async def card(self, label: str, *, card: str = CARD, last4: str = CARD_LAST4) -> str:
        """``label``'s saved test card (0077 unless told: its money is available at once)."""
        return await saved_card(self.api, self.users[label][2], self.say, card=card, last4=last4)


Scenario = Callable[[Stage], Awaitable[Story]]


async def run_seed(container: Container, flow: Flow, *, say: Say) -> Story:
    """Tell ``flow``'s story on ``container`` (its flow must be switched on in its settings)."""
    if flow.demo is None:
        raise DemoError(f"seed {flow.seed} ({flow.name}) has no demo story yet")
    if container.settings.provider is not ProviderMode.sandbox:
        raise DemoError("the demo runs on the built-in sandbox: unset ESCROWD_PROVIDER")
    if container.sandbox is None:
        raise DemoError(
            "the demo runs with the sandbox in escrowd's process: unset ESCROWD_SANDBOX_URL"
        )
    scenario: Scenario = importlib.import_module(flow.demo).scenario
    say("1. Demo users")
    made = await ensure_users(container) or []
    from escrowd.app import create_app

    transport = httpx.ASGITransport(app=create_app(container, background=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.demo") as http:
        users: dict[str, tuple[str, str, str]] = {}
        for email, _, _, _ in DEMO_USERS:
            label = email.partition("@")[0]
            user_id, token = await issued_token(container, email)
            users[label] = (user_id, email, token)
            say(f"  {label:<7} {email} ({'created' if email in made else 'exists'})")
        stage = Stage(container, Api(http), users, say)
        story = await scenario(stage)
    story.names = {**stage.names(), **story.names}
    return story
