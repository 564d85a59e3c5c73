"""Payouts: a payee's available money out to their bank, through their connected account.

- ``domain``: statuses and which move, the ledger transfer ids, schedule periods (pure).
- ``models``: the ``payouts`` table (migration 0013) and ``payout_schedules`` (0017).
- ``schemas`` and ``routes``: ``/v1/payouts`` (request, list, retrieve, approve, reject) and
  ``/v1/payout_schedule``.
- ``service``: the use cases. A request holds the money in the ledger (a pending transfer);
  approving records the payout, then calls the provider outside any transaction with the
  payout's own idempotency key, then applies the answer; the provider's paid / failed posts or
  voids the hold.
- ``handlers``: ``payout.paid`` / ``payout.failed`` from the provider (verified, never trusted).
- ``tasks``: the send job (the provider call's retries, then an incident), the sync sweep
  (payouts still on their way), the schedules' sweep (automatic payouts).

docs/payouts.md.
"""
