"""Every error leaves the API in Stripe's envelope, FastAPI's own included."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from escrowd.api.strict_json import DuplicateKeyError, duplicate_key
from escrowd.errors import ApiError, EscrowdError, InvalidRequestError, NotFoundError
from escrowd.logging import get_logger

M = TypeVar("M", bound=BaseModel)

log = get_logger(__name__)

_HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

# Pydantic error types → our codes. Anything else is `parameter_invalid`.
_CODES = {
    "missing": "parameter_missing",
    "extra_forbidden": "parameter_unknown",
    "json_invalid": "body_invalid_json",
    "model_attributes_type": "body_invalid",
    "dict_type": "body_invalid",
}


def error_response(exc: EscrowdError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=exc.headers)


def _param(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out += f"[{p}]"
    return out


def validated(model: type[M], fields: Mapping[str, Any]) -> M:
    """``fields`` as the API's ``model`` checks a request body, or the envelope the API would
    answer (a web form's fields meet the same rules and messages as the route's JSON)."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


def validation_error(errors: Sequence[Any]) -> InvalidRequestError:
    """Turn the first Pydantic error into one envelope a person can act on."""
    first = errors[0] if errors else {"type": "value_error", "loc": (), "msg": "invalid"}
    kind = str(first.get("type", ""))
    param = _param(first.get("loc", ()))
    code = _CODES.get(kind, "parameter_invalid")
    if code == "body_invalid" and param is not None:  # a nested object, not the whole body
        code = "parameter_invalid"
    if kind == "json_invalid":
        ctx = first.get("ctx")
        detail = ctx.get("error", "syntax error") if isinstance(ctx, dict) else "syntax error"
        return InvalidRequestError(
            f"The request body is not valid JSON ({detail}). Send a JSON object with "
            "Content-Type: application/json.",
            code=code,
        )
    if kind == "missing":
        msg = f"Missing required parameter: {param}."
    elif kind == "extra_forbidden":
        msg = f"Received unknown parameter: {param}."
    elif code == "body_invalid":
        msg = "The request body must be a JSON object."
    else:
        got = first.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
        msg = f"Invalid {param or 'request'}: {first.get('msg', 'invalid value')}{shown}."
    return InvalidRequestError(msg, code=code, param=param)


async def _escrowd(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EscrowdError)
    return error_response(exc)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if isinstance(exc.__cause__, DuplicateKeyError):  # FastAPI's "invalid JSON", made precise
        return error_response(duplicate_key(exc.__cause__))
    return error_response(validation_error(exc.errors()))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = exc.headers
    if exc.status_code == 404:
        err: EscrowdError = NotFoundError(
            f"Unrecognized request URL ({request.method}: {request.url.path}).",
            code="url_invalid",
        )
    elif exc.status_code == 405:
        allowed = allowed_methods(request)
        err = InvalidRequestError(
            f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}.",
            code="method_not_allowed",
            status=405,
        )
        headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    elif exc.status_code < 500:
        err = InvalidRequestError(str(exc.detail), code="request_invalid", status=exc.status_code)
    else:
        err = ApiError("Something went wrong on our side.", status=exc.status_code)
    return JSONResponse(err.to_dict(), status_code=err.http_status, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, as its OpenAPI document lists them.

    Starlette's own ``Allow`` names only the methods of the first route whose path matched,
    and FastAPI makes one route per method: ``GET`` and ``POST /v1/accounts`` are two routes.
    The document is the one list of every operation; plain routes (``/openapi.json``) are
    added from the router.
    """
    matching = [(p, v) for p, v in _path_patterns(request.app) if p.fullmatch(request.url.path)]
    # The most literal path wins: /v1/users/me is its own resource, not /v1/users/{user_id}.
    fewest = min((p.pattern.count("[^/]+") for p, _ in matching), default=0)
    methods: set[str] = set()
    for pattern, verbs in matching:
        if pattern.pattern.count("[^/]+") == fewest:
            methods |= verbs
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def _path_patterns(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    cached: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        app.state, "allow_patterns", None
    )
    if cached is None:
        cached = [
            (
                re.compile(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path))),
                {m.upper() for m in item if m.upper() in _HTTP_METHODS},
            )
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.allow_patterns = cached
    return cached


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return error_response(
        ApiError(
            "Something went wrong on our side; nothing you sent was wrong. Retry with the "
            "same Idempotency-Key, and quote the Request-Id header if it persists.",
        )
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(EscrowdError, _escrowd)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unhandled)
