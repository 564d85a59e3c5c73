"""The composition root: the one place that wires escrowd together.

``build(settings)`` returns a finished, immutable :class:`Container`: settings, database,
clock, the payment provider (in sandbox mode, the sandbox's ASGI app reached in process, no
sockets, unless ``ESCROWD_SANDBOX_URL`` names a sandbox in its own process), and the
registries of what runs where — webhook handlers, job handlers and sweeps,
operation verbs, ledger checks. Nothing registers itself when imported and nothing is filled
in later: a module that acts on events, jobs or operations exposes a ``register(…)`` function,
and :func:`registries` below calls each one. Tests build a container with a frozen clock,
another database or another provider here, nowhere else.

``create_app(container)`` (``escrowd.app``) only builds the HTTP app around a container; the
worker, the CLI and the sandbox use the container alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from escrowd.clock import Clock, SystemClock
from escrowd.config import ConfigError, ProviderMode, Settings
from escrowd.db.session import Database

if TYPE_CHECKING:
    from escrowd.escrows.operations import Verb
    from escrowd.jobs.registry import Registry as JobRegistry
    from escrowd.ledger.checks import Check
    from escrowd.providers.base import PaymentProvider
    from escrowd.webhooks.handlers import HandlerRegistry


@dataclass(frozen=True)
class Core:
    """What every part of escrowd may depend on, the sandbox included: settings, the
    database and the clock."""

    settings: Settings
    db: Database
    clock: Clock


@dataclass(frozen=True)
class Registries:
    """Who acts on what, for one process."""

    #: Provider events → handlers (``escrowd.webhooks``).
    webhooks: HandlerRegistry
    #: Job kinds → handlers, periodic sweeps, incident hooks (``escrowd.jobs``).
    jobs: JobRegistry
    #: Operation kinds → their verb: provider call and settlement (``escrowd.escrows``).
    verbs: Mapping[str, Verb]
    #: Invariants ``escrowd ledger verify`` checks after the ledger's own.
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Container(Core):
    """Everything a use case needs, finished by :func:`build`."""

    provider: PaymentProvider
    registries: Registries
    #: escrowd's provider-webhook endpoint alone, as an ASGI app: where the in-process sandbox
    #: delivers its events (the same verification and storage as ``POST /v1/webhooks/stripe``).
    webhook_intake: ASGIApp
    #: The in-process Stripe sandbox (sandbox mode), answering under ``/sandbox/stripe``:
    #: ``create_app`` serves it there; the provider already talks to it. None outside sandbox
    #: mode and with ``ESCROWD_SANDBOX_URL`` (the sandbox is another process's).
    sandbox: ASGIApp | None = None
    #: Every provider built, by name: ``provider`` under its own name (``stripe``) and PayPal
    #: (``paypal``) when configured (always in sandbox mode). ``provider`` stays the default
    #: every existing caller uses; a caller that knows which provider a record belongs to
    #: (an escrow's ``provider`` column) picks it with :meth:`provider_named`.
    providers: Mapping[str, PaymentProvider] = field(default_factory=dict)

    @property
    def paypal(self) -> PaymentProvider | None:
        return self.providers.get("paypal")

    def provider_named(self, name: str | None) -> PaymentProvider:
        """The provider called ``name``; None is the default ``provider``."""
        if name is None:
            return self.provider
        found = self.providers.get(name)
        if found is None:
            configured = ", ".join(sorted(self.providers)) or "none"
            raise ConfigError(
                f"The payment provider {name!r} is not configured (configured: {configured})."
            )
        return found

    async def close(self) -> None:
        for provider in self.providers.values():
            if provider is not self.provider:
                await provider.aclose()
        await self.provider.aclose()
        await self.db.dispose()


def registries() -> Registries:
    """Every handler, job, sweep, settler and check escrowd runs, registered explicitly."""
    # Imported here, not at the top: these modules use the Container type themselves.
    from escrowd.accounts import handlers as account_handlers
    from escrowd.balances import tasks as balance_tasks
    from escrowd.disputes import handlers as dispute_handlers
    from escrowd.disputes import tasks as dispute_tasks
    from escrowd.escrows import checks as escrow_checks
    from escrowd.escrows import handlers as escrow_handlers
    from escrowd.escrows import settlement, sweeps, tasks
    from escrowd.jobs import builtin
    from escrowd.jobs.registry import Registry as JobRegistry
    from escrowd.marketplace.auctions import sweeps as auction_sweeps
    from escrowd.marketplace.jobs import sweeps as job_marketplace_sweeps
    from escrowd.marketplace.tasks import sweeps as task_sweeps
    from escrowd.notifications import sweep as notification_sweep
    from escrowd.outbound import tasks as outbound_tasks
    from escrowd.payouts import handlers as payout_handlers
    from escrowd.payouts import tasks as payout_tasks
    from escrowd.reconcile import sweep as reconcile_sweep
    from escrowd.subscriptions import handlers as subscription_handlers
    from escrowd.webhooks import paypal_handlers
    from escrowd.webhooks.handlers import HandlerRegistry

    webhooks = HandlerRegistry()
    escrow_handlers.register(webhooks)
    account_handlers.register(webhooks)
    payout_handlers.register(webhooks)
    dispute_handlers.register(webhooks)
    subscription_handlers.register(webhooks)
    paypal_handlers.register(webhooks)

    jobs = JobRegistry()
    builtin.register(jobs)
    tasks.register(jobs)
    dispute_tasks.register(jobs)
    sweeps.register(jobs)
    reconcile_sweep.register(jobs)
    balance_tasks.register(jobs)
    payout_tasks.register(jobs)
    notification_sweep.register(jobs)
    outbound_tasks.register(jobs)
    job_marketplace_sweeps.register(jobs)
    auction_sweeps.register(jobs)
    task_sweeps.register(jobs)

    return Registries(
        webhooks=webhooks,
        jobs=jobs,
        verbs=settlement.VERBS,
        checks=escrow_checks.CHECKS,
    )


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    wrap_provider: Callable[[PaymentProvider], PaymentProvider] | None = None,
    with_registries: Registries | None = None,
) -> Container:
    """A finished container for ``settings`` (read from the environment when omitted).

    ``wrap_provider`` wraps the configured provider (tests inject faults or record calls at
    the network edge this way); ``with_registries`` replaces the default registries.
    """
    from escrowd.providers.registry import build_paypal_provider, build_provider
    from escrowd.webhooks.inbound import intake_app

    settings = settings or Settings()
    core = Core(
        settings=settings,
        db=Database(
            settings.effective_database_url,
            pool_size=settings.db_pool_size,
            echo=settings.db_echo,
        ),
        clock=clock or SystemClock(),
    )
    sandbox: ASGIApp | None = None
    paypal_sandbox: ASGIApp | None = None
    if settings.provider is ProviderMode.sandbox and not settings.is_dev:
        # Settings refuse this; a copy made past them too
        raise ConfigError("ESCROWD_PROVIDER=sandbox is for development, not production.")
    if settings.provider is ProviderMode.sandbox and not settings.sandbox_url:
        # With ESCROWD_SANDBOX_URL the sandbox is another process's (``escrowd sandbox
        # serve``): the providers reach it over HTTP and nothing of it runs here.
        from escrowd.sandbox.paypal.app import mounted_paypal_sandbox
        from escrowd.sandbox.stripe.app import mounted_sandbox

        sandbox = mounted_sandbox(core)
        paypal_sandbox = mounted_paypal_sandbox(core)
    provider = build_provider(settings, sandbox=sandbox, clock=core.clock)
    name = provider.name
    if wrap_provider is not None:
        provider = wrap_provider(provider)
    providers: dict[str, PaymentProvider] = {name: provider}
    paypal = build_paypal_provider(settings, sandbox=paypal_sandbox, clock=core.clock)
    if paypal is not None:
        providers[paypal.name] = paypal
    intake = intake_app()
    container = Container(
        settings=core.settings,
        db=core.db,
        clock=core.clock,
        provider=provider,
        registries=with_registries or registries(),
        webhook_intake=intake,
        sandbox=sandbox,
        providers=providers,
    )
    # The endpoint finds its container where every escrowd route does: on its app's state.
    intake.state.container = container
    return container
