"""The task marketplace's use cases: post a task, bid, accept a bid, complete or cancel, the
dashboards, and the deauthorized-doers sweep.

Money moves only through the core: accepting a bid creates the task's escrow (payer = the
customer, one allocation to the doer — a user or an organization — with the seed's 10 %
platform fee, held until completed) in the same transaction that assigns the task, under the
task's row lock, after the KYC gate has passed the doer's account (``require_verified_payee``).
The customer pays it through the escrows API; completing the task releases it
(``escrows.release``); cancelling cancels (unpaid) or refunds (paid, admins only) it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.clock import Clock, unix
from escrowd.errors import ConflictError, NotFoundError, PermissionDeniedError, person_required
from escrowd.escrows import funding, refund, release
from escrowd.escrows import service as escrows
from escrowd.escrows.models import Escrow
from escrowd.escrows.schemas import EscrowCreate
from escrowd.ids import Prefix, new_id
from escrowd.logging import get_logger
from escrowd.marketplace.tasks import domain
from escrowd.marketplace.tasks.domain import BidStatus, TaskStatus
from escrowd.marketplace.tasks.models import Task, TaskBid
from escrowd.marketplace.tasks.schemas import (
    AccountSummary,
    BidCreate,
    CustomerDashboard,
    DoerDashboard,
    PaymentLine,
    TaskCreate,
    TaskObject,
    Totals,
    payment_line,
    task_json,
)
from escrowd.money import normalize_currency
from escrowd.users.models import User
from escrowd.users.organizations import service as organizations

log = get_logger(__name__)

#: Tasks one sweep run looks at.
BATCH = 200


def _missing(task_id: str) -> NotFoundError:
    return NotFoundError(f"No such task: '{task_id}'.", param="task")


async def _parties(session: AsyncSession, actor: Principal) -> set[str]:
    if actor.user_id is None:
        return set()
    return await organizations.parties_of(session, actor.user_id)


def _insider(task: Task, actor: Principal, parties: set[str]) -> bool:
    return actor.is_admin or task.customer_id in parties or (task.doer_id or "") in parties


async def _escrow_status(session: AsyncSession, task: Task) -> str | None:
    if task.escrow_id is None:
        return None
    return await session.scalar(select(Escrow.status).where(Escrow.id == task.escrow_id))


async def _amount(session: AsyncSession, task: Task) -> int | None:
    if task.accepted_bid_id is None:
        return None
    return await session.scalar(select(TaskBid.amount).where(TaskBid.id == task.accepted_bid_id))


async def show(session: AsyncSession, task: Task, actor: Principal) -> TaskObject:
    parties = await _parties(session, actor)
    return task_json(
        task,
        await _escrow_status(session, task),
        await _amount(session, task),
        insider=_insider(task, actor, parties),
    )


async def show_many(
    session: AsyncSession, tasks: Sequence[Task], actor: Principal
) -> list[TaskObject]:
    parties = await _parties(session, actor)
    escrow_ids = [t.escrow_id for t in tasks if t.escrow_id]
    bid_ids = [t.accepted_bid_id for t in tasks if t.accepted_bid_id]
    statuses: dict[str, str] = {}
    amounts: dict[str, int] = {}
    if escrow_ids:
        found = await session.execute(
            select(Escrow.id, Escrow.status).where(Escrow.id.in_(escrow_ids))
        )
        statuses = {i: st for i, st in found.all()}
    if bid_ids:
        priced = await session.execute(
            select(TaskBid.id, TaskBid.amount).where(TaskBid.id.in_(bid_ids))
        )
        amounts = {i: a for i, a in priced.all()}
    return [
        task_json(
            t,
            statuses.get(t.escrow_id or ""),
            amounts.get(t.accepted_bid_id or ""),
            insider=_insider(t, actor, parties),
        )
        for t in tasks
    ]


# ---- posting and reading tasks ----------------------------------------------------------------


async def create_task(
    session: AsyncSession, *, clock: Clock, actor: Principal, body: TaskCreate
) -> Task:
    """A customer (a client: the one who will pay) posts a task."""
    if actor.user_id is None:
        raise person_required("Tasks are posted by customers")
    if actor.role != "client":
        raise PermissionDeniedError(
            f"Tasks are posted by customers (clients), who pay for them; you are a {actor.role}.",
            code="role_required",
        )
    now = clock.now()
    row = Task(
        id=new_id(Prefix.task),
        customer_id=actor.user_id,
        title=body.title,
        description=body.description,
        currency=normalize_currency(body.currency),
        status=TaskStatus.open.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    log.info("task_posted", task=row.id, customer=row.customer_id)
    return row


async def get_visible(session: AsyncSession, *, task_id: str, actor: Principal) -> Task:
    """An open task is visible to everyone signed in; after that, to its customer, its doer
    (the user, or the organization's members) and admins."""
    row = await session.get(Task, task_id)
    if row is None:
        raise _missing(task_id)
    if row.status == TaskStatus.open or _insider(row, actor, await _parties(session, actor)):
        return row
    raise _missing(task_id)


async def list_query(
    session: AsyncSession, *, actor: Principal, status: TaskStatus | None
) -> Select[Task]:
    q = select(Task).order_by(Task.id.desc())
    if not actor.is_admin:
        parties = await _parties(session, actor)
        q = q.where(
            or_(
                Task.status == TaskStatus.open.value,
                Task.customer_id.in_(parties),
                Task.doer_id.in_(parties),
            )
        )
    return q.where(Task.status == status.value) if status is not None else q


async def bids_query(session: AsyncSession, *, task_id: str, actor: Principal) -> Select[TaskBid]:
    """The customer and admins see every bid; a doer the bids placed for it."""
    task = await get_visible(session, task_id=task_id, actor=actor)
    q = select(TaskBid).where(TaskBid.task_id == task.id).order_by(TaskBid.id.desc())
    if actor.is_admin or actor.user_id == task.customer_id:
        return q
    return q.where(TaskBid.doer_id.in_(await _parties(session, actor)))


async def _locked(session: AsyncSession, task_id: str) -> Task:
    row = (
        await session.scalars(select(Task).where(Task.id == task_id).with_for_update())
    ).one_or_none()
    if row is None:
        raise _missing(task_id)
    return row


def _customer_only(task: Task, actor: Principal, what: str) -> None:
    if actor.is_admin or actor.user_id == task.customer_id:
        return
    raise PermissionDeniedError(f"Only the task's customer can {what}.", code="customer_required")


# ---- bids -------------------------------------------------------------------------------------


async def place_bid(
    session: AsyncSession, *, clock: Clock, actor: Principal, task_id: str, body: BidCreate
) -> TaskBid:
    """A doer bids: a user for itself, or a member of an organization for it. One pending bid
    per doer and task; the customer cannot bid on their own task."""
    if actor.user_id is None:
        raise person_required("Bids are placed by doers")
    task = await get_visible(session, task_id=task_id, actor=actor)
    task = await _locked(session, task.id)
    doer = actor.user_id
    if body.organization is not None:
        mine = await organizations.membership_of(
            session, org_id=body.organization, user_id=actor.user_id
        )
        if mine is None:
            raise NotFoundError(
                f"No such organization: '{body.organization}'.", param="organization"
            )
        doer = body.organization
    if task.customer_id == actor.user_id:
        raise PermissionDeniedError(
            "A customer cannot bid on their own task.", code="own_task", param="task"
        )
    currency = normalize_currency(body.currency)
    domain.check_bid(
        task.status, amount=body.amount, currency=currency, task_currency=task.currency
    )
    already = await session.scalar(
        select(TaskBid.id).where(
            TaskBid.task_id == task.id,
            TaskBid.doer_id == doer,
            TaskBid.status == BidStatus.pending.value,
        )
    )
    if already is not None:
        raise ConflictError(
            f"{doer} already has a pending bid on this task: {already}.", code="bid_exists"
        )
    now = clock.now()
    bid = TaskBid(
        id=new_id(Prefix.task_bid),
        task_id=task.id,
        doer_id=doer,
        placed_by=actor.user_id,
        amount=body.amount,
        currency=currency,
        status=BidStatus.pending.value,
        created_at=now,
        updated_at=now,
    )
    session.add(bid)
    await session.flush()
    log.info("task_bid_placed", task=task.id, bid=bid.id, doer=doer)
    return bid


async def accept_bid(
    container: Container, *, actor: Principal, task_id: str, bid_id: str
) -> TaskObject:
    """The customer accepts a bid: the doer's account must be verified (409 with the KYC
    gate's code otherwise: ``payee_account_missing``, ``payee_account_pending``, …), and the
    task's escrow is created with the assignment, under the task's lock."""
    async with container.db.transaction() as s:
        task = await get_visible(s, task_id=task_id, actor=actor)
        task = await _locked(s, task.id)
        _customer_only(task, actor, "accept a bid")
        bid = await s.get(TaskBid, bid_id)
        if bid is None or bid.task_id != task.id:
            raise NotFoundError(f"No such bid: '{bid_id}' on task {task.id}.", param="bid")
        domain.check_accept(task.status, bid.status)
        await accounts.require_verified_payee(s, party_id=bid.doer_id)
        payer = await _customer_principal(s, container, task)
        escrow = await escrows.create_in(
            s,
            container,
            actor=payer,
            body=EscrowCreate.model_validate(
                {
                    "currency": task.currency,
                    "amount": bid.amount,
                    "allocations": [{"payee": bid.doer_id, "amount": bid.amount}],
                    "fee_policy": domain.FEE_POLICY,
                    "description": f"Task “{task.title}” ({task.id})",
                    "metadata": {"task": task.id, "bid": bid.id},
                }
            ),
        )
        now = container.clock.now()
        await s.execute(
            update(TaskBid)
            .where(TaskBid.task_id == task.id, TaskBid.status == BidStatus.pending.value)
            .values(status=BidStatus.rejected.value, updated_at=now)
        )
        bid.status = BidStatus.accepted.value
        bid.updated_at = now
        task.status = TaskStatus.assigned.value
        task.doer_id = bid.doer_id
        task.accepted_bid_id = bid.id
        task.escrow_id = str(escrow["id"])
        task.updated_at = now
        await s.flush()
        log.info("task_bid_accepted", task=task.id, bid=bid.id, escrow=task.escrow_id)
        return await show(s, task, actor)


async def _customer_principal(s: AsyncSession, container: Container, task: Task) -> Principal:
    """The escrow's payer is always the customer, also when an admin accepts for them."""
    user = await s.get(User, task.customer_id)
    if user is None:  # pragma: no cover - users are disabled, never deleted
        raise _missing(task.id)
    return Principal.of_user(user)


# ---- completing and cancelling ----------------------------------------------------------------


async def complete(
    container: Container, *, actor: Principal, task_id: str, idempotency_key: str | None
) -> TaskObject:
    """The customer confirms the work: the escrow is released to the doer (user or
    organization), then the task is completed."""
    async with container.db.transaction() as s:
        task = await get_visible(s, task_id=task_id, actor=actor)
        _customer_only(task, actor, "complete it")
        domain.check_complete(task.status, await _escrow_status(s, task))
        escrow_id = task.escrow_id
    assert escrow_id is not None
    await release.release(
        container, escrow_id=escrow_id, actor=actor, idempotency_key=idempotency_key
    )
    async with container.db.transaction() as s:
        task = await _locked(s, task_id)
        status = await _escrow_status(s, task)
        if status != "released":
            raise ConflictError(
                f"The task's escrow {escrow_id} is {status}, not released yet: complete the task "
                "again to retry.",
                code="release_incomplete",
            )
        if task.status == TaskStatus.assigned:
            task.status = TaskStatus.completed.value
            task.updated_at = container.clock.now()
            log.info("task_completed", task=task.id, escrow=escrow_id)
        return await show(s, task, actor)


async def _call_off_escrow(
    container: Container, escrow_id: str, *, actor: Principal | None
) -> None:
    """Cancel the escrow if unpaid, refund it if paid; nothing if it is already over."""
    async with container.db.transaction() as s:
        status = await s.scalar(select(Escrow.status).where(Escrow.id == escrow_id))
    pay = domain.payment_status(status)
    if pay is domain.PaymentStatus.pending_payment:
        await funding.cancel(
            container, escrow_id=escrow_id, actor=actor, reason="requested_by_customer"
        )
    elif pay is domain.PaymentStatus.payment_in_escrow:
        await refund.refund(
            container, escrow_id=escrow_id, actor=actor, reason="requested_by_customer"
        )


async def cancel(container: Container, *, actor: Principal, task_id: str) -> TaskObject:
    """The customer cancels an open task, or an assigned one not paid yet (its escrow is
    cancelled). A paid task is refunded only by a platform admin (else: a dispute)."""
    async with container.db.transaction() as s:
        task = await get_visible(s, task_id=task_id, actor=actor)
        _customer_only(task, actor, "cancel it")
        if not domain.cancellable(task.status):
            raise ConflictError(f"This task is {task.status}.", code="task_not_cancellable")
        pay = domain.payment_status(await _escrow_status(s, task))
        if pay is domain.PaymentStatus.payment_in_escrow and not actor.is_admin:
            raise ConflictError(
                "This task is paid: its money is held for the doer. Open a dispute on its "
                "escrow (POST /v1/disputes) to get it back.",
                code="task_paid",
            )
        escrow_id = task.escrow_id
    if escrow_id is not None:
        await _call_off_escrow(container, escrow_id, actor=actor)
    async with container.db.transaction() as s:
        task = await _locked(s, task_id)
        await _close(s, task, domain.BY_CUSTOMER, container.clock)
        return await show(s, task, actor)


async def _close(s: AsyncSession, task: Task, reason: str, clock: Clock) -> None:
    if not domain.cancellable(task.status):
        return
    now = clock.now()
    await s.execute(
        update(TaskBid)
        .where(
            TaskBid.task_id == task.id,
            TaskBid.status.in_((BidStatus.pending.value, BidStatus.accepted.value)),
        )
        .values(status=BidStatus.rejected.value, updated_at=now)
    )
    task.status = TaskStatus.cancelled.value
    task.cancel_reason = reason
    task.updated_at = now
    log.info("task_cancelled", task=task.id, reason=reason)


# ---- the deauthorized-doers sweep ---------------------------------------------------------------


async def cancel_deauthorized(container: Container) -> int:
    """The ``tasks.deauthorized_doers`` sweep: the open work of doers whose connected account
    was disconnected from the platform ends. Their assigned tasks are cancelled (the escrow
    cancelled if unpaid, refunded to the customer if paid, through the escrows service) and
    their pending bids rejected. Returns how many tasks were cancelled."""
    now = container.clock.now()
    async with container.db.transaction() as s:
        gone = accounts.deauthorized_owners_query().scalar_subquery()
        await s.execute(
            update(TaskBid)
            .where(TaskBid.status == BidStatus.pending.value, TaskBid.doer_id.in_(gone))
            .values(status=BidStatus.rejected.value, updated_at=now)
        )
        rows = (
            await s.execute(
                select(Task.id, Task.escrow_id)
                .where(Task.status == TaskStatus.assigned.value, Task.doer_id.in_(gone))
                .order_by(Task.id)
                .limit(BATCH)
            )
        ).all()
    cancelled = 0
    for task_id, escrow_id in rows:
        if escrow_id is not None:
            try:
                await _call_off_escrow(container, escrow_id, actor=None)
            except ConflictError:
                # Disputed, or an operation in flight: the next run looks again.
                log.info("task_deauthorized_escrow_busy", task=task_id, escrow=escrow_id)
                continue
        async with container.db.transaction() as s:
            task = await _locked(s, task_id)
            if task.status == TaskStatus.assigned:
                await _close(s, task, domain.DOER_DEAUTHORIZED, container.clock)
                cancelled += 1
    return cancelled


# ---- dashboards ---------------------------------------------------------------------------------


async def _payments(session: AsyncSession, tasks: Sequence[Task]) -> list[PaymentLine]:
    by_escrow = {t.escrow_id: t.id for t in tasks if t.escrow_id}
    if not by_escrow:
        return []
    rows = (
        await session.scalars(
            select(Escrow).where(Escrow.id.in_(list(by_escrow))).order_by(Escrow.id.desc())
        )
    ).all()
    return [payment_line(by_escrow[e["id"]], e) for e in await escrows.page_json(session, rows)]


def _totals(lines: Sequence[PaymentLine], *, doer: bool) -> list[Totals]:
    sums: dict[str, dict[str, int]] = defaultdict(
        lambda: {"in_escrow": 0, "released": 0, "refunded": 0}
    )
    for p in lines:
        bucket = sums[p.currency]
        if p.payment_status is domain.PaymentStatus.payment_in_escrow:
            bucket["in_escrow"] += p.amount
        elif p.payment_status is domain.PaymentStatus.payment_released:
            bucket["released"] += p.net if doer else p.amount
        elif p.payment_status is domain.PaymentStatus.refunded:
            bucket["refunded"] += p.amount
    return [Totals(currency=c, **v) for c, v in sorted(sums.items())]


async def customer_dashboard(session: AsyncSession, *, actor: Principal) -> CustomerDashboard:
    if actor.user_id is None:
        raise person_required("A customer's dashboard is read by the customer")
    tasks = (
        await session.scalars(
            select(Task).where(Task.customer_id == actor.user_id).order_by(Task.id.desc())
        )
    ).all()
    lines = await _payments(session, tasks)
    return CustomerDashboard(
        customer=actor.user_id,
        tasks=await show_many(session, tasks, actor),
        payments=lines,
        totals=_totals(lines, doer=False),
    )


async def doer_dashboard(
    session: AsyncSession, *, actor: Principal, organization: str | None
) -> DoerDashboard:
    """A user's own, or an organization's (its members); the account only for those who may
    see it (the user; the organization's admins)."""
    if actor.user_id is None:
        raise person_required("A doer's dashboard is read by the doer")
    doer = actor.user_id
    may_see_account = True
    if organization is not None:
        mine = await organizations.membership_of(
            session, org_id=organization, user_id=actor.user_id
        )
        if mine is None:
            raise NotFoundError(f"No such organization: '{organization}'.", param="organization")
        doer = organization
        may_see_account = mine.role == "admin"
    tasks = (
        await session.scalars(select(Task).where(Task.doer_id == doer).order_by(Task.id.desc()))
    ).all()
    account = await accounts.account_for(session, party_id=doer) if may_see_account else None
    lines = await _payments(session, tasks)
    return DoerDashboard(
        doer=doer,
        account=AccountSummary(
            id=account.id,
            status=account.status,
            deauthorized=unix(account.deauthorized_at) if account.deauthorized_at else None,
        )
        if account is not None
        else None,
        tasks=await show_many(session, tasks, actor),
        payments=lines,
        totals=_totals(lines, doer=True),
    )
