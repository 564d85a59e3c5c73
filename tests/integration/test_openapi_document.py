"""The OpenAPI document lists what the API really answers; 405 names every allowed method."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

import httpx
import pytest

from escrowd.errors import InvalidRequestError
from escrowd.events.domain import ALL_TYPES, matching
from escrowd.fees.domain import FeeOverride
from escrowd.money import SUPPORTED_CURRENCIES, normalize_currency
from escrowd.users.domain import EMAIL_MAX_LENGTH, EMAIL_PATTERN

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


# ---- the closed sets escrowd checks are stated, and stated exactly ---------------------------


async def test_currencies_are_the_ones_escrowd_accepts_wherever_one_is_taken(
    client: httpx.AsyncClient,
) -> None:
    doc = await _document(client)
    schemas = doc["components"]["schemas"]
    assert schemas["Currency"]["enum"] == list(SUPPORTED_CURRENCIES)
    for code in schemas["Currency"]["enum"]:
        assert normalize_currency(code) == code
    ref = {"$ref": "#/components/schemas/Currency"}
    for model in ("EscrowCreate", "LedgerAccountCreate", "LedgerTransferCreate"):
        assert ref in _options(schemas[model]["properties"]["currency"]), model
    (param,) = [
        p
        for p in doc["paths"]["/v1/ledger/accounts"]["get"]["parameters"]
        if p["name"] == "currency"
    ]
    assert ref in _options(param["schema"])


async def test_fee_policy_states_the_fields_a_fee_override_accepts(
    client: httpx.AsyncClient,
) -> None:
    doc = await _document(client)
    schemas = doc["components"]["schemas"]
    policy = schemas["FeePolicyOverride"]
    assert set(policy["properties"]) == {f.name for f in fields(FeeOverride)}
    assert policy["additionalProperties"] is False
    ref = {"$ref": "#/components/schemas/FeePolicyOverride"}
    assert schemas["FeePolicySet"]["properties"]["fee_policy"]["$ref"] == ref["$ref"]
    assert ref in _options(schemas["EscrowCreate"]["properties"]["fee_policy"])
    rate = re.compile(policy["properties"]["rate_bps"]["anyOf"][1]["pattern"])
    for text in ("0", "1500", "2.9", "9999.9999", "10000", "10000.0000", "0.0001"):
        assert rate.match(text), text
        FeeOverride.from_dict({"rate_bps": text})
    for text in ("10000.0001", "10001", "01", "1.23456", "-1", "", "1e3"):
        assert not rate.match(text), text
        with pytest.raises(InvalidRequestError):
            FeeOverride.from_dict({"rate_bps": text})


async def test_event_type_filters_are_the_catalog_and_its_prefixes(
    client: httpx.AsyncClient,
) -> None:
    doc = await _document(client)
    schemas = doc["components"]["schemas"]
    assert schemas["EventType"]["enum"] == list(ALL_TYPES)
    prefixes = schemas["EventTypePrefix"]["enum"]
    assert all(matching(p) for p in prefixes)
    # Every working prefix is listed: each type's every start, then *.
    assert {t[:n] + "*" for t in ALL_TYPES for n in range(len(t) + 1)} == set(prefixes)
    assert not matching("nothing.*")
    assert "nothing.*" not in prefixes
    params = {p["name"]: p for p in doc["paths"]["/v1/events"]["get"]["parameters"]}
    ref = {"$ref": "#/components/schemas/EventTypeFilter"}
    assert ref in _options(params["type"]["schema"])
    assert params["types[]"]["schema"]["maxItems"] == 20
    assert schemas["Event"]["properties"]["type"]["$ref"] == "#/components/schemas/EventType"


async def test_a_new_users_email_rule_is_the_one_escrowd_applies(
    client: httpx.AsyncClient,
) -> None:
    doc = await _document(client)
    email = doc["components"]["schemas"]["UserCreate"]["properties"]["email"]
    assert email["pattern"] == EMAIL_PATTERN
    assert email["maxLength"] == EMAIL_MAX_LENGTH


async def test_a_ledger_transfer_states_what_each_kind_needs(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    body = doc["components"]["schemas"]["LedgerTransferCreate"]
    moving, settling = body["oneOf"]
    assert set(moving["required"]) == {"debit_account", "credit_account", "amount", "currency"}
    assert moving["properties"]["kind"]["enum"] == ["posted", "pending"]
    assert set(settling["required"]) == {"kind", "pending_id"}
    assert settling["properties"]["kind"]["enum"] == ["post_pending", "void_pending"]


async def test_the_stripe_webhook_documents_its_signature_header(
    client: httpx.AsyncClient,
) -> None:
    doc = await _document(client)
    op = doc["paths"]["/v1/webhooks/stripe"]["post"]
    (header,) = [p for p in op["parameters"] if p["name"] == "Stripe-Signature"]
    assert header["in"] == "header"
    assert header["required"] is True


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``$ref`` of a field's schema, or of each option of ``X | None``."""
    return [{"$ref": o["$ref"]} for o in schema.get("anyOf", [schema]) if "$ref" in o]
