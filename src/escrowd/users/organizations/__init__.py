"""Organizations: payees that are a team, and their members.

- ``domain``: organization roles and the rule that one admin always remains (pure).
- ``models``: ``organizations``, ``organization_members``; ``service``: the use cases.
- ``schemas`` and ``routes``: ``/v1/organizations`` and its members.
"""
