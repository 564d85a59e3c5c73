"""The charts' numbers, read through the transactions service and shaped into bars: a
payee's earnings over time, the platform's fees by period and its payment success rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.money import Money
from escrowd.transactions import service as transactions
from escrowd.transactions.domain import Period, period_start, period_starts
from escrowd.web.charts import Bar, bar_chart

#: How far back each period's charts look: two weeks of days, a quarter of weeks, a year.
SPAN = {Period.day: 14, Period.week: 13, Period.month: 12}


def window(now: datetime, period: Period) -> tuple[datetime, datetime]:
    """The last ``SPAN[period]`` periods up to and including the current one."""
    until = period_start(now, period)
    since = until
    for _ in range(SPAN[period] - 1):
        since = period_start(since - timedelta(days=1), period)
    if period is Period.month:
        until = period_start(until + timedelta(days=32), period)
    else:
        until = until + timedelta(days=7 if period is Period.week else 1)
    return since, until


def label(start: datetime, period: Period) -> str:
    if period is Period.month:
        return start.strftime("%b %Y")
    return f"{start.strftime('%b')} {start.day}"


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


@dataclass(frozen=True, slots=True)
class Chart:
    heading: str
    svg: Markup
    #: The same numbers as (period, value in words) rows, for the table under the chart.
    rows: list[tuple[str, str]]


def _money_chart(
    title: str, starts: list[datetime], period: Period, sums: dict[datetime, int], currency: str
) -> Chart:
    bars = [Bar(label(s, period), sums.get(s, 0), _money(sums.get(s, 0), currency)) for s in starts]
    svg = bar_chart(
        bars,
        title=title,
        description=f"{title}, one bar per {period.value}, from {bars[0].label} to "
        f"{bars[-1].label}.",
        axis=lambda v: _money(v, currency),
    )
    return Chart(title, svg, [(b.label, b.text) for b in bars])


async def earnings_charts(
    session: AsyncSession, *, party: str, now: datetime, period: Period = Period.week
) -> list[Chart]:
    """One chart per currency earned in the window (a USD one when nothing was)."""
    since, until = window(now, period)
    lines = await transactions.earnings(
        session, party=party, period=period, since=since, until=until
    )
    starts = period_starts(since, until, period)
    currencies = sorted({line.currency for line in lines}) or ["usd"]
    return [
        _money_chart(
            f"Earnings per {period.value} ({currency.upper()})",
            starts,
            period,
            {line.period_start: line.net for line in lines if line.currency == currency},
            currency,
        )
        for currency in currencies
    ]


async def revenue_charts(session: AsyncSession, *, now: datetime, period: Period) -> list[Chart]:
    since, until = window(now, period)
    lines = await transactions.revenue(session, period=period, since=since, until=until)
    starts = period_starts(since, until, period)
    currencies = sorted({line.currency for line in lines}) or ["usd"]
    return [
        _money_chart(
            f"Platform fees per {period.value} ({currency.upper()})",
            starts,
            period,
            {line.period_start: line.fees for line in lines if line.currency == currency},
            currency,
        )
        for currency in currencies
    ]


@dataclass(frozen=True, slots=True)
class RateRow:
    period: str
    attempts: int
    succeeded: int
    failed: int
    rate: str


def percent(bps: int | None) -> str:
    """``9_650`` → ``96.5 %``; no attempts → ``–``. Integers only: no float is rounded."""
    if bps is None:
        return "–"
    whole, tenth = divmod((bps + 5) // 10, 10)
    return f"{whole} %" if tenth == 0 else f"{whole}.{tenth} %"


async def success_chart(
    session: AsyncSession, *, now: datetime, period: Period
) -> tuple[Markup, list[RateRow]]:
    since, until = window(now, period)
    lines = {
        line.period_start: line
        for line in await transactions.payment_success(
            session, period=period, since=since, until=until
        )
    }
    starts = period_starts(since, until, period)
    bars, rows = [], []
    for s in starts:
        line = lines.get(s, transactions.PaymentRateLine(s, 0, 0))
        text = f"{percent(line.success_bps)} of {line.attempts}"
        bars.append(Bar(label(s, period), line.success_bps or 0, text))
        rows.append(
            RateRow(label(s, period), line.attempts, line.succeeded, line.failed,
                    percent(line.success_bps))
        )  # fmt: skip
    title = f"Payment success rate per {period.value}"
    svg = bar_chart(
        bars,
        title=title,
        description=f"{title}: succeeded payment attempts as a share of all attempts.",
        axis=percent,
        top=10_000,
    )
    return svg, rows
