"""API shapes of the task marketplace: a task, a bid, and the customer's and doer's
dashboards."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, Currency, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.ids import Prefix, id_pattern
from escrowd.marketplace.tasks.domain import BidStatus, PaymentStatus, TaskStatus, payment_status
from escrowd.marketplace.tasks.models import Task, TaskBid

OrgId = Annotated[str, Field(max_length=40, pattern=id_pattern(Prefix.organization))]


class TaskCreate(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    currency: Currency = Field(min_length=3, max_length=3)


class BidCreate(RequestModel):
    amount: PositiveAmountInt = Field(description="Your price for the task, in minor units.")
    currency: Currency = Field(min_length=3, max_length=3)
    organization: OrgId | None = Field(
        default=None,
        description="Bid for an organization you belong to (org_…): it does the work and is "
        "paid. Leave out to bid for yourself.",
    )


class TaskObject(ApiObject):
    id: str = Field(description="task_…")
    object: Literal["task"] = "task"
    customer: str
    title: str
    description: str | None
    currency: str
    status: TaskStatus
    doer: str | None = Field(description="The accepted bid's doer: usr_… or org_….")
    accepted_bid: str | None
    amount: int | None = Field(description="The accepted bid's amount (what the customer pays).")
    escrow: str | None = Field(
        description="The escrow the customer pays (POST /v1/escrows/{id}/fund): shown to the "
        "customer, the doer and admins."
    )
    payment_status: PaymentStatus | None = Field(
        description="The task's escrow, in the seed's words."
    )
    cancel_reason: str | None = Field(
        description="`customer`, or `doer_account_deauthorized` (the doer disconnected its "
        "connected account: the escrow was cancelled or refunded)."
    )
    created: int


class BidObject(ApiObject):
    id: str = Field(description="tbid_…")
    object: Literal["task_bid"] = "task_bid"
    task: str
    doer: str = Field(description="Who does the work and is paid: usr_… or org_….")
    doer_type: Literal["user", "organization"]
    placed_by: str
    amount: int
    currency: str
    status: BidStatus
    created: int


class PaymentLine(ApiObject):
    """One task's escrow as a dashboard shows it."""

    object: Literal["task_payment"] = "task_payment"
    task: str
    escrow: str
    escrow_status: str
    payment_status: PaymentStatus
    currency: str
    amount: int = Field(description="What the customer pays.")
    platform_fee: int = Field(description="The platform's 10 %.")
    net: int = Field(description="What the doer receives.")


class Totals(ApiObject):
    currency: str
    in_escrow: int = Field(description="Paid and held, not released yet (the task's price).")
    released: int = Field(
        description="Customer: the price of completed tasks. Doer: what it received (net)."
    )
    refunded: int = Field(description="Returned to the customer.")


class AccountSummary(ApiObject):
    id: str
    status: str
    deauthorized: int | None


class CustomerDashboard(ApiObject):
    object: Literal["task_customer_dashboard"] = "task_customer_dashboard"
    customer: str
    tasks: list[TaskObject]
    payments: list[PaymentLine]
    totals: list[Totals]


class DoerDashboard(ApiObject):
    object: Literal["task_doer_dashboard"] = "task_doer_dashboard"
    doer: str
    account: AccountSummary | None = Field(
        description="The doer's connected account: for an organization, shown to its admins "
        "only (null for other members), as the account itself is."
    )
    tasks: list[TaskObject]
    payments: list[PaymentLine]
    totals: list[Totals]


def task_json(
    row: Task, escrow_status: str | None, amount: int | None, *, insider: bool
) -> TaskObject:
    """Everyone signed in sees an open task; its escrow only its customer, doer and admins."""
    return TaskObject(
        id=row.id,
        customer=row.customer_id,
        title=row.title,
        description=row.description,
        currency=row.currency,
        status=TaskStatus(row.status),
        doer=row.doer_id,
        accepted_bid=row.accepted_bid_id,
        amount=amount,
        escrow=row.escrow_id if insider else None,
        payment_status=payment_status(escrow_status) if insider else None,
        cancel_reason=row.cancel_reason,
        created=unix(row.created_at),
    )


def bid_json(row: TaskBid) -> BidObject:
    return BidObject(
        id=row.id,
        task=row.task_id,
        doer=row.doer_id,
        doer_type="organization" if row.doer_id.startswith("org_") else "user",
        placed_by=row.placed_by,
        amount=row.amount,
        currency=row.currency,
        status=BidStatus(row.status),
        created=unix(row.created_at),
    )


def payment_line(task_id: str, escrow: dict[str, Any]) -> PaymentLine:
    (alloc,) = escrow["allocations"]
    status = payment_status(str(escrow["status"]))
    assert status is not None
    return PaymentLine(
        task=task_id,
        escrow=str(escrow["id"]),
        escrow_status=str(escrow["status"]),
        payment_status=status,
        currency=str(escrow["currency"]),
        amount=int(escrow["amount"]),
        platform_fee=int(alloc["platform_fee"]),
        net=int(alloc["net"]),
    )
