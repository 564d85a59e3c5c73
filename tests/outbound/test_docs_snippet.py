"""The verification snippet of docs/outbound-webhooks.md accepts what escrowd signs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from escrowd.outbound import domain

DOC = Path(__file__).parents[2] / "docs" / "outbound-webhooks.md"


def _snippet() -> str:
    text = DOC.read_text()
    after = text.split("Without a library", 1)[1]
    found = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert found, "the standard-library snippet is gone from the docs"
    return found.group(1)


def test_the_documented_stdlib_verifier_accepts_escrowd_signatures() -> None:
    secret = domain.new_secret()
    namespace: dict[str, Any] = {}
    exec(_snippet().replace('"whsec_…"', repr(secret)), namespace)  # noqa: S102  (our own docs)
    verify = namespace["verify"]

    body = b'{"id":"evt_1","object":"event"}'
    now = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(now),
        "webhook-signature": domain.sign(secret, msg_id="evt_1", timestamp=now, body=body),
    }
    assert verify(body, headers)
    assert not verify(body + b" ", headers)
    assert not verify(body, {**headers, "webhook-id": "evt_2"})
    stale = str(now - 600)
    assert not verify(
        body,
        {
            **headers,
            "webhook-timestamp": stale,
            "webhook-signature": domain.sign(
                secret, msg_id="evt_1", timestamp=now - 600, body=body
            ),
        },
    )
