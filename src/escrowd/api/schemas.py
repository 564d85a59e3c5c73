"""Base request/response schemas: unknown fields refused, amounts strictly integers."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, WithJsonSchema

from escrowd.money import MAX_AMOUNT, SUPPORTED_CURRENCIES

#: The key that marks a field's schema as a named, shared one (see :func:`component`).
COMPONENT_KEY = "x-escrowd-component"
#: The shared schemas by name, as :func:`component` registered them.
COMPONENTS: dict[str, dict[str, Any]] = {}


def component(name: str, schema: dict[str, Any]) -> WithJsonSchema:
    """Describe a field with the shared schema ``name``: once in ``components/schemas``, and a
    ``$ref`` to it at each field (escrowd.api.openapi.name_components does the moving).

    Only the document changes: the field is still validated by its type and by the domain
    check behind it, which keeps its own error code (``currency_invalid``, ``email_invalid``).
    """
    if COMPONENTS.setdefault(name, schema) != schema:
        raise ValueError(f"two different schemas are both named {name}")
    return WithJsonSchema({**schema, COMPONENT_KEY: name})


#: An amount in minor units: a JSON integer only (1050, never 10.5, "1050" or true).
AmountInt = Annotated[int, Strict(), Field(ge=0, le=MAX_AMOUNT)]
#: A strictly positive amount in minor units.
PositiveAmountInt = Annotated[int, Strict(), Field(gt=0, le=MAX_AMOUNT)]
#: Free-form key/value pairs the client may attach to an object (Stripe's rules).
Metadata = Annotated[
    dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=500)]],
    Field(max_length=50),
]

#: A currency escrowd supports: escrowd.money checks it (400 ``currency_invalid`` otherwise).
Currency = Annotated[
    str,
    component(
        "Currency",
        {
            "type": "string",
            "enum": list(SUPPORTED_CURRENCIES),
            "description": "A three-letter ISO 4217 code, lower case, of a currency with a "
            "minor unit (`usd`, `eur`, `jpy`); amounts are integers of that unit. Upper case is "
            "accepted too and stored lower case.",
            "examples": ["usd"],
        },
    ),
]


class RequestModel(BaseModel):
    """Base for request bodies: no mass assignment, no coercion of types."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class ApiObject(BaseModel):
    """Base for objects returned by the API."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class ListResponse(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    url: str
    has_more: bool
    data: list[T]


class DeletedObject(BaseModel):
    id: str
    object: str
    deleted: Literal[True] = True


def list_response(url: str, data: list[Any], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": data}


class ErrorDetail(BaseModel):
    type: str
    code: str
    message: str
    param: str | None


class ErrorEnvelope(BaseModel):
    """What every error looks like (see docs/api.md)."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses=`` entries for the given error statuses."""
    text = {
        400: "Invalid request",
        401: "Missing, invalid or expired credentials",
        403: "Authenticated, but not allowed",
        404: "No such object (or not yours)",
        409: "Conflicts with the current state",
    }
    return {s: {"model": ErrorEnvelope, "description": text.get(s, "Error")} for s in statuses}
