"""Connected accounts: where payees (users or organizations) are paid (docs/accounts.md).

- ``domain``: owners, statuses, staleness and the KYC gate's messages (pure).
- ``service``: visibility, storing the provider's state, ``require_verified_payee`` (the KYC
  gate the escrows service calls before money moves to a payee), all on the caller's session;
  and the use cases that call the provider in their own short transactions: create,
  onboarding and dashboard links, refresh.
- ``refresh_links``: escrowd's own ``refresh_url`` page for onboarding links.
- ``handlers``: the provider's ``account.updated`` / ``capability.updated`` events; importing
  it registers them with ``escrowd.webhooks.handlers``.
- ``routes``: ``routers``, mounted under ``/v1``.
"""
