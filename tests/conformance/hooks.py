"""schemathesis hooks shared by the in-suite run and the longer CLI run (docs/schemathesis.md).

``Idempotency-Key``: a client sends a new key with each new request, and escrowd answers a key
reused with other parameters with 422 ``idempotency_key_reused`` — as documented. Generated
data repeats header values across operations (the coverage phase sends ``""``/``"0"`` to
every one), so every generated key is replaced with a fresh one when the request goes out. A
request generated *without* the header keeps it missing, so the ``idempotency_key_required``
400 is still exercised.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from ulid import ULID

HEADER = "Idempotency-Key"


@schemathesis.hook
def before_call(
    context: schemathesis.HookContext, case: schemathesis.Case[Any], kwargs: Any
) -> None:
    headers = case.headers
    if headers is None:
        return
    for name in list(headers):
        if name.lower() == HEADER.lower():
            headers[name] = f"schemathesis-{ULID()}"
