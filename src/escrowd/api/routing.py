"""Request bodies are read with JSON Schema's notion of an integer.

JSON Schema (and so the OpenAPI document) calls any number with a zero fraction an integer:
``605.0`` is the integer 605. Python's ``json`` reads it as a float, which the strict integer
fields of our request models refuse. Here every number written with a fraction or an exponent
is read exactly (as a ``Decimal``, never through a float); an integral one becomes an ``int``,
anything else a ``float`` that the strict integer fields still refuse (``605.5`` → 400). So an
amount is never a float inside escrowd, and ``605.0`` means what the document says it means.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

#: Beyond this many digits a value is far past every bound we accept; building the integer
#: (``1e999999999``) would only cost memory, so it stays a float and is refused as one.
_MAX_DIGITS = 40


def parse_number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: ``int`` when integral, else ``float``."""
    value = Decimal(text)
    if value.is_finite() and value.adjusted() < _MAX_DIGITS and value == value.to_integral_value():
        return int(value)
    return float(text)


def loads(body: bytes) -> Any:
    return json.loads(body, parse_float=parse_number)


class _JsonNumbersRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class JsonNumbersRoute(APIRoute):
    """An ``APIRoute`` whose body is parsed by ``loads``: pass ``route_class=`` to routers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_JsonNumbersRequest(request.scope, request.receive))

        return route
