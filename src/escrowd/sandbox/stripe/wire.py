"""Stripe's wire format: form-encoded bracket parameters in, JSON out.

``metadata[k]=v`` → ``{"metadata": {"k": "v"}}``; ``expand[]=a&expand[]=b`` and
``expand[0]=a&expand[1]=b`` → ``{"expand": ["a", "b"]}``; ``items[0][price]=p`` →
``{"items": [{"price": "p"}]}``. Values stay strings: the parameter schemas convert them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from escrowd.sandbox.stripe.errors import InvalidRequestError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEG = re.compile(r"\[([^\[\]]*)\]")
#: Marks a dict built from ``a[0]``/``a[]`` segments, turned into a list at the end.
_LIST = "\x00list"


def decode(raw: str) -> dict[str, Any]:
    """Nested parameters from a query string or an urlencoded body."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        m = _KEY.match(key)
        if m is None:
            raise InvalidRequestError(f"Invalid parameter name: {key}", param=key)
        path = [m.group(1), *_SEG.findall(m.group(2))]
        _put(root, path, value, key)
    return _finish(root)  # type: ignore[no-any-return]


def _put(node: dict[str, Any], path: list[str], value: str, key: str) -> None:
    for i, seg in enumerate(path):
        last = i == len(path) - 1
        nxt_is_index = not last and (path[i + 1] == "" or path[i + 1].isdigit())
        if seg == "":
            # ``a[]``: append, or fill the last element while its keys are new (``a[][x]``).
            seg = str(sum(1 for k in node if k != _LIST))
            if not last and seg != "0":
                prev = node[str(int(seg) - 1)]
                if isinstance(prev, dict) and path[i + 1] not in prev:
                    seg = str(int(seg) - 1)
        if last:
            if isinstance(node.get(seg), dict):
                raise InvalidRequestError(
                    f"Invalid hash: {key} is also given as a value.", param=key
                )
            node[seg] = value
            return
        child = node.get(seg)
        if child is None:
            child = {_LIST: True} if nxt_is_index else {}
            node[seg] = child
        elif not isinstance(child, dict):
            raise InvalidRequestError(f"Invalid hash: {key} is also given as a value.", param=key)
        node = child


def _finish(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value.pop(_LIST, False) and all(k.isdigit() for k in value):
        return [_finish(value[k]) for k in sorted(value, key=int)]
    return {k: _finish(v) for k, v in value.items()}
