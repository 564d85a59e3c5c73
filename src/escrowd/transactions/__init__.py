"""Transactions: the ledger as people see it (DESIGN §1).

- ``domain``: what each escrow ledger transfer is to a party — its type, signed amount and
  references — its stable ``txn_…`` id, and revenue periods (pure).
- ``service``: a party's history (ledger entries, newest first), its summary, and the
  platform's revenue per period.
- ``schemas`` and ``routes``: ``GET /v1/transactions``, ``/v1/transactions/summary`` and
  ``/v1/reports/revenue``.

docs/balances.md.
"""
