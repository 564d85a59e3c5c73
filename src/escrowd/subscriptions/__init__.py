"""Membership plans, subscriptions billed by the provider, and the plan limits the marketplace
checks before it publishes (docs/subscriptions.md).

- ``domain``: plans' limits, the subscription state machine, calendar-month usage periods (pure).
- ``models``: ``plans``, ``subscriptions``.
- ``service``: plans, subscribe / change plan / cancel (record → provider call → apply),
  ``apply_provider`` for what the provider says, ``plan_of`` an owner.
- ``limits/``: limit checks and recorded uses (its own tables and routes).
- ``handlers``: the provider's invoice and subscription events (verified).
- ``routes``: ``/v1/plans``, ``/v1/subscriptions``; ``limits/routes``: ``/v1/limits/check``,
  ``/v1/usage``.
"""
