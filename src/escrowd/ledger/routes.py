"""Admin endpoints over the ledger: read accounts and transfers, post manual adjustments.

Escrows, payouts and refunds move money through their own use cases; these endpoints are for
operators (corrections are new transfers, never edits) and for reconciliation tooling.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from escrowd.api.auth import AdminPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import found, list_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import Currency, ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.errors import NotFoundError
from escrowd.ledger.domain import TransferKind, TransferRequest
from escrowd.ledger.models import LedgerAccount as AccountRow
from escrowd.ledger.schemas import (
    LedgerAccount,
    LedgerAccountCreate,
    LedgerTransfer,
    LedgerTransferCreate,
    flags_from_names,
)
from escrowd.ledger.service import Ledger, account_from_row, accounts_query

router = APIRouter(prefix="/ledger", tags=["ledger"])

AccountIdPath = Annotated[str, Path(max_length=40, description="A ledger account id (lacct_…).")]
TransferIdPath = Annotated[str, Path(max_length=128, description="A ledger transfer id.")]


@router.post(
    "/accounts",
    **write_route(
        "Open a ledger account (or return the existing one with that code)",
        LedgerAccount,
        400,
        401,
        403,
        409,
    ),
)
async def open_account(
    body: LedgerAccountCreate, session: SessionDep, container: ContainerDep, _: AdminPrincipal
) -> LedgerAccount:
    ledger = Ledger(session, clock=container.clock)
    account = await ledger.open_account(
        code=body.code, currency=body.currency, flags=flags_from_names(body.flags)
    )
    return LedgerAccount.of(account)


@router.get("/accounts", **list_route("List ledger accounts, newest first", LedgerAccount, 403))
async def list_accounts(
    session: SessionDep,
    _: AdminPrincipal,
    page: PageDep,
    currency: Annotated[Currency | None, Query(min_length=3, max_length=3)] = None,
    code: Annotated[str | None, Query(max_length=200, description="Exact code.")] = None,
) -> ListResponse[LedgerAccount]:
    return await page_of(
        session,
        accounts_query(currency=currency, code=code),
        AccountRow.id,
        page,
        url="/v1/ledger/accounts",
        of=lambda a: LedgerAccount.of(account_from_row(a)),
    )


@router.get(
    "/accounts/{account_id}",
    **retrieve_route("Retrieve a ledger account and its balances", LedgerAccount, 403),
)
async def get_account(
    account_id: AccountIdPath, session: SessionDep, _: AdminPrincipal
) -> LedgerAccount:
    return LedgerAccount.of(await Ledger(session).get_account(account_id=account_id))


@router.post(
    "/transfers",
    **write_route(
        "Post a manual transfer (a correction is a new transfer, never an edit)",
        LedgerTransfer,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def create_transfer(
    body: LedgerTransferCreate, session: SessionDep, container: ContainerDep, _: AdminPrincipal
) -> LedgerTransfer:
    """Sending the same `id` with the same fields again returns the first transfer and moves
    nothing; the same `id` with other fields is refused (`exists_with_different_fields`)."""
    ledger = Ledger(session, clock=container.clock)
    (result,) = await ledger.create_transfers(
        [
            TransferRequest(
                id=body.id,
                kind=TransferKind(body.kind),
                debit_account_id=body.debit_account,
                credit_account_id=body.credit_account,
                amount=body.amount,
                currency=body.currency,
                pending_id=body.pending_id,
                reference=body.reference,
                category=body.category or "adjustment",
            )
        ]
    )
    return LedgerTransfer.of(result.unwrap())


@router.get(
    "/transfers/{transfer_id}", **retrieve_route("Retrieve a ledger transfer", LedgerTransfer, 403)
)
async def get_transfer(
    transfer_id: TransferIdPath, session: SessionDep, _: AdminPrincipal
) -> LedgerTransfer:
    transfer = await Ledger(session).get_transfer(transfer_id=transfer_id)
    missing = NotFoundError(f"No such ledger transfer: '{transfer_id}'.", param="transfer_id")
    return LedgerTransfer.of(found(transfer, missing))
