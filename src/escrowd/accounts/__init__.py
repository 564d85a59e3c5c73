"""Connected accounts: where payees (users or organizations) are paid (docs/accounts.md).

- ``domain``: owners, statuses, staleness and the KYC gate's messages (pure).
- ``service``: visibility, storing the provider's state, ``require_verified_payee`` (the KYC
  gate the escrows service calls before money moves to a payee); no provider calls.
- ``onboarding``: the use cases that call the provider: create, onboarding and dashboard
  links, refresh.
- ``handlers``: the provider's ``account.updated`` / ``capability.updated`` events; importing
  it registers them with ``escrowd.webhooks.handlers``.
- ``routes``: ``routers``, mounted under ``/v1``.
"""
