"""Parameter schemas: what each endpoint accepts, converted from strings, with Stripe's errors.

A schema is a dict of name → ``P``. Anything not in it is refused as Stripe refuses it
(``parameter_unknown``: "Received unknown parameter: x"); integers, booleans and enums are
checked; an empty string means "unset" only where ``emptyable`` says the field can be unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from escrowd.sandbox.stripe.errors import InvalidRequestError

MAX_STRING = 5000


@dataclass(frozen=True, slots=True)
class P:
    kind: str  # str | int | bool | enum | meta | obj | list | range | any
    required: bool = False
    emptyable: bool = False
    choices: tuple[str, ...] = ()
    fields: Mapping[str, P] = field(default_factory=dict)
    item: P | None = None
    min: int | None = None
    max: int | None = None


def Str(*, required: bool = False, emptyable: bool = False) -> P:  # noqa: N802 - schema DSL
    return P("str", required=required, emptyable=emptyable)


def Int(  # noqa: N802
    *, required: bool = False, min: int | None = None, max: int | None = None
) -> P:
    return P("int", required=required, min=min, max=max)


def Bool(*, required: bool = False) -> P:  # noqa: N802
    return P("bool", required=required)


def Enum(*choices: str, required: bool = False, emptyable: bool = False) -> P:  # noqa: N802
    return P("enum", required=required, emptyable=emptyable, choices=choices)


def Meta() -> P:  # noqa: N802
    return P("meta", emptyable=True)


def Obj(  # noqa: N802
    fields: Mapping[str, P], *, required: bool = False, emptyable: bool = False
) -> P:
    return P("obj", required=required, emptyable=emptyable, fields=fields)


def List(item: P, *, required: bool = False, emptyable: bool = False) -> P:  # noqa: N802
    return P("list", required=required, emptyable=emptyable, item=item)


def Range() -> P:  # noqa: N802
    """``created=123`` or ``created[gte]=…&created[lt]=…``."""
    return P("range")


def Any_() -> P:  # noqa: N802
    """Accepted and ignored (documented as not emulated)."""
    return P("any")


EXPAND = List(Str())
LIST_PARAMS: dict[str, P] = {
    "limit": Int(min=1, max=100),
    "starting_after": Str(),
    "ending_before": Str(),
}
_TRUE = {"true"}
_FALSE = {"false"}
_RANGE_KEYS = ("gt", "gte", "lt", "lte")


def validate(schema: Mapping[str, P], raw: Mapping[str, Any]) -> dict[str, Any]:
    return _obj(schema, raw, "")


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _obj(schema: Mapping[str, P], raw: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        spec = schema.get(key)
        if spec is None:
            name = _name(prefix, key)
            raise InvalidRequestError(
                f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
        out[key] = _value(spec, value, _name(prefix, key))
    for key, spec in schema.items():
        if spec.required and key not in out:
            name = _name(prefix, key)
            raise InvalidRequestError(
                f"Missing required param: {name}.", code="parameter_missing", param=name
            )
    return out


def _empty(spec: P, name: str) -> None:
    if not spec.emptyable:
        raise InvalidRequestError(
            f"You passed an empty string for '{name}'. We assume empty values are an attempt "
            f"to unset a parameter; however '{name}' cannot be unset. You should remove "
            f"'{name}' from your request or supply a non-empty value.",
            code="parameter_invalid_empty",
            param=name,
        )


def _value(spec: P, value: Any, name: str) -> Any:
    kind = spec.kind
    if kind == "any":
        return value
    if value == "":
        _empty(spec, name)
        return None
    if kind in ("str", "int", "bool", "enum") and not isinstance(value, str):
        raise InvalidRequestError(
            f"Invalid {_what(kind)} for {name}: expected a single value, not a hash or array.",
            param=name,
        )
    if kind == "str":
        if len(value) > MAX_STRING:
            raise InvalidRequestError(
                f"Invalid string: {value[:40]}...; must be at most {MAX_STRING} characters",
                code="string_length_exceeds_maximum",
                param=name,
            )
        return value
    if kind == "int":
        return _int(spec, value, name)
    if kind == "bool":
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise InvalidRequestError(f"Invalid boolean: {value}", param=name)
    if kind == "enum":
        if value not in spec.choices:
            raise InvalidRequestError(
                f"Invalid {name}: must be one of {_or(spec.choices)}", param=name
            )
        return value
    if kind == "meta":
        return _meta(value, name)
    if kind == "obj":
        if not isinstance(value, dict):
            raise InvalidRequestError(f"Invalid object for {name}: expected a hash.", param=name)
        return _obj(spec.fields, value, name)
    if kind == "list":
        items = list(value.values()) if isinstance(value, dict) else value
        if not isinstance(items, list):
            raise InvalidRequestError(f"Invalid array for {name}: expected an array.", param=name)
        assert spec.item is not None
        return [_value(spec.item, v, f"{name}[{i}]") for i, v in enumerate(items)]
    if kind == "range":
        if isinstance(value, str):
            return {"eq": _int(Int(), value, name)}
        if not isinstance(value, dict):
            raise InvalidRequestError(f"Invalid {name}: expected an integer or a hash.", param=name)
        return _obj({k: Int() for k in _RANGE_KEYS}, value, name)
    raise AssertionError(kind)  # pragma: no cover - schemas are written in this package


def _int(spec: P, value: str, name: str) -> int:
    text = value.strip()
    if not (text.lstrip("-").isdigit() and text.lstrip("-").isascii()):
        raise InvalidRequestError(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=name
        )
    number = int(text)
    if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
        if spec.max is None:
            bound = f"must be at least {spec.min}"
        else:
            bound = f"must be between {spec.min} and {spec.max}"
        raise InvalidRequestError(
            f"Invalid {name}: {bound}", code="parameter_invalid_integer", param=name
        )
    return number


def _meta(value: Any, name: str) -> dict[str, str]:
    if isinstance(value, list):
        value = {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"Invalid {name}: metadata must be a hash of string keys and values.", param=name
        )
    if len(value) > 50:
        raise InvalidRequestError(
            "You can have at most 50 keys in metadata.", code="parameter_invalid", param=name
        )
    for k, v in value.items():
        if not isinstance(v, str):
            raise InvalidRequestError(
                f"Invalid value for {name}[{k}]: metadata values must be strings.", param=name
            )
        if len(k) > 40:
            raise InvalidRequestError(
                f"Metadata keys can have up to 40 characters, but you passed in a key that is "
                f"{len(k)} characters.",
                param=f"{name}[{k}]",
            )
        if len(v) > 500:
            raise InvalidRequestError(
                f"Metadata values can have up to 500 characters, but you passed in a value "
                f"that is {len(v)} characters.",
                param=f"{name}[{k}]",
            )
    return dict(value)


def _what(kind: str) -> str:
    return {"int": "integer", "bool": "boolean"}.get(kind, "string")


def _or(choices: tuple[str, ...]) -> str:
    shown = [c for c in choices if c]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + f", or {shown[-1]}"


def merge_metadata(current: Mapping[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value deletes, ``metadata=`` clears."""
    if update is None:
        return {}
    merged = dict(current)
    for k, v in update.items():
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged
