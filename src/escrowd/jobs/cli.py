"""``escrowd worker``: run outbox jobs and periodic sweeps (mounted by the main CLI as
``app.command("worker")(worker)``). Any number may run against PostgreSQL; on SQLite run one.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress
from typing import Annotated

import typer
from rich.console import Console

from escrowd.bootstrap import Container
from escrowd.cli_support import DatabaseUrlOpt, load_settings, redact
from escrowd.config import Settings
from escrowd.jobs.worker import Step, Worker, WorkerStats
from escrowd.webhooks.service import process_pending

console = Console(stderr=True)

#: How often a running worker prints what it did (when it did anything).
REPORT_EVERY = 60.0


def _summary(stats: WorkerStats) -> str:
    return (
        f"{stats.succeeded} succeeded, {stats.retried} retried, {stats.failed} failed "
        f"(incidents); {stats.sweeps} sweeps ran, {stats.sweeps_failed} failed"
    )


def worker(
    once: Annotated[
        bool,
        typer.Option("--once", help="Run what is due now (until nothing is), then exit."),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-c", min=1, max=256, help="Jobs this worker runs at the same time."
        ),
    ] = 4,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Only claim jobs of this kind (repeat for several). [default: every kind]",
            show_default=False,
        ),
    ] = None,
    no_sweeps: Annotated[
        bool, typer.Option("--no-sweeps", help="Leave the periodic sweeps to other workers.")
    ] = False,
    no_webhooks: Annotated[
        bool,
        typer.Option(
            "--no-webhooks",
            help="Leave the stored inbound webhooks (Stripe's, PayPal's) to other workers "
            "or to `escrowd serve`.",
        ),
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval", min=0.05, max=60.0, help="Seconds between looks when idle."
        ),
    ] = 1.0,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0.0,
            help="On Ctrl-C / SIGTERM, seconds to let running jobs finish before handing "
            "them back to the queue.",
        ),
    ] = 30.0,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Run outbox jobs, periodic sweeps and the stored inbound webhooks until Ctrl-C (or
    once, with --once).

    Start as many as you like on PostgreSQL (they share the work; each job and each webhook
    is handled by one of them); on SQLite run a single one. `escrowd serve` already runs one
    in process, unless started with --no-background.
    """
    settings = load_settings(database_url)
    url = settings.effective_database_url
    ok = asyncio.run(
        _main(
            settings, once, concurrency, kind, not no_sweeps, not no_webhooks, poll_interval, grace
        )
    )
    if not ok:
        console.print(
            f"[red]Cannot use {redact(url)}:[/red] run `escrowd migrate` first.", soft_wrap=True
        )
        raise typer.Exit(2)


async def _main(
    settings: Settings,
    once: bool,
    concurrency: int,
    kinds: list[str] | None,
    sweeps: bool,
    webhooks: bool,
    poll_interval: float,
    grace: float,
) -> bool:
    from sqlalchemy import select

    from escrowd.bootstrap import build
    from escrowd.jobs.models import Job

    container = build(settings)
    try:
        try:
            async with container.db.transaction() as session:
                await session.execute(select(Job.id).limit(1))
        except Exception:
            return False
        w = Worker(
            container,
            kinds=kinds or None,
            run_sweeps=sweeps,
            steps=[
                *(_webhook_steps(container) if webhooks else []),
                *(_sweep_steps() if sweeps else []),
            ],
        )
        known = sorted(w.registry.kinds())
        where = redact(settings.effective_database_url)
        console.print(f"[bold]escrowd worker {w.worker_id}[/bold] on {where}")
        console.print(
            f"  handlers: {', '.join(known) or 'none'}; claiming: "
            f"{', '.join(kinds) if kinds else 'every kind'}; sweeps: "
            f"{', '.join(s.name for s in w.registry.sweeps()) if sweeps else 'off'}; "
            f"inbound webhooks: {'on' if webhooks else 'off'}"
        )
        if container.db.dialect == "sqlite" and not once:
            console.print("  SQLite: run only this one worker (SQLite has a single writer).")
        if once:
            await _drain(w, concurrency)
        else:
            await _forever(w, concurrency, poll_interval, grace)
        console.print(f"Done: {_summary(w.stats)}.")
        return True
    finally:
        await container.close()


def _webhook_steps(container: Container) -> list[Step]:
    """Processing the stored inbound webhooks; in sandbox mode first the sandbox's own clock
    and webhook deliveries, which a serving process started with --no-background leaves to
    the workers as it leaves them everything else (not with ``ESCROWD_SANDBOX_URL``: the
    sandbox's own process does them)."""
    from escrowd.sandbox.stripe.app import deliver_pending

    if container.sandbox is None:
        return [process_pending]
    return [deliver_pending, process_pending]


def _sweep_steps() -> list[Step]:
    """Notifications for new events as they come, not only at the sweep's interval."""
    from escrowd.notifications.sweep import notify_new

    return [notify_new]


async def _drain(w: Worker, batch: int) -> None:
    with console.status("running due jobs …", spinner="dots") as status:
        while True:
            ran = await w.tick(limit=batch, concurrent=True)
            status.update(f"running due jobs … {w.stats.jobs} done")
            if ran == 0:
                return


async def _forever(w: Worker, concurrency: int, poll_interval: float, grace: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    run = asyncio.create_task(
        w.run(concurrency=concurrency, stop_event=stop, poll_interval=poll_interval, grace=grace)
    )
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            console.print(
                f"Stopping: letting running jobs finish (up to {grace:g} s). "
                "Ctrl-C again hands them back to the queue now."
            )
            stop.set()
        else:
            console.print("Handing running jobs back to the queue …")
            run.cancel()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):  # not on Windows' default loop
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    console.print(f"  running up to {concurrency} jobs at a time. Ctrl-C to stop.")
    reporter = asyncio.create_task(_report(w))
    try:
        await run
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if not run.cancelled() or (me is not None and me.cancelling()):
            raise  # we were cancelled ourselves, not just the run by a second Ctrl-C
    finally:
        reporter.cancel()
        with suppress(asyncio.CancelledError):
            await reporter
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _report(w: Worker) -> None:
    last = (0, 0)
    while True:
        await asyncio.sleep(REPORT_EVERY)
        now = (w.stats.jobs, w.stats.sweeps + w.stats.sweeps_failed)
        if now != last:
            console.print(f"worker {w.worker_id}: so far {_summary(w.stats)}")
            last = now
