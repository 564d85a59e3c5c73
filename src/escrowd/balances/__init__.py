"""Balances: what a payee (a user or an organization) holds, read from the ledger.

- ``domain``: parties, the balance's three figures per currency (pure).
- ``service``: whose balance the caller may read (``party_for``, used by transactions too),
  and the balance itself, from the accounts' stored balances (no entries summed).
- ``schemas`` and ``routes``: ``GET /v1/balance``.
- ``tasks``: the payout delay's job, moving a release's net from pending to available.

docs/balances.md.
"""
