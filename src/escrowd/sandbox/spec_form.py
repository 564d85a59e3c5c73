"""The spec checker's own decoder of Stripe's bracket-encoded forms and queries.

Stripe's encoding (what every official SDK writes, `stripe._encode._api_encode` in Python):
a scalar is ``key=value``; a dict is ``key[sub]=value`` recursively; a list is ``key[0]=v``,
``key[1]=v`` (current SDKs) or ``key[]=v`` (older ones), and a list of dicts is
``key[0][sub]=v``; booleans are ``true`` / ``false``; ``None`` is left out; ``""`` unsets.
Decoding gives back the nested value with every leaf a string.

This decoder is written strictly to those rules and is separate from the sandbox's request
parser on purpose: the fidelity tests use it to prove the SDK's encoding round-trips, so it
must not share a bug with the code under test.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

FormValue = str | list[Any] | dict[str, Any]


class FormDecodeError(ValueError):
    """The body or query cannot be a Stripe form (conflicting shapes for one key)."""


class _Indexed:
    """A list written as ``key[0]=``, ``key[1]=``: positions arrive in any order."""

    __slots__ = ("slots",)

    def __init__(self) -> None:
        self.slots: dict[int, Any] = {}


def _split_key(key: str) -> tuple[str, list[str]]:
    """``a[b][0][]`` → ``("a", ["b", "0", ""])``; a malformed key stays one literal name."""
    open_at = key.find("[")
    if open_at <= 0 or not key.endswith("]"):
        return key, []
    segments: list[str] = []
    rest = key[open_at:]
    while rest:
        close_at = rest.find("]")
        if not rest.startswith("[") or close_at < 0:
            return key, []
        segments.append(rest[1:close_at])
        rest = rest[close_at + 1 :]
    if any("[" in s for s in segments):
        return key, []
    return key[:open_at], segments


def _has_path(node: Any, segments: list[str]) -> bool:
    for segment in segments:
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, _Indexed) and segment.isdigit() and int(segment) in node.slots:
            node = node.slots[int(segment)]
        else:
            return False
    return True


def _new_container(segment: str) -> Any:
    if segment == "":
        return []
    if segment.isdigit():
        return _Indexed()
    return {}


def _kind_fits(node: Any, segment: str) -> bool:
    if segment == "":
        return isinstance(node, list)
    if segment.isdigit():
        return isinstance(node, _Indexed)
    return isinstance(node, dict)


def _insert(container: Any, segments: list[str], value: str, full_key: str) -> None:
    """Put ``value`` at ``segments`` under ``container`` (whose kind fits segments[0])."""
    segment, rest = segments[0], segments[1:]
    if isinstance(container, list):
        # Rack's rule for ``a[][x]=1&a[][y]=2&a[][x]=3`` → [{x, y}, {x}]: keep filling the last
        # element until a key repeats.
        if not rest:
            container.append(value)
            return
        last = container[-1] if container else None
        if last is None or not _kind_fits(last, rest[0]) or _has_path(last, rest):
            last = _new_container(rest[0])
            container.append(last)
        _insert(last, rest, value, full_key)
        return
    slots: dict[Any, Any] = container.slots if isinstance(container, _Indexed) else container
    slot: Any = int(segment) if isinstance(container, _Indexed) else segment
    if not rest:
        if slot in slots and not isinstance(slots[slot], str):
            raise FormDecodeError(f"parameter {full_key!r} conflicts with a nested one")
        slots[slot] = value  # a repeated scalar key: the last one wins, as on Stripe
        return
    child = slots.get(slot)
    if child is None:
        child = slots[slot] = _new_container(rest[0])
    elif not _kind_fits(child, rest[0]):
        raise FormDecodeError(f"parameter {full_key!r} conflicts with another of a different shape")
    _insert(child, rest, value, full_key)


def _finish(node: Any) -> Any:
    """Turn builders into plain lists and dicts."""
    if isinstance(node, _Indexed):
        positions = sorted(node.slots)
        if positions == list(range(len(positions))):
            return [_finish(node.slots[i]) for i in positions]
        # Gaps (``a[1]=`` alone): not a list Stripe's SDKs write; keep the keys so the checker
        # can say the array is malformed, or accept it where a free-form hash is expected.
        return {str(i): _finish(node.slots[i]) for i in positions}
    if isinstance(node, list):
        return [_finish(v) for v in node]
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node


def decode_form(body: str | bytes) -> dict[str, Any]:
    """Decode a form body or query string into Stripe's nested parameter value.

    ``amount=100&metadata[k]=v&expand[0]=latest_charge`` →
    ``{"amount": "100", "metadata": {"k": "v"}, "expand": ["latest_charge"]}``. Leaves are
    strings (``+`` and percent escapes decoded as UTF-8). Raises FormDecodeError when one key
    is used with two shapes (``a=1&a[b]=2``) or the bytes are not UTF-8.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("ascii")
        except UnicodeDecodeError as exc:
            raise FormDecodeError("a form body must be ASCII (percent-encoded UTF-8)") from exc
    try:
        pairs = parse_qsl(body, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise FormDecodeError(f"form value is not UTF-8: {exc}") from exc
    root: dict[str, Any] = {}
    for key, value in pairs:
        name, segments = _split_key(key)
        _insert(root, [name, *segments], value, key)
    finished: dict[str, Any] = _finish(root)
    return finished
