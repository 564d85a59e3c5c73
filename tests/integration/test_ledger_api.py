"""The ledger's admin endpoints, as an operator would use them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ulid import ULID

from escrowd.bootstrap import Container
from tests.integration.conftest import (
    Account,
    assert_error,
    bearer,
    count_all,
    make_user,
)

LEDGER_TABLES = ("ledger_accounts", "ledger_transfers", "ledger_entries")


def _code(label: str) -> str:
    return f"test:{label}:{str(ULID()).lower()}"


async def _open(
    client: httpx.AsyncClient, token: str, label: str, flags: list[str] | None = None
) -> dict[str, Any]:
    r = await client.post(
        "/v1/ledger/accounts",
        json={"code": _code(label), "currency": "usd", "flags": flags or []},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_client_pays_100_platform_keeps_15_tester_gets_85(
    client: httpx.AsyncClient, admin: Account
) -> None:
    clearing = await _open(client, admin.token, "clearing")
    escrow = await _open(client, admin.token, "escrow", ["debits_must_not_exceed_credits"])
    fees = await _open(client, admin.token, "fees")
    tester = await _open(client, admin.token, "tester", ["debits_must_not_exceed_credits"])
    h = bearer(admin.token)
    ref = f"esc_{ULID()}"
    moves = [
        (f"{ref}:fund", clearing, escrow, 10000),
        (f"{ref}:fee", escrow, fees, 1500),
        (f"{ref}:release", escrow, tester, 8500),
    ]
    for tid, debit, credit, amount in moves:
        r = await client.post(
            "/v1/ledger/transfers",
            json={
                "id": tid,
                "debit_account": debit["id"],
                "credit_account": credit["id"],
                "amount": amount,
                "currency": "usd",
                "reference": ref,
            },
            headers=h,
        )
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "ledger_transfer"

    async def posted(account: dict[str, Any]) -> int:
        r = await client.get(f"/v1/ledger/accounts/{account['id']}", headers=h)
        value: int = r.json()["balances"]["posted"]
        return value

    assert await posted(escrow) == 0
    assert await posted(fees) == 1500
    assert await posted(tester) == 8500
    assert await posted(clearing) == -10000


async def test_replaying_a_transfer_id_moves_nothing_and_another_payload_is_refused(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    a = await _open(client, admin.token, "a")
    b = await _open(client, admin.token, "b")
    body = {
        "id": f"adj_{ULID()}",
        "debit_account": a["id"],
        "credit_account": b["id"],
        "amount": 700,
        "currency": "usd",
    }
    first = await client.post("/v1/ledger/transfers", json=body, headers=bearer(admin.token))
    again = await client.post("/v1/ledger/transfers", json=body, headers=bearer(admin.token))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    r = await client.get(f"/v1/ledger/accounts/{b['id']}", headers=bearer(admin.token))
    assert r.json()["balances"]["posted"] == 700

    before = await count_all(container, *LEDGER_TABLES)
    other = await client.post(
        "/v1/ledger/transfers", json={**body, "amount": 701}, headers=bearer(admin.token)
    )
    assert_error(other, 409, "invalid_request_error", "exists_with_different_fields")
    assert await count_all(container, *LEDGER_TABLES) == before


async def test_an_account_that_may_not_go_negative_refuses_an_overdraft(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    payee = await _open(client, admin.token, "payee", ["debits_must_not_exceed_credits"])
    other = await _open(client, admin.token, "other")
    before = await count_all(container, *LEDGER_TABLES)
    r = await client.post(
        "/v1/ledger/transfers",
        json={
            "id": f"adj_{ULID()}",
            "debit_account": payee["id"],
            "credit_account": other["id"],
            "amount": 1,
            "currency": "usd",
        },
        headers=bearer(admin.token),
    )
    assert_error(r, 409, "invalid_request_error", "exceeds_credits")
    assert await count_all(container, *LEDGER_TABLES) == before


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (10.5, "parameter_invalid"),
        ("1000", "parameter_invalid"),
        (True, "parameter_invalid"),
        (-5, "parameter_invalid"),
        (10**13, "parameter_invalid"),
    ],
)
async def test_an_amount_that_is_not_a_positive_integer_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, admin: Account, container: Container, amount: object, code: str
) -> None:
    a = await _open(client, admin.token, "a")
    b = await _open(client, admin.token, "b")
    before = await count_all(container, *LEDGER_TABLES)
    r = await client.post(
        "/v1/ledger/transfers",
        json={
            "id": f"adj_{ULID()}",
            "debit_account": a["id"],
            "credit_account": b["id"],
            "amount": amount,
            "currency": "usd",
        },
        headers=bearer(admin.token),
    )
    assert_error(r, 400, "invalid_request_error", code, param="amount")
    assert await count_all(container, *LEDGER_TABLES) == before


async def test_an_unknown_currency_is_refused(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    before = await count_all(container, *LEDGER_TABLES)
    r = await client.post(
        "/v1/ledger/accounts",
        json={"code": _code("x"), "currency": "xyz"},
        headers=bearer(admin.token),
    )
    assert_error(r, 400, "invalid_request_error", "currency_invalid", param="currency")
    assert await count_all(container, *LEDGER_TABLES) == before


@pytest.mark.parametrize("role", ["client", "worker"])
async def test_only_admins_reach_the_ledger(
    client: httpx.AsyncClient, container: Container, role: str
) -> None:
    user = await make_user(container, role=role)  # type: ignore[arg-type]
    before = await count_all(container, *LEDGER_TABLES)
    r = await client.post(
        "/v1/ledger/accounts",
        json={"code": _code("x"), "currency": "usd"},
        headers=bearer(user.token),
    )
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "permission_error"
    assert (await client.get("/v1/ledger/accounts", headers=bearer(user.token))).status_code == 403
    assert await count_all(container, *LEDGER_TABLES) == before


async def test_the_ledger_needs_credentials(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/ledger/accounts")
    assert_error(r, 401, "authentication_error", "authentication_required")


async def test_an_api_key_lists_accounts_by_currency(
    client: httpx.AsyncClient, admin: Account, api_key: str
) -> None:
    opened = await _open(client, admin.token, "listed")
    r = await client.get(
        "/v1/ledger/accounts",
        params={"currency": "usd", "code": opened["code"]},
        headers=bearer(api_key),
    )
    assert r.status_code == 200
    assert [a["id"] for a in r.json()["data"]] == [opened["id"]]


async def test_an_unknown_transfer_is_a_404(client: httpx.AsyncClient, admin: Account) -> None:
    r = await client.get("/v1/ledger/transfers/nope", headers=bearer(admin.token))
    assert_error(r, 404, "invalid_request_error", "resource_missing")


async def test_listing_accounts_by_an_unknown_currency_is_refused(
    client: httpx.AsyncClient, admin: Account
) -> None:
    r = await client.get(
        "/v1/ledger/accounts", params={"currency": "xyz"}, headers=bearer(admin.token)
    )
    assert_error(r, 400, "invalid_request_error", "currency_invalid", param="currency")
