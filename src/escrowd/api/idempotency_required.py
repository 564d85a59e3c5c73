"""Routes that move money demand an ``Idempotency-Key``; every other POST accepts one.

A route opts in with one word, ``dependencies=[RequireIdempotencyKey]`` (which
``api.listing.money_route`` adds to a money route's decorator): route dependencies run
before the route's own (``Caller`` included), so a request without the header is refused
before anything is read, written or sent to the payment provider. ``IdempotencyMiddleware``
(``escrowd.api.idempotency``) does the replaying; this module only says where a key is
mandatory, and ``mark_idempotency_keys`` (called when ``api.openapi`` builds the document)
makes /openapi.json say so too: the header is required on those operations and optional on
every other POST.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.params import Depends as DependsParam

from escrowd.api.idempotency import MAX_KEY_LENGTH
from escrowd.errors import InvalidRequestError

HEADER_NAME = "Idempotency-Key"

_KEY_RULES = (
    f"A unique value per operation (a UUID is a good choice), 1 to {MAX_KEY_LENGTH} printable "
    "characters. A retry with the same key and parameters replays the first response"
)
REQUIRED_DESCRIPTION = (
    f"Required: this request moves money. {_KEY_RULES} instead of moving money twice."
)
OPTIONAL_DESCRIPTION = f"Optional. {_KEY_RULES}."


def key_required() -> InvalidRequestError:
    return InvalidRequestError(
        f"This request moves money, so it needs an {HEADER_NAME} header: send "
        f"'{HEADER_NAME}: <a unique value, such as a UUID>' and reuse the same value when you "
        "retry, so a retry never moves the money twice.",
        code="idempotency_key_required",
        param=HEADER_NAME,
    )


async def require_idempotency_key(
    idempotency_key: Annotated[
        str | None, Header(alias=HEADER_NAME, description=REQUIRED_DESCRIPTION)
    ] = None,
) -> None:
    # Declared optional so that a missing header reaches this check (and its exact error)
    # instead of FastAPI's generic one, which would not stop the other dependencies.
    # The middleware has already refused a blank or malformed key.
    if idempotency_key is None:
        raise key_required()


#: ``@router.post(..., dependencies=[RequireIdempotencyKey])`` on every route that moves money
#: (``**money_route(…)`` says it for them).
RequireIdempotencyKey: DependsParam = Depends(require_idempotency_key)


def mark_idempotency_keys(schema: dict[str, Any]) -> None:
    """Give every POST operation the header: required where ``RequireIdempotencyKey`` declared
    it (FastAPI lists it as optional, with ``REQUIRED_DESCRIPTION``), optional elsewhere."""
    for operations in schema.get("paths", {}).values():
        operation = operations.get("post")
        if operation is None:
            continue
        parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
        header = next(
            (p for p in parameters if p.get("in") == "header" and p.get("name") == HEADER_NAME),
            None,
        )
        if header is None:
            header = {"name": HEADER_NAME, "in": "header"}
            parameters.append(header)
        must = header.get("description") == REQUIRED_DESCRIPTION
        header["required"] = must
        header["description"] = REQUIRED_DESCRIPTION if must else OPTIONAL_DESCRIPTION
        header["schema"] = {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}
