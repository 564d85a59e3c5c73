"""Stripe-looking identifiers: ``pi_`` + 24 random letters and digits."""

from __future__ import annotations

import os
import string

_ALPHABET = string.ascii_letters + string.digits
#: Byte b → _ALPHABET[b % 62], for the bytes below 248 (4 × 62) that ``token`` keeps.
_BASE62 = bytes(ord(_ALPHABET[b % 62]) for b in range(256))
_UNEVEN = bytes(range(248, 256))

#: The platform: the account whose secret key calls the API (``GET /v1/account``).
PLATFORM = "acct_1EscrowdSandboxPltf"
#: What escrowd's sandbox answers as ``api_version`` (the spec it is checked against).
API_VERSION = "2023-08-16"


def token(n: int = 24) -> str:
    # Random bytes mapped to letters and digits by one table (bytes.translate, in C): the
    # bytes from 248 up are dropped so that each of the 62 characters stays equally likely.
    while True:
        raw = os.urandom(n + n // 4 + 4).translate(_BASE62, _UNEVEN)
        if len(raw) >= n:  # short only if over a fifth of the bytes were dropped: rare
            return raw[:n].decode("ascii")


def new_id(prefix: str) -> str:
    return f"{prefix}_{token()}"


def client_secret(obj_id: str) -> str:
    return f"{obj_id}_secret_{token(25)}"
