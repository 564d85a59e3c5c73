"""Users, authentication, and their two subdomains: organizations and platform API keys.

- ``domain``: platform roles and the rules about them (pure).
- ``models``, ``schemas``, ``service`` (users, login), ``routes``: the users domain itself.
- ``passwords``: argon2id hashing; ``tokens``: HS256 access tokens; ``cli``: ``escrowd users``.
- ``organizations/`` and ``api_keys/``: each the same five files (domain, models, schemas,
  service, routes).
- ``routes.routers``: every router of this package, mounted under ``/v1`` by ``create_app``.

Who is calling (``Principal`` and the FastAPI dependencies) is the API's concern:
``escrowd.api.principal`` and ``escrowd.api.auth``.
"""
