"""API shapes of the handwork marketplace: a job posting, an application, a booking (with its
payment as its escrow shows it), and the client's and the worker's summaries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, Currency, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.escrows.book import Book
from escrowd.escrows.schemas import NextAction
from escrowd.ids import Prefix, id_pattern
from escrowd.marketplace.bookings import domain
from escrowd.marketplace.bookings.domain import (
    ApplicationStatus,
    BookingStatus,
    JobStatus,
    PaymentStatus,
)
from escrowd.marketplace.bookings.models import Booking, BookingApplication, BookingJob

Text = Annotated[str, Field(min_length=1, max_length=2000)]


class JobCreate(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    description: Text | None = None
    currency: Currency = Field(min_length=3, max_length=3)
    budget: PositiveAmountInt = Field(description="What the client means to pay, in minor units.")


class ApplicationCreate(RequestModel):
    amount: PositiveAmountInt | None = Field(
        default=None,
        description="Your price for the job, in its currency's minor units; default: its budget.",
    )
    message: Text | None = None


class BookingCreate(RequestModel):
    application: Annotated[str, Field(pattern=id_pattern(Prefix.booking_application))] = Field(
        description="The application (bapp_…) of the worker hired."
    )
    payment_provider: Literal["stripe", "paypal"] = Field(
        default="stripe",
        description="How the client will pay, fixed for the booking: `stripe` (a card, the "
        "default) or `paypal` (the client approves an order on PayPal's page; the worker is "
        "paid out to their PayPal email). It is the booking escrow's `payment_provider`. "
        "`stripe` needs the worker's verified payout account (else 409 `payee_account_…`).",
    )


class PayRequest(RequestModel):
    payment_method: str | None = Field(
        default=None,
        min_length=3,
        max_length=255,
        description="A `pm_…` (default: the client's saved card).",
    )
    return_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Stripe: where 3-D Secure (or, without a payment method, the hosted card "
        "form) returns to. PayPal: where PayPal's approval page sends the client back.",
    )
    payment_provider: Literal["stripe", "paypal"] | None = Field(
        default=None,
        description="Optional: the provider chosen at hire. Another one is 409 "
        "`payment_provider_mismatch`.",
    )


class JobObject(ApiObject):
    id: str = Field(description="bjob_…")
    object: Literal["booking_job"] = "booking_job"
    client: str
    title: str
    description: str | None
    currency: str
    budget: int
    status: JobStatus
    created: int


class ApplicationObject(ApiObject):
    id: str = Field(description="bapp_…")
    object: Literal["booking_application"] = "booking_application"
    job: str
    worker: str
    amount: int
    currency: str
    message: str | None
    status: ApplicationStatus
    created: int


class BookingPayment(ApiObject):
    status: PaymentStatus = Field(description="The seed's payment state, from the escrow's.")
    escrow: str = Field(description="The booking's escrow (esc_…): /v1/escrows/{id}.")
    escrow_status: str
    provider: str | None = Field(description="`stripe` or `paypal`, chosen at hire.")
    next_action: NextAction | None = Field(
        description="While the payment waits for the client (`escrow_status` "
        "`requires_action`): the page to send them to — PayPal's approval page, 3-D Secure, "
        "or the hosted card form."
    )
    amount_held: int
    amount_released: int
    amount_refunded: int


class BookingObject(ApiObject):
    id: str = Field(description="bkg_…")
    object: Literal["booking"] = "booking"
    job: str
    application: str
    client: str
    worker: str
    currency: str
    amount: int
    fee_bps: int
    platform_fee: int = Field(description="The platform's fee on the whole booking.")
    worker_amount: int = Field(description="What the worker receives when all is released.")
    status: BookingStatus
    payment: BookingPayment
    completed: int | None
    created: int


class ClientTotals(ApiObject):
    currency: str
    bookings: int
    paid: int = Field(description="Charged to you, refunds not deducted.")
    held: int
    released: int
    refunded: int


class ClientSummary(ApiObject):
    object: Literal["booking_client_summary"] = "booking_client_summary"
    client: str
    jobs_posted: int
    jobs_open: int
    totals: list[ClientTotals]


class WorkerTotals(ApiObject):
    currency: str
    bookings: int
    completed: int
    released: int = Field(description="Gross released to you.")
    platform_fees: int = Field(description="The platform's fee on what was released.")
    earned: int = Field(description="Net released to you: released less platform fees.")
    pending: int = Field(description="Net still held in paid bookings' escrows for you.")
    available: int = Field(description="Your available balance (/v1/balance).")
    in_transit: int = Field(description="Payouts on their way (/v1/balance).")


class WorkerEarnings(ApiObject):
    object: Literal["booking_worker_earnings"] = "booking_worker_earnings"
    worker: str
    applications: int
    totals: list[WorkerTotals]


def job_json(row: BookingJob) -> JobObject:
    return JobObject(
        id=row.id,
        client=row.client_id,
        title=row.title,
        description=row.description,
        currency=row.currency,
        budget=row.budget,
        status=JobStatus(row.status),
        created=unix(row.created_at),
    )


def application_json(row: BookingApplication, currency: str) -> ApplicationObject:
    return ApplicationObject(
        id=row.id,
        job=row.job_id,
        worker=row.worker_id,
        amount=row.amount,
        currency=currency,
        message=row.message,
        status=ApplicationStatus(row.status),
        created=unix(row.created_at),
    )


def booking_json(row: Booking, book: Book) -> BookingObject:
    e = book.escrow
    (slot,) = book.slots
    return BookingObject(
        id=row.id,
        job=row.job_id,
        application=row.application_id,
        client=row.client_id,
        worker=row.worker_id,
        currency=row.currency,
        amount=row.amount,
        fee_bps=row.fee_bps,
        platform_fee=slot.full.platform_fee,
        worker_amount=slot.full.net,
        status=BookingStatus(row.status),
        payment=BookingPayment(
            status=domain.payment_status(e.status, payment_error=e.last_payment_error is not None),
            escrow=e.id,
            escrow_status=e.status,
            provider=e.provider or domain.DEFAULT_PROVIDER,
            next_action=NextAction(type="redirect_to_url", url=e.next_action_url)
            if e.next_action_url and e.status == "requires_action"
            else None,
            amount_held=e.amount - e.amount_released - e.amount_refunded if e.ledger_funded else 0,
            amount_released=e.amount_released,
            amount_refunded=e.amount_refunded,
        ),
        completed=unix(row.completed_at) if row.completed_at is not None else None,
        created=unix(row.created_at),
    )
