"""Customers and saved payment methods: payers at the provider (docs/accounts.md).

- ``service``: ``get_or_create_customer`` / ``ensure_customer``, ``default_payment_method``,
  setup (SetupIntent or the sandbox's hosted card form), attach, list, set the default.
- ``routes``: ``routers``, mounted under ``/v1``.
"""
