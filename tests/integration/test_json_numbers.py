"""JSON numbers are read as JSON Schema reads them: ``605.0`` is the integer 605.

The body is sent as raw text, so the literal reaches escrowd exactly as written.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ulid import ULID

from escrowd.accounts.routes import routers as account_routers
from escrowd.api.strict_json import StrictJSONRoute, parse_number
from escrowd.bootstrap import Container
from escrowd.customers.routes import routers as customer_routers
from escrowd.escrows.routes import routers as escrow_routers
from escrowd.events.routes import router as events_router
from escrowd.fees.routes import router as fee_policy_router
from escrowd.jobs.routes import router as incidents_router
from escrowd.ledger.routes import router as ledger_router
from escrowd.sandbox import clock_routes
from escrowd.users.routes import routers as user_routers
from tests.integration.conftest import Account, assert_error, bearer, count_all

LEDGER_TABLES = ("ledger_accounts", "ledger_transfers")


async def _account(client: httpx.AsyncClient, admin: Account, label: str) -> str:
    r = await client.post(
        "/v1/ledger/accounts",
        json={"code": f"test:{label}:{str(ULID()).lower()}", "currency": "usd"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    account_id: str = r.json()["id"]
    return account_id


async def _transfer(
    client: httpx.AsyncClient, admin: Account, amount_literal: str
) -> httpx.Response:
    debit, credit = await _account(client, admin, "a"), await _account(client, admin, "b")
    body = (
        f'{{"id": "adj_{ULID()}", "debit_account": "{debit}", "credit_account": "{credit}", '
        f'"currency": "usd", "amount": {amount_literal}}}'
    )
    return await client.post(
        "/v1/ledger/transfers",
        content=body.encode(),
        headers={**bearer(admin.token), "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("literal", ["605.0", "6.05e2", "60500e-2", "605.000"])
async def test_an_integral_number_is_the_integer(
    client: httpx.AsyncClient, admin: Account, literal: str
) -> None:
    r = await _transfer(client, admin, literal)
    assert r.status_code == 200, r.text
    amount: Any = r.json()["amount"]
    assert type(amount) is int
    assert amount == 605


@pytest.mark.parametrize(
    "literal", ["605.5", "605.0000000000000001", "1e999999999", "-605.0", "1e13", "NaN"]
)
async def test_a_number_that_is_not_an_integer_in_range_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, admin: Account, container: Container, literal: str
) -> None:
    debit, credit = await _account(client, admin, "a"), await _account(client, admin, "b")
    before = await count_all(container, *LEDGER_TABLES)
    body = (
        f'{{"id": "adj_{ULID()}", "debit_account": "{debit}", "credit_account": "{credit}", '
        f'"currency": "usd", "amount": {literal}}}'
    )
    r = await client.post(
        "/v1/ledger/transfers",
        content=body.encode(),
        headers={**bearer(admin.token), "Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_request_error", "parameter_invalid", param="amount")
    assert await count_all(container, *LEDGER_TABLES) == before


def test_the_exact_reading_never_goes_through_a_float() -> None:
    assert parse_number("9007199254740993.0") == 9007199254740993  # 2**53 + 1: no float has it
    assert isinstance(parse_number("605.5"), float)


def test_every_api_router_reads_bodies_this_way() -> None:
    # The webhook router is left out on purpose: it verifies a signature over the raw body.
    routers = [
        *user_routers,
        *account_routers,
        *customer_routers,
        *escrow_routers,
        fee_policy_router,
        ledger_router,
        events_router,
        clock_routes.router,
        incidents_router,
    ]
    assert all(r.route_class is StrictJSONRoute for r in routers), [
        r.prefix for r in routers if r.route_class is not StrictJSONRoute
    ]
