"""The KYC gate the escrows service calls before money moves to a payee."""

from __future__ import annotations

import httpx
import pytest

from escrowd.accounts.service import PayeeNotReadyError, require_verified_payee
from escrowd.bootstrap import Container
from escrowd.errors import InvalidRequestError
from tests.accounts.conftest import Browser, create_account, make_org, onboarded
from tests.integration.conftest import make_user


async def gate(container: Container, party_id: str) -> str:
    """The refusal's code and message, or the verified account's id."""
    refused: PayeeNotReadyError | None = None
    async with container.db.transaction() as session:
        try:
            account = await require_verified_payee(session, party_id=party_id)
        except PayeeNotReadyError as exc:
            refused = exc
    if refused is None:
        return account.id
    assert refused.http_status == 409
    assert refused.party_id == party_id
    return f"{refused.code}: {refused.message}"


async def test_a_payee_without_an_account_is_told_to_create_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    assert await gate(container, worker.id) == (
        f"payee_account_missing: payee {worker.id} has no connected account: create one with "
        "POST /v1/accounts and complete onboarding"
    )
    org = await make_org(client, worker)
    said = await gate(container, org)
    assert said.startswith(f"payee_account_missing: payee {org} has no connected account")
    assert f'{{"organization": "{org}"}}' in said


async def test_a_pending_payee_is_told_to_finish_onboarding(
    client: httpx.AsyncClient, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await create_account(client, worker)
    said = await gate(container, worker.id)
    assert said.startswith(
        f"payee_account_pending: payee {worker.id}'s account {acct['id']} is pending "
        "verification: onboarding is not finished (currently due: business_profile.mcc, "
    )
    assert " more)" in said  # twenty names are summarized
    assert f"POST /v1/accounts/{acct['id']}/onboarding_link" in said


async def test_a_restricted_payee_is_told_what_is_past_due(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await onboarded(client, browser, container, worker, outcome="restricted")
    assert await gate(container, worker.id) == (
        f"payee_account_restricted: payee {worker.id}'s account {acct['id']} is restricted: "
        "requirements past due: individual.verification.document; the payee updates their "
        f"details through POST /v1/accounts/{acct['id']}/onboarding_link"
    )


async def test_a_verified_payee_passes_the_gate_user_or_organization(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    worker = await make_user(container, role="worker")
    acct = await onboarded(client, browser, container, worker)
    assert await gate(container, worker.id) == acct["id"]
    org = await make_org(client, worker)
    org_acct = await onboarded(client, browser, container, worker, organization=org)
    assert await gate(container, org) == org_acct["id"]


async def test_the_gate_refuses_an_id_that_is_no_party(container: Container) -> None:
    async with container.db.transaction() as session:
        with pytest.raises(InvalidRequestError, match="not a user"):
            await require_verified_payee(session, party_id="esc_01J9Z3Q4K5M6N7P8R9S0T1V2W3")
