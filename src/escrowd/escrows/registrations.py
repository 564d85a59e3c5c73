"""Import this once per process to register everything escrows hook into.

- ``handlers``: the provider's payment and transfer events (``escrowd.webhooks.handlers``);
- ``tasks``: the outbox job handlers (``escrowd.jobs``);
- ``sweeps``: the scheduled sweeps (``escrowd.jobs``);
- ``checks``: the invariants ``escrowd ledger verify`` runs.

The app (``create_app``), the worker (``escrowd.jobs.registry.HANDLER_MODULES``) and the
``ledger verify`` command import it.
"""

from __future__ import annotations

from escrowd.escrows import checks, handlers, sweeps, tasks

__all__ = ["checks", "handlers", "sweeps", "tasks"]
