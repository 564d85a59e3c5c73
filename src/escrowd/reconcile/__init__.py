"""Reconciliation: escrowd's ledger and escrow records against the provider's own objects.

``escrowd reconcile`` (cli.py) and the daily sweep (sweep.py) run ``service.reconcile``;
domain.py holds the comparison rules and the kinds of difference. docs/reconcile.md.
"""
