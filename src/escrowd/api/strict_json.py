"""How request bodies are read: each key at most once per object, numbers as JSON Schema says.

**Duplicate keys.** ``json.loads`` keeps the last of two equal keys, so ``{"amount": 100,
"amount": 100000}`` would mean whatever the last one says while a proxy, a log or a signature
check upstream may have read the first. escrowd refuses such a body instead (400
``duplicate_key``, ``param`` the key), at any depth.

**Integers.** JSON Schema (and so the OpenAPI document) calls any number with a zero fraction an
integer: ``605.0`` is the integer 605. Python's ``json`` reads it as a float, which the strict
integer fields of our request models refuse. Here every number written with a fraction or an
exponent is read exactly (as a ``Decimal``, never through a float); an integral one becomes an
``int``, anything else a ``float`` that the strict integer fields still refuse (``605.5`` →
400). So an amount is never a float inside escrowd, and ``605.0`` means what the document says.

It costs nothing extra: the body is parsed once, by FastAPI, through ``StrictJSONRequest.json``,
whose ``object_pairs_hook`` only compares two lengths unless a key repeats. Every router is an
``escrowd.api.strict_json.APIRouter`` (routes of class ``StrictJSONRoute``); tests check that
no JSON route of the app escapes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import APIRouter as FastAPIRouter
from fastapi import Request, Response
from fastapi.routing import APIRoute

from escrowd.errors import InvalidRequestError


class DuplicateKeyError(json.JSONDecodeError):
    """A JSON object names ``key`` twice. A ``JSONDecodeError``, so any code that parses with
    :func:`loads` and handles malformed JSON refuses this too."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}", "", 0)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # the common case stops here: no key repeats
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


#: Beyond this many digits a value is far past every bound we accept; building the integer
#: (``1e999999999``) would only cost memory, so it stays a float and is refused as one.
_MAX_DIGITS = 40


def parse_number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: ``int`` when integral, else ``float``."""
    value = Decimal(text)
    if value.is_finite() and value.adjusted() < _MAX_DIGITS and value == value.to_integral_value():
        return int(value)
    return float(text)


def loads(body: bytes | str) -> Any:
    """``json.loads``, refusing an object that names a key twice (:class:`DuplicateKeyError`)
    and reading integral numbers such as ``605.0`` as integers."""
    return json.loads(body, object_pairs_hook=_unique_pairs, parse_float=parse_number)


def duplicate_key(exc: DuplicateKeyError) -> InvalidRequestError:
    return InvalidRequestError(
        f"The request body names '{exc.key}' more than once in one JSON object. Send each "
        "key once: which value was meant is ambiguous, so nothing was done.",
        code="duplicate_key",
        param=exc.key,
    )


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An APIRoute whose JSON body is parsed by :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handle(StrictJSONRequest(request.scope, request.receive))

        return strict


class APIRouter(FastAPIRouter):
    """FastAPI's router, with :class:`StrictJSONRoute` routes unless told otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", StrictJSONRoute)
        super().__init__(**kwargs)
