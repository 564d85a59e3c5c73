"""The handwork marketplace's use cases: post a job, apply, hire (a booking and its escrow),
pay, mark complete, release, and the client's and worker's summaries.

Money moves only through the core: hiring creates the booking's escrow (payer = the client,
one allocation to the worker, the platform fee ESCROWD_BOOKINGS_FEE_BPS, no payment window,
no inspection period: the client releases by hand) in the same transaction as the booking,
under the job's row lock, so a job hires at most one worker. Paying is the escrows service's
fund, releasing its release; payouts, disputes, balances and the transaction history are the
core's own endpoints. A booking stores only the work's state; its payment's state is read
from its escrow whenever it is shown, so the two never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.accounts.domain import PayeeNotReadyError
from escrowd.api.principal import Principal
from escrowd.balances import service as balances
from escrowd.balances.domain import Figure
from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.errors import ConflictError, NotFoundError, PermissionDeniedError, person_required
from escrowd.escrows import funding, release
from escrowd.escrows import service as escrows
from escrowd.escrows import store as escrow_store
from escrowd.escrows.schemas import EscrowCreate
from escrowd.ids import Prefix, new_id
from escrowd.logging import get_logger
from escrowd.marketplace.bookings import domain
from escrowd.marketplace.bookings.domain import ApplicationStatus, BookingStatus, JobStatus
from escrowd.marketplace.bookings.models import Booking, BookingApplication, BookingJob
from escrowd.marketplace.bookings.schemas import (
    ApplicationCreate,
    BookingObject,
    ClientSummary,
    ClientTotals,
    JobCreate,
    PayRequest,
    WorkerEarnings,
    WorkerTotals,
    booking_json,
)
from escrowd.money import normalize_currency
from escrowd.payouts.models import PayoutDestination

log = get_logger(__name__)


def _role_required(what: str, role: str, actual: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"{what} ({role}s); you are a {actual}.", code="role_required")


def _job_missing(job_id: str) -> NotFoundError:
    return NotFoundError(f"No such job: '{job_id}'.", param="job")


def _booking_missing(booking_id: str) -> NotFoundError:
    return NotFoundError(f"No such booking: '{booking_id}'.", param="booking")


def _user(actor: Principal, who: str) -> str:
    if actor.user_id is None:
        raise person_required(who)
    return actor.user_id


# --- jobs and applications ---------------------------------------------------------------------


async def create_job(
    session: AsyncSession, *, clock: Clock, actor: Principal, body: JobCreate
) -> BookingJob:
    client = _user(actor, "Jobs are posted by clients")
    if actor.role != "client":
        raise _role_required(
            "Jobs are posted by the clients who pay for them", "client", actor.role
        )
    now = clock.now()
    row = BookingJob(
        id=new_id(Prefix.booking_job),
        client_id=client,
        title=body.title,
        description=body.description,
        currency=normalize_currency(body.currency),
        budget=body.budget,
        status=JobStatus.open.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    log.info("booking_job_posted", job=row.id, client=client)
    return row


async def get_job(session: AsyncSession, *, job_id: str) -> BookingJob:
    row = await session.get(BookingJob, job_id)
    if row is None:
        raise _job_missing(job_id)
    return row


def jobs_query(*, status: JobStatus | None, client: str | None) -> Select[BookingJob]:
    """Every signed-in user may browse the job board."""
    q = select(BookingJob).order_by(BookingJob.id.desc())
    if status is not None:
        q = q.where(BookingJob.status == status.value)
    if client is not None:
        q = q.where(BookingJob.client_id == client)
    return q


async def apply(
    session: AsyncSession, *, clock: Clock, actor: Principal, job_id: str, body: ApplicationCreate
) -> BookingApplication:
    """A worker applies; they must be able to receive the money (a verified account)."""
    worker = _user(actor, "Workers apply for jobs")
    if actor.role != "worker":
        raise _role_required("Jobs are applied for by workers", "worker", actor.role)
    # The job's row lock: a hire in flight is either seen (the job is filled) or waits, and
    # one worker's two concurrent applications are one after the other (already_applied).
    job = (
        await session.scalars(select(BookingJob).where(BookingJob.id == job_id).with_for_update())
    ).one_or_none()
    if job is None:
        raise _job_missing(job_id)
    domain.check_apply(job.status)
    await _require_payable(session, worker)
    mine = await session.scalar(
        select(BookingApplication.id).where(
            BookingApplication.job_id == job.id, BookingApplication.worker_id == worker
        )
    )
    if mine is not None:
        raise ConflictError(
            f"You applied for this job already ({mine}).", code="already_applied", param="job"
        )
    now = clock.now()
    row = BookingApplication(
        id=new_id(Prefix.booking_application),
        job_id=job.id,
        worker_id=worker,
        amount=body.amount if body.amount is not None else job.budget,
        message=body.message,
        status=ApplicationStatus.pending.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    log.info("booking_application_made", job=job.id, application=row.id, worker=worker)
    return row


async def _require_payable(session: AsyncSession, worker: str) -> None:
    """The worker can be paid: a verified payout account (Stripe), or a saved PayPal email
    (PayPal bookings only). Neither: the account's 409, which says how to onboard."""
    try:
        await accounts.require_verified_payee(session, party_id=worker)
    except PayeeNotReadyError:
        destination = await session.get(PayoutDestination, worker)
        if destination is None or destination.paypal_email is None:
            raise


async def applications_query(
    session: AsyncSession, *, job_id: str, actor: Principal
) -> tuple[BookingJob, Select[BookingApplication]]:
    """The job's client and admins see every application; a worker their own."""
    job = await get_job(session, job_id=job_id)
    q = (
        select(BookingApplication)
        .where(BookingApplication.job_id == job.id)
        .order_by(BookingApplication.id.desc())
    )
    if actor.is_admin or actor.user_id == job.client_id:
        return job, q
    return job, q.where(BookingApplication.worker_id == (actor.user_id or ""))


# --- bookings ------------------------------------------------------------------------------------


async def hire(
    container: Container, *, actor: Principal, application_id: str, provider: str
) -> Booking:
    """The job's client hires the applicant: the booking and its escrow (paid with
    ``provider``), in one transaction under the job's lock; the job's other applications are
    declined. A Stripe booking needs the worker's verified payout account (its escrow's
    release is a transfer to it); a PayPal one does not (released money stays in escrowd's
    ledger until the worker's payout to their PayPal email)."""
    client = _user(actor, "Workers are hired by the job's client")
    now = container.clock.now()
    missing = NotFoundError(f"No such application: '{application_id}'.", param="application")
    async with container.db.transaction() as s:
        application = await s.get(BookingApplication, application_id)
        if application is None:
            raise missing
        job = (
            await s.scalars(
                select(BookingJob).where(BookingJob.id == application.job_id).with_for_update()
            )
        ).one()
        if job.client_id != client:
            raise missing  # someone else's job: its applications are not shown to the caller
        await s.refresh(application)
        domain.check_hire(job.status, application.status)
        if provider == "stripe":
            await accounts.require_verified_payee(s, party_id=application.worker_id)
        fee_bps = container.settings.bookings_fee_bps
        booking = Booking(
            id=new_id(Prefix.booking),
            job_id=job.id,
            application_id=application.id,
            client_id=client,
            worker_id=application.worker_id,
            currency=job.currency,
            amount=application.amount,
            fee_bps=fee_bps,
            status=BookingStatus.hired.value,
            created_at=now,
            updated_at=now,
        )
        escrow = await escrows.create_in(
            s,
            container,
            actor=actor,
            body=EscrowCreate.model_validate(
                {
                    "currency": job.currency,
                    "amount": application.amount,
                    "allocations": [{"payee": application.worker_id, "amount": application.amount}],
                    "fee_policy": domain.fee_policy(fee_bps),
                    "payment_provider": provider,
                    "description": f"Booking {booking.id}: “{job.title}”",
                    "metadata": {"booking": booking.id, "job": job.id},
                }
            ),
        )
        booking.escrow_id = str(escrow["id"])
        s.add(booking)
        job.status = JobStatus.filled.value
        job.updated_at = now
        application.status = ApplicationStatus.hired.value
        application.updated_at = now
        await s.execute(
            update(BookingApplication)
            .where(
                BookingApplication.job_id == job.id,
                BookingApplication.id != application.id,
                BookingApplication.status == ApplicationStatus.pending.value,
            )
            .values(status=ApplicationStatus.declined.value, updated_at=now)
        )
        await s.flush()
        log.info("booking_hired", booking=booking.id, job=job.id, escrow=booking.escrow_id)
        return booking


def bookings_query(*, actor: Principal) -> Select[Booking]:
    """A client's and a worker's own bookings; admins all."""
    q = select(Booking).order_by(Booking.id.desc())
    if actor.is_admin:
        return q
    me = actor.user_id or ""
    return q.where((Booking.client_id == me) | (Booking.worker_id == me))


async def get_visible(session: AsyncSession, *, actor: Principal, booking_id: str) -> Booking:
    row = await session.get(Booking, booking_id)
    if row is None or not (actor.is_admin or actor.user_id in (row.client_id, row.worker_id)):
        raise _booking_missing(booking_id)
    return row


async def shown(session: AsyncSession, row: Booking) -> BookingObject:
    return booking_json(row, await escrow_store.book_of(session, row.escrow_id))


async def shown_all(session: AsyncSession, rows: Sequence[Booking]) -> list[BookingObject]:
    return [await shown(session, r) for r in rows]


async def _reread(container: Container, booking_id: str) -> BookingObject:
    async with container.db.transaction() as s:
        return await shown(s, await s.get_one(Booking, booking_id))


async def _as(container: Container, actor: Principal, booking_id: str, who: str) -> Booking:
    """The booking, if ``actor`` is its ``who`` (``client`` or ``worker``)."""
    _user(actor, f"A booking's {who} acts on it")
    async with container.db.transaction() as s:
        row = await get_visible(s, actor=actor, booking_id=booking_id)
    party = row.client_id if who == "client" else row.worker_id
    if actor.user_id != party:
        raise PermissionDeniedError(
            f"Only the booking's {who} can do this.", code=f"booking_{who}_required"
        )
    return row


async def pay(
    container: Container, *, actor: Principal, booking_id: str, body: PayRequest
) -> BookingObject:
    """The client pays the booking's escrow (the escrows service's fund). Stripe: the card is
    charged, HELD. PayPal: the first call makes the order and answers with its approval page
    (``payment.next_action``); once the client approved, escrowd captures the order it has
    read back from PayPal — on PayPal's approval webhook (a hint, checked by reading the
    order) or on the client's next pay call, whichever comes first — HELD."""
    row = await _as(container, actor, booking_id, "client")
    async with container.db.transaction() as s:
        escrow = await escrow_store.load(s, row.escrow_id)
    domain.check_provider(escrow.provider or domain.DEFAULT_PROVIDER, body.payment_provider)
    await funding.fund(
        container,
        escrow_id=row.escrow_id,
        actor=actor,
        payment_method=body.payment_method,
        return_url=body.return_url,
    )
    return await _reread(container, row.id)


async def complete(container: Container, *, actor: Principal, booking_id: str) -> BookingObject:
    """The worker marks the work complete, once its money is held."""
    row = await _as(container, actor, booking_id, "worker")
    now = container.clock.now()
    async with container.db.transaction() as s:
        locked = (
            await s.scalars(select(Booking).where(Booking.id == row.id).with_for_update())
        ).one()
        escrow = await escrow_store.load(s, locked.escrow_id)
        domain.check_complete(locked.status, escrow.status)
        locked.status = BookingStatus.completed.value
        locked.completed_at = now
        locked.updated_at = now
        log.info("booking_completed", booking=locked.id)
    return await _reread(container, row.id)


async def release_money(
    container: Container, *, actor: Principal, booking_id: str, idempotency_key: str | None
) -> BookingObject:
    """The client releases the held money to the worker (the escrows service's release)."""
    row = await _as(container, actor, booking_id, "client")
    domain.check_release(row.status)
    await release.release(
        container, escrow_id=row.escrow_id, actor=actor, idempotency_key=idempotency_key
    )
    return await _reread(container, row.id)


# --- summaries -----------------------------------------------------------------------------------


@dataclass
class _Sums:
    bookings: int = 0
    completed: int = 0
    paid: int = 0
    held: int = 0
    released: int = 0
    refunded: int = 0
    fees: int = 0
    net_released: int = 0
    net_held: int = 0


async def _sums(session: AsyncSession, rows: Sequence[Booking]) -> dict[str, _Sums]:
    out: dict[str, _Sums] = defaultdict(_Sums)
    for row in rows:
        book = await escrow_store.book_of(session, row.escrow_id)
        e = book.escrow
        (slot,) = book.slots
        sums = out[row.currency]
        sums.bookings += 1
        sums.completed += row.status == BookingStatus.completed
        if e.ledger_funded:
            sums.paid += e.amount
            sums.held += e.amount - e.amount_released - e.amount_refunded
            sums.net_held += slot.remaining.net
        sums.released += e.amount_released
        sums.refunded += e.amount_refunded
        sums.fees += slot.released.platform_fee
        sums.net_released += slot.released.net
    return out


async def client_summary(session: AsyncSession, *, actor: Principal) -> ClientSummary:
    client = _user(actor, "A client's summary is for the client")
    jobs = (
        await session.execute(
            select(BookingJob.status, func.count())
            .where(BookingJob.client_id == client)
            .group_by(BookingJob.status)
        )
    ).all()
    counts = {str(status): int(n) for status, n in jobs}
    rows = (await session.scalars(select(Booking).where(Booking.client_id == client))).all()
    sums = await _sums(session, rows)
    return ClientSummary(
        client=client,
        jobs_posted=sum(counts.values()),
        jobs_open=counts.get(JobStatus.open.value, 0),
        totals=[
            ClientTotals(
                currency=c,
                bookings=s.bookings,
                paid=s.paid,
                held=s.held,
                released=s.released,
                refunded=s.refunded,
            )
            for c, s in sorted(sums.items())
        ],
    )


async def worker_earnings(session: AsyncSession, *, actor: Principal) -> WorkerEarnings:
    worker = _user(actor, "A worker's earnings are for the worker")
    applied = await session.scalar(
        select(func.count()).where(BookingApplication.worker_id == worker)
    )
    rows = (await session.scalars(select(Booking).where(Booking.worker_id == worker))).all()
    sums = await _sums(session, rows)
    balance = await balances.balance(session, party=worker)
    figures = {
        figure: dict(balance.figures[figure]) for figure in (Figure.available, Figure.in_transit)
    }
    return WorkerEarnings(
        worker=worker,
        applications=int(applied or 0),
        totals=[
            WorkerTotals(
                currency=c,
                bookings=s.bookings,
                completed=s.completed,
                released=s.released,
                platform_fees=s.fees,
                earned=s.net_released,
                pending=s.net_held,
                available=figures[Figure.available].get(c, 0),
                in_transit=figures[Figure.in_transit].get(c, 0),
            )
            for c, s in sorted(sums.items())
        ],
    )
