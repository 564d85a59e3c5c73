"""Stripe-looking identifiers: ``pi_`` + 24 random letters and digits."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

#: The platform: the account whose secret key calls the API (``GET /v1/account``).
PLATFORM = "acct_1EscrowdSandboxPltf"
#: What escrowd's sandbox answers as ``api_version`` (the spec it is checked against).
API_VERSION = "2023-08-16"


def token(n: int = 24) -> str:
    # One draw from the OS and a base-62 expansion: ~20x faster than a choice per letter.
    number = int.from_bytes(secrets.token_bytes(n), "big")
    out = []
    for _ in range(n):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def new_id(prefix: str) -> str:
    return f"{prefix}_{token()}"


def client_secret(obj_id: str) -> str:
    return f"{obj_id}_secret_{token(25)}"
