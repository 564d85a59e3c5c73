"""The transaction object, a party's summary, and the platform's revenue report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from escrowd.api.schemas import ApiObject, Currency
from escrowd.clock import unix
from escrowd.transactions.domain import Period, TxnType, mean_seconds, rate_bps
from escrowd.transactions.service import (
    Metrics,
    PayeeFigures,
    PayerFigures,
    RevenueLine,
    Summary,
    Txn,
)


class Transaction(ApiObject):
    id: str = Field(description="txn_…, stable: derived from the ledger transfer.")
    object: Literal["transaction"] = "transaction"
    type: TxnType
    amount: int = Field(
        description="Minor units, signed from the party's point of view: money in is "
        "positive (an earning, a refund), money out negative (a payment, a reversal)."
    )
    currency: Currency
    created: int = Field(description="Unix seconds.")
    party: str = Field(description="Whose transaction: usr_…, org_… or platform.")
    escrow: str | None = Field(description="The escrow it belongs to (esc_…).")
    allocation: str | None = Field(
        description="The allocation, for earnings and reversals (alloc_…)."
    )
    payout: str | None = Field(default=None, description="The payout (po_…), for payouts.")

    @classmethod
    def of(cls, t: Txn) -> Transaction:
        return cls(
            id=t.id,
            type=t.type,
            amount=t.amount,
            currency=t.currency,
            created=unix(t.created),
            party=t.party,
            escrow=t.escrow,
            allocation=t.allocation,
            payout=t.payout,
        )


class PayerSummary(BaseModel):
    currency: Currency
    paid: int = Field(description="Paid into escrows (captured or charged).")
    refunded: int = Field(description="Refunded from escrows.")
    in_escrow: int = Field(description="Held in the party's escrows now.")

    @classmethod
    def of(cls, f: PayerFigures) -> PayerSummary:
        return cls(currency=f.currency, paid=f.paid, refunded=f.refunded, in_escrow=f.in_escrow)


class PayeeSummary(BaseModel):
    currency: Currency
    earned: int = Field(description="Released to the party (its net, after fees).")
    reversed: int = Field(description="Taken back by transfer reversals.")
    pending: int = Field(description="Released but not available yet.")
    available: int = Field(description="Available to pay out.")
    in_transit: int = Field(description="Payouts requested and not yet at the bank.")
    paid_out: int = Field(description="Paid out to the bank (payouts paid).")

    @classmethod
    def of(cls, f: PayeeFigures) -> PayeeSummary:
        return cls(
            currency=f.currency,
            earned=f.earned,
            reversed=f.reversed,
            pending=f.pending,
            available=f.available,
            in_transit=f.in_transit,
            paid_out=f.paid_out,
        )


class TransactionSummary(ApiObject):
    object: Literal["transaction_summary"] = "transaction_summary"
    party: str
    payer: list[PayerSummary] = Field(description="As a payer, per currency.")
    payee: list[PayeeSummary] = Field(description="As a payee, per currency.")

    @classmethod
    def of(cls, s: Summary) -> TransactionSummary:
        return cls(
            party=s.party,
            payer=[PayerSummary.of(f) for f in s.payer],
            payee=[PayeeSummary.of(f) for f in s.payee],
        )


class RevenuePeriod(BaseModel):
    period_start: int = Field(description="Unix seconds: the period's start (UTC).")
    currency: Currency
    fees: int = Field(description="Platform fees booked in the period, minor units.")
    count: int = Field(description="How many fee transfers.")

    @classmethod
    def of(cls, line: RevenueLine) -> RevenuePeriod:
        return cls(
            period_start=unix(line.period_start),
            currency=line.currency,
            fees=line.fees,
            count=line.count,
        )


class RevenueReport(ApiObject):
    object: Literal["revenue_report"] = "revenue_report"
    period: Period
    since: int = Field(description="Unix seconds, inclusive.")
    until: int = Field(description="Unix seconds, exclusive.")
    data: list[RevenuePeriod] = Field(description="Per period and currency, oldest first.")


class PaymentMetrics(BaseModel):
    attempts: int = Field(description="Payment attempts in the window: succeeded + failed.")
    succeeded: int = Field(description="Charged (`escrow.funded`) or authorized.")
    failed: int = Field(description="Declined or failed authentication (`payment.failed`).")
    success_rate_bps: int | None = Field(
        description="succeeded / attempts in basis points (10000 = 100%), rounded half up; "
        "null without attempts."
    )
    failure_rate_bps: int | None = Field(
        description="10000 − success_rate_bps; null without attempts."
    )


class PayoutMetrics(BaseModel):
    paid: int = Field(description="Payouts that reached the bank in the window.")
    failed: int = Field(description="Payouts that failed in the window (the money returned).")
    average_processing_seconds: int | None = Field(
        description="Requested → paid, averaged over the payouts paid in the window (whole "
        "seconds, rounded down); null when none was paid."
    )


class DisputeMetrics(BaseModel):
    resolved: int = Field(description="Disputes resolved or closed in the window.")
    average_resolution_seconds: int | None = Field(
        description="Opened → resolved, averaged (whole seconds, rounded down); null when "
        "none was resolved."
    )


class RevenueTotal(BaseModel):
    currency: Currency
    fees: int = Field(description="Platform fees booked in the window, minor units.")
    count: int = Field(description="How many fee transfers.")


class MetricsReport(ApiObject):
    object: Literal["metrics_report"] = "metrics_report"
    start: int = Field(description="Unix seconds, inclusive.")
    end: int = Field(description="Unix seconds, exclusive.")
    payments: PaymentMetrics
    payouts: PayoutMetrics
    disputes: DisputeMetrics
    revenue: list[RevenueTotal] = Field(
        description="Per currency; per day, week or month: GET /v1/reports/revenue."
    )

    @classmethod
    def of(cls, m: Metrics, *, start: int, end: int) -> MetricsReport:
        attempts = m.payments_succeeded + m.payments_failed
        success = rate_bps(m.payments_succeeded, attempts)
        disputes = m.disputes
        return cls(
            start=start,
            end=end,
            payments=PaymentMetrics(
                attempts=attempts,
                succeeded=m.payments_succeeded,
                failed=m.payments_failed,
                success_rate_bps=success,
                failure_rate_bps=None if success is None else 10_000 - success,
            ),
            payouts=PayoutMetrics(
                paid=m.payouts_paid,
                failed=m.payouts_failed,
                average_processing_seconds=mean_seconds(m.payout_seconds, m.payouts_paid),
            ),
            disputes=DisputeMetrics(
                resolved=disputes.resolved,
                average_resolution_seconds=mean_seconds(disputes.seconds, disputes.resolved),
            ),
            revenue=[RevenueTotal(currency=c, fees=f, count=n) for c, f, n in m.revenue],
        )
