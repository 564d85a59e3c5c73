"""Users, organizations, authentication and platform API keys.

- ``domain``: roles and the rules about them (pure).
- ``passwords``: argon2id hashing; ``tokens``: HS256 access tokens.
- ``service`` (users, login), ``organizations``, ``api_keys``: use cases on an AsyncSession.
- ``routes``: ``routers``, mounted under ``/v1`` by ``create_app``.
"""
