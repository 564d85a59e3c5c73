"""JSON request bodies with each key at most once per object, at any depth.

``json.loads`` keeps the last of two equal keys, so ``{"amount": 100, "amount": 100000}`` would
mean whatever the last one says while a proxy, a log or a signature check upstream may have
read the first. escrowd refuses such a body instead (400 ``duplicate_key``, ``param`` the key).

It costs nothing extra: the body is parsed once, by FastAPI, through ``StrictJSONRequest.json``
whose ``object_pairs_hook`` only compares two lengths unless a key repeats. Every router is an
``escrowd.api.strict_json.APIRouter`` (routes of class ``StrictJSONRoute``); a test checks that
no JSON route of the app escapes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
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


def loads(body: bytes | str) -> Any:
    """``json.loads``, refusing an object that names a key twice (:class:`DuplicateKeyError`)."""
    return json.loads(body, object_pairs_hook=_unique_pairs)


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
