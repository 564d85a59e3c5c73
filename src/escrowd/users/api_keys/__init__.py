"""Platform API keys: server-to-server credentials that act as the platform (admin level).

- ``domain``: the key format and its hashing (pure).
- ``models``: ``api_keys``; ``service``: create, authenticate, revoke.
- ``schemas`` and ``routes``: ``/v1/api_keys`` (admin users).
"""
