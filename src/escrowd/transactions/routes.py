"""``GET /v1/transactions``, ``GET /v1/transactions/summary`` and (admins)
``GET /v1/reports/revenue``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query

from escrowd.api.auth import AdminPrincipal, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, retrieve_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.balances.service import party_for
from escrowd.clock import unix
from escrowd.errors import InvalidRequestError
from escrowd.ids import PARTY_PATTERN
from escrowd.transactions import service
from escrowd.transactions.domain import Period
from escrowd.transactions.schemas import (
    MetricsReport,
    RevenuePeriod,
    RevenueReport,
    Transaction,
    TransactionSummary,
)

#: Largest Unix time accepted (year 2286), as the other lists' ``created`` filters.
MAX_TIME = 9_999_999_999
#: The revenue report's default window, back from ``until``.
DEFAULT_WINDOW = timedelta(days=30)

PartyQuery = Annotated[
    str | None,
    Query(
        pattern=f"{PARTY_PATTERN}|^platform$",
        description="Whose transactions: an organization you belong to (org_…); admins and "
        "API keys, any user or organization, or `platform` (its fees). Default: your own "
        "(API keys must name one).",
    ),
]

router = APIRouter(prefix="/transactions", tags=["transactions"])
reports = APIRouter(prefix="/reports", tags=["transactions"])


@router.get("", **list_route("List a party's transactions, newest first", Transaction, 404))
async def list_transactions(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep, party: PartyQuery = None
) -> ListResponse[Transaction]:
    """Payments and refunds as a payer, earnings and reversals as a payee, fees for the
    platform (docs/balances.md)."""
    who = await party_for(session, actor=principal, party=party, platform=True)
    txns, has_more = await service.page(session, party=who, params=page)
    return ListResponse[Transaction](
        url="/v1/transactions", has_more=has_more, data=[Transaction.of(t) for t in txns]
    )


@router.get(
    "/summary",
    **retrieve_route("Summarize a party's transactions per currency", TransactionSummary, 400),
)
async def transaction_summary(
    session: SessionDep, principal: CurrentPrincipal, party: PartyQuery = None
) -> TransactionSummary:
    who = await party_for(session, actor=principal, party=party, platform=False)
    return TransactionSummary.of(await service.summary(session, party=who))


_Time = Annotated[int | None, Query(ge=0, le=MAX_TIME)]


def _window(
    now: datetime, start: int | None, end: int | None, *, names: tuple[str, str]
) -> tuple[datetime, datetime]:
    """A report's ``[start, end)`` from Unix seconds: ``end`` defaults to now, ``start`` to
    ``DEFAULT_WINDOW`` before ``end``; a window that ends before it starts is refused, naming
    the query parameters as the route calls them (``names``)."""
    until = datetime.fromtimestamp(end, UTC) if end is not None else now
    since = datetime.fromtimestamp(start, UTC) if start is not None else until - DEFAULT_WINDOW
    if since >= until:
        first, last = names
        raise InvalidRequestError(
            f"'{first}' must be before '{last}'.", code="parameter_invalid", param=first
        )
    return since, until


@reports.get(
    "/revenue",
    summary="The platform's fees per period and currency (admins)",
    response_model=RevenueReport,
    responses=error_responses(400, 401, 403),
)
async def revenue_report(
    session: SessionDep,
    container: ContainerDep,
    _: AdminPrincipal,
    period: Annotated[Period, Query(description="How to group: `day`, `week` or `month`.")],
    since: Annotated[
        _Time, Query(description="Unix seconds, inclusive. Default: 30 days before `until`.")
    ] = None,
    until: Annotated[_Time, Query(description="Unix seconds, exclusive. Default: now.")] = None,
) -> RevenueReport:
    start, end = _window(container.clock.now(), since, until, names=("since", "until"))
    lines = await service.revenue(session, period=period, since=start, until=end)
    return RevenueReport(
        period=period,
        since=unix(start),
        until=unix(end),
        data=[RevenuePeriod.of(line) for line in lines],
    )


@reports.get(
    "/metrics",
    summary="Payment success and failure rates, payout and dispute times, fees (admins)",
    response_model=MetricsReport,
    responses=error_responses(400, 401, 403),
)
async def metrics_report(
    session: SessionDep,
    container: ContainerDep,
    _: AdminPrincipal,
    start: Annotated[
        _Time, Query(description="Unix seconds, inclusive. Default: 30 days before `end`.")
    ] = None,
    end: Annotated[_Time, Query(description="Unix seconds, exclusive. Default: now.")] = None,
) -> MetricsReport:
    """docs/reports.md: what each figure counts, in integers."""
    since, until = _window(container.clock.now(), start, end, names=("start", "end"))
    figures = await service.metrics(session, since=since, until=until)
    return MetricsReport.of(figures, start=unix(since), end=unix(until))
