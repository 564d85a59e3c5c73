"""Fees: what the platform keeps and who bears the provider's processing cost.

- ``domain``: fee policies and the breakdown of every allocation to the cent (pure).
- ``models``: ``payee_fee_policies``, a payee's own override.
- ``service``: where a policy comes from (marketplace default, payee override) and the
  overrides' use cases.
- ``schemas`` and ``routes``: ``/v1/fee_policies`` (admins).
"""
