"""The OpenAPI document lists what the API really answers; 405 names every allowed method."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


async def test_every_error_response_has_the_envelope_and_no_422_validation_schema_remains(
    client: httpx.AsyncClient,
) -> None:
    doc = await _document(client)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in item.items():
            responses = op["responses"]
            assert "500" in responses, (method, path)
            if "{" in path:
                assert {"400", "404"} <= set(responses), (method, path)
            if op.get("security"):
                assert "401" in responses, (method, path)
            if method == "post":
                assert {"400", "409", "422"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status >= "400":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == ENVELOPE, (method, path, status)


async def test_sign_up_documents_that_credentials_are_optional(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    assert doc["paths"]["/v1/users"]["post"]["security"] == [{"bearer": []}, {}]
    assert doc["paths"]["/v1/users"]["get"]["security"] == [{"bearer": []}]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/accounts", "GET, POST"),
        ("OPTIONS", "/v1/users/me", "GET"),
        ("PUT", "/v1/users/usr_1", "GET, POST"),
        ("PATCH", "/v1/fee_policies/usr_1", "DELETE, GET, POST"),
        ("GET", "/v1/escrows/esc_1/allocations/alloc_1/assign", "POST"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    r = await client.request(method, path)
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.json()["error"]["code"] == "method_not_allowed"
