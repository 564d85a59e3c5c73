"""Bad input to accounts, customers and payment methods: the error envelope, nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from escrowd.bootstrap import Container
from tests.accounts.conftest import RETURN_URL, create_account
from tests.integration.conftest import assert_error, count_all, make_user

TABLES = ("connected_accounts", "customers", "payment_methods", "events", "idempotency_keys")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"owner": "usr_1"}, "parameter_unknown", "owner"),
        ({"organization": 5}, "parameter_invalid", "organization"),
        ({"organization": "usr_01J9Z3Q4K5M6N7P8R9S0T1V2W3"}, "parameter_invalid", "organization"),
        ({"organization": "org_" + "x" * 70}, "parameter_invalid", "organization"),
        ({"country": "usa"}, "parameter_invalid", "country"),
        ({"metadata": {"k": 1}}, "parameter_invalid", "metadata[k]"),
        ({"metadata": ["a"]}, "parameter_invalid", "metadata"),
        ([], "body_invalid", None),
    ],
)
async def test_a_bad_account_create_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, container: Container, body: Any, code: str, param: str | None
) -> None:
    worker = await make_user(container, role="worker")
    before = await count_all(container, *TABLES)
    headers = {**worker.headers, "Idempotency-Key": f"bad-{code}"}
    r = await client.post("/v1/accounts", json=body, headers=headers)
    assert_error(r, 400, "invalid_request_error", code, param=param)
    assert await count_all(container, *TABLES) == before


async def test_a_body_that_is_not_json_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    before = await count_all(container, *TABLES)
    r = await client.post(
        "/v1/accounts",
        content=b"{organization",
        headers={**worker.headers, "Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_request_error", "body_invalid_json")
    assert await count_all(container, *TABLES) == before


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        # refresh_url may be left out (escrowd's own refresh page then); return_url may not.
        ({"refresh_url": RETURN_URL}, "parameter_missing", "return_url"),
        ({"refresh_url": RETURN_URL, "return_url": "javascript:alert(1)"}, None, "return_url"),
        ({"refresh_url": "/relative", "return_url": RETURN_URL}, None, "refresh_url"),
        (
            {"refresh_url": RETURN_URL, "return_url": RETURN_URL, "type": "account_update"},
            "parameter_unknown",
            "type",
        ),
    ],
)
async def test_a_bad_onboarding_link_request_is_refused(
    client: httpx.AsyncClient,
    container: Container,
    body: dict[str, Any],
    code: str | None,
    param: str,
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    before = await count_all(container, *TABLES)
    r = await client.post(
        f"/v1/accounts/{acct['id']}/onboarding_link", json=body, headers=worker.headers
    )
    assert_error(r, 400, "invalid_request_error", code, param=param)
    assert await count_all(container, *TABLES) == before


async def test_a_bad_status_filter_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    r = await client.get("/v1/accounts", params={"status": "active"}, headers=worker.headers)
    assert_error(r, 400, "invalid_request_error", param="status")
