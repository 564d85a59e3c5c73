"""The OpenAPI document, with the error responses every operation can give.

Routes declare the errors that are theirs (403 for a role, 402 for a decline, 409 for a state,
502 for the provider). What the app's shared machinery can answer anywhere is added here, once,
so no route can forget it:

- 400 where the request carries anything to validate (path, query, header or body);
- 401 where the operation takes credentials (a wrong or expired one is refused);
- 404 where the path names an object;
- 400, 409 and 422 on every POST: the ``Idempotency-Key`` checks (escrowd.api.idempotency);
- 500 everywhere: our fault, safe to retry.

Every error response has the envelope schema. FastAPI's own 422 (``HTTPValidationError``) is
removed: validation errors leave as 400 in the envelope (escrowd.api.errors). The shared
schemas fields refer to by name (``Currency``, escrowd.api.schemas.component) are added too.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from escrowd.api.idempotency_required import mark_idempotency_keys
from escrowd.api.schemas import COMPONENT_KEY, COMPONENTS, ErrorEnvelope

API_PREFIX = "/v1/"
_ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

#: What each shared error status means, for the operations that did not say it themselves.
DESCRIPTIONS = {
    400: "Invalid request: a parameter is missing, unknown or invalid (see `error.param`)",
    401: "Missing, invalid or expired credentials",
    403: "Authenticated, but not allowed",
    404: "No such object (or not yours)",
    409: "Conflicts with the current state, or the `Idempotency-Key` is in use",
    422: "The `Idempotency-Key` was used with other parameters",
    429: "Too many requests; retry after `Retry-After` seconds",
    500: "Something went wrong on our side; safe to retry with the same `Idempotency-Key`",
}


def shared_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses the app's shared machinery can give this operation."""
    statuses = {500}
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(400)
    if operation.get("security"):
        statuses.add(401)
    if "{" in path:
        statuses.add(404)
    if method == "post":
        statuses |= {400, 409, 422}
    return statuses


def _envelope_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _ENVELOPE_REF}}}


def name_components(schema: dict[str, Any]) -> dict[str, Any]:
    """Refer to every schema marked by ``component()`` by name; return the named ones.

    What the field says beyond the shared schema (its title, its own description, a default)
    stays next to the ``$ref``.
    """
    named: dict[str, Any] = {}

    def walk(node: Any) -> None:
        children = node if isinstance(node, list) else list(node.values())
        for child in children:
            if isinstance(child, dict | list):
                walk(child)
        name = node.get(COMPONENT_KEY) if isinstance(node, dict) else None
        if isinstance(name, str):
            shared = named[name] = COMPONENTS[name]
            own = {
                k: v
                for k, v in node.items()
                if k != COMPONENT_KEY and (k not in shared or v != shared[k])
            }
            node.clear()
            node.update({"$ref": f"#/components/schemas/{name}", **own})

    walk(schema)
    # A shared schema may refer to others (EventTypeFilter to EventType): bring those too.
    pending = list(named.values())
    while pending:
        for ref in _refs(pending.pop()):
            if ref in COMPONENTS and ref not in named:
                named[ref] = COMPONENTS[ref]
                pending.append(named[ref])
    return named


def _refs(node: Any) -> list[str]:
    """The component names ``node`` refers to with ``$ref``, at any depth."""
    if isinstance(node, list):
        return [name for item in node for name in _refs(item)]
    if not isinstance(node, dict):
        return []
    found = [name for value in node.values() for name in _refs(value)]
    ref = node.get("$ref")
    if isinstance(ref, str):
        found.append(ref.rsplit("/", 1)[-1])
    return found


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared error responses to every ``/v1`` operation of ``schema`` (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(envelope.pop("$defs", {}))
    components.setdefault("ErrorEnvelope", envelope)
    components.update(name_components(schema))

    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            validation = responses.get("422", {})
            if "HTTPValidationError" in str(validation):
                del responses["422"]
            if not path.startswith(API_PREFIX):
                continue
            for code in sorted(shared_statuses(path, method, operation)):
                responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = _envelope_content()
            operation["responses"] = dict(sorted(responses.items()))
    return schema


def install(app: FastAPI) -> None:
    """Serve the document with the shared error responses and each POST's
    ``Idempotency-Key`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = document_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
            mark_idempotency_keys(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
