"""Crash safety of account creation: the provider call is keyed by escrowd's own row.

Faults are injected at the provider edge only: the real adapter still talks to the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.stripe.adapter import StripeProvider
from escrowd.providers.types import AccountRequest, ConnectedAccount
from tests.accounts.conftest import create_account
from tests.accounts.test_kyc_gate import gate
from tests.integration.conftest import assert_error, count_rows, make_user


class Faulty:
    """Wraps the adapter's create_account: fail before or after the real call, once."""

    def __init__(self, provider: StripeProvider, when: str) -> None:
        self.real = provider.create_account
        self.when = when
        self.keys: list[str] = []
        self.made: list[ConnectedAccount] = []

    async def __call__(self, req: AccountRequest) -> ConnectedAccount:
        self.keys.append(req.idempotency_key)
        if self.when == "before":
            self.when = ""
            raise ProviderError(ProviderErrorKind.api, "connection refused", provider="stripe")
        made = await self.real(req)
        self.made.append(made)
        if self.when == "after":
            self.when = ""
            raise ProviderError(ProviderErrorKind.unknown_outcome, "read timeout")
        return made


@pytest.fixture
def faulty(
    container: Container, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Faulty]:
    provider = container.provider
    assert isinstance(provider, StripeProvider)

    def install(when: str) -> Faulty:
        fault = Faulty(provider, when)
        monkeypatch.setattr(provider, "create_account", fault)
        return fault

    return install


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_create_interrupted_around_the_provider_call_finishes_on_retry_with_one_account(
    client: httpx.AsyncClient,
    container: Container,
    faulty: Callable[[str], Faulty],
    when: str,
) -> None:
    worker = await make_user(container, role="worker")
    fault = faulty(when)
    r = await client.post("/v1/accounts", json={}, headers=worker.headers)
    assert_error(r, 502, "api_error")
    # escrowd's row was committed first; it waits for the provider's account.
    listed = await client.get("/v1/accounts", headers=worker.headers)
    [pending] = listed.json()["data"]
    assert pending["provider_account_id"] is None
    said = await gate(container, worker.id)
    assert said.startswith(f"payee_account_incomplete: payee {worker.id}'s account {pending['id']}")

    acct = await create_account(client, worker)
    assert acct["id"] == pending["id"]
    assert fault.keys == [f"{acct['id']}:create"] * 2
    # Same key, so the provider answered the retry with the account it made the first time.
    assert {m.id for m in fault.made} == {acct["provider_account_id"]}


async def test_a_create_the_provider_refuses_leaves_nothing_behind(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = await make_user(container, role="worker")
    provider = container.provider
    assert isinstance(provider, StripeProvider)
    real = provider.create_account

    async def refuse(req: AccountRequest) -> ConnectedAccount:
        raise ProviderError(
            ProviderErrorKind.invalid_request, "Country ZZ is not supported.", param="country"
        )

    monkeypatch.setattr(provider, "create_account", refuse)
    before = await count_rows(container, "connected_accounts")
    r = await client.post("/v1/accounts", json={"country": "ZZ"}, headers=worker.headers)
    assert_error(r, 400, "invalid_request_error", param="country")
    assert await count_rows(container, "connected_accounts") == before
    monkeypatch.setattr(provider, "create_account", real)
    assert (await create_account(client, worker))["owner_id"] == worker.id
