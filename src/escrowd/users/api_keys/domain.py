"""Platform API keys: ``ek_<ULID of the key id>_<43 url-safe characters>``. Pure rules.

The secret carries 256 random bits, so a single SHA-256 is the right hash at rest (a slow
password hash buys nothing against a brute force of 2^256). The key id inside the secret finds
the row in one primary-key lookup; the hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Final

from escrowd.errors import AuthenticationError
from escrowd.ids import Prefix

SECRET_PREFIX: Final = "ek_"  # noqa: S105 - a format marker, not a secret
_SECRET_RE: Final = re.compile(r"^ek_([0-9A-HJKMNP-TV-Z]{26})_([A-Za-z0-9_-]{43})$")
#: ``last_used_at`` is written at most this often per key, so busy keys cost no extra writes.
LAST_USED_RESOLUTION: Final = timedelta(seconds=60)


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(SECRET_PREFIX)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(key_id: str) -> str:
    """A fresh secret for ``key_id`` (``key_<ULID>``): the ULID, then 256 random bits."""
    return f"{SECRET_PREFIX}{key_id.partition('_')[2]}_{secrets.token_urlsafe(32)}"


def invalid() -> AuthenticationError:
    return AuthenticationError(
        "Invalid API key: it is mistyped, revoked or unknown. Check the key you send as "
        "'Authorization: Bearer ek_…', or ask an admin for a new one.",
        code="api_key_invalid",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def key_id_of(secret: str) -> str | None:
    m = _SECRET_RE.match(secret)
    return f"{Prefix.api_key.value}_{m.group(1)}" if m else None
