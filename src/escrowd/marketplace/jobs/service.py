"""The job marketplace's use cases: draft, publish (pay), claim, submit, approve, reject,
dispute, cancel, and slots following their disputes.

Money moves only through the core: publishing counts one use of the client's plan limit
(``published_jobs_per_month``, keyed by the job so a retried publish counts once) and creates
the job's escrow — one open allocation (payee null) per tester slot, seed 000's fee policy — in
the same transaction as the slots, then funds it (capture at once). Claiming assigns the
slot's allocation to the tester; approving releases it (the tester's transfer is the net after
the 15 % fee and their 3 % processing cost); cancelling refunds the unclaimed slots'
allocations; disputes are the core's, opened on the slot's allocation and decided by an admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.api import rate_limit
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.disputes import service as disputes
from escrowd.disputes.models import Dispute
from escrowd.errors import ConflictError, NotFoundError, PermissionDeniedError, person_required
from escrowd.escrows import funding, refund, release
from escrowd.escrows import service as escrows
from escrowd.escrows.models import Allocation, Escrow
from escrowd.escrows.schemas import EscrowCreate
from escrowd.ids import Prefix, new_id
from escrowd.logging import get_logger
from escrowd.marketplace.jobs import domain
from escrowd.marketplace.jobs.domain import JobStatus, SlotStatus
from escrowd.marketplace.jobs.models import TestingJob, TestingSlot
from escrowd.marketplace.jobs.schemas import JobCreate
from escrowd.money import normalize_currency
from escrowd.subscriptions.limits import service as limits

log = get_logger(__name__)

#: Disputed slots one sweep run looks at.
BATCH = 500


def _missing(job_id: str) -> NotFoundError:
    return NotFoundError(f"No such job: '{job_id}'.", param="job")


def _slot_missing(slot_id: str) -> NotFoundError:
    return NotFoundError(f"No such slot: '{slot_id}'.", param="slot")


def _sees(job: TestingJob, actor: Principal) -> bool:
    """Drafts are their client's (and admins'); published jobs are for every signed-in user."""
    return job.status != JobStatus.draft or actor.is_admin or actor.user_id == job.client_id


def _is_client(job: TestingJob, actor: Principal) -> bool:
    return actor.is_admin or actor.user_id == job.client_id


async def slots_of(session: AsyncSession, job_id: str) -> list[TestingSlot]:
    stmt = select(TestingSlot).where(TestingSlot.job_id == job_id).order_by(TestingSlot.position)
    return list((await session.scalars(stmt)).all())


async def create_job(
    session: AsyncSession, *, clock: Clock, actor: Principal, body: JobCreate
) -> TestingJob:
    if actor.user_id is None:
        raise person_required("Jobs are posted by their client")
    if actor.role != "client":
        raise PermissionDeniedError(
            f"Jobs are posted by clients, who pay for them; you are a {actor.role}.",
            code="role_required",
        )
    domain.total_budget(body.budget_per_tester, body.max_testers)
    now = clock.now()
    row = TestingJob(
        id=new_id(Prefix.testing_job),
        client_id=actor.user_id,
        title=body.title,
        description=body.description,
        currency=normalize_currency(body.currency),
        budget_per_tester=body.budget_per_tester,
        max_testers=body.max_testers,
        status=JobStatus.draft.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    log.info("job_drafted", job=row.id, client=row.client_id)
    return row


async def get_job(session: AsyncSession, *, job_id: str, actor: Principal) -> TestingJob:
    row = await session.get(TestingJob, job_id)
    if row is None or not _sees(row, actor):
        raise _missing(job_id)
    return row


def list_query(*, actor: Principal, status: JobStatus | None = None) -> Select[TestingJob]:
    q = select(TestingJob).order_by(TestingJob.id.desc())
    if not actor.is_admin:
        q = q.where(
            (TestingJob.status != JobStatus.draft.value)
            | (TestingJob.client_id == (actor.user_id or ""))
        )
    return q.where(TestingJob.status == status.value) if status is not None else q


async def _locked(session: AsyncSession, job_id: str, actor: Principal) -> TestingJob:
    row = (
        await session.scalars(select(TestingJob).where(TestingJob.id == job_id).with_for_update())
    ).one_or_none()
    if row is None or not _sees(row, actor):
        raise _missing(job_id)
    return row


def _client_only(job: TestingJob, actor: Principal, what: str) -> None:
    if not _is_client(job, actor):
        raise PermissionDeniedError(
            f"Only the job's client (or an admin) can {what}.", code="job_client_required"
        )


def _publishable(job: TestingJob, actor: Principal) -> None:
    _client_only(job, actor, "publish it")
    if job.status != JobStatus.draft:
        raise ConflictError(f"Job {job.id} is already {job.status}.", code="job_not_draft")


async def publish(
    container: Container,
    *,
    actor: Principal,
    job_id: str,
    payment_method: str | None,
    rate: rate_limit.Limit,
    return_url: str | None = None,
) -> str:
    """Pay the job's total budget into its escrow: the job opens once the money is held.

    An attempt the job's state and client allow counts against ``rate`` first (one who may
    not publish the job is refused without counting). The first attempt counts the plan use
    and creates the escrow with the slots; a retry after a declined card funds the same
    escrow again (and counts nothing against the plan)."""
    async with container.db.transaction() as s:
        _publishable(await get_job(s, job_id=job_id, actor=actor), actor)
    await rate_limit.hit(container.db, clock=container.clock, limit=rate, who=actor.id)
    async with container.db.transaction() as s:
        job = await _locked(s, job_id, actor)
        _publishable(job, actor)
        if job.escrow_id is None:
            await limits.record_use(
                s,
                clock=container.clock,
                actor=actor,
                limit=domain.PUBLISH_LIMIT,
                owner=job.client_id,
                key=job.id,
            )
            escrow = await escrows.create_in(
                s,
                container,
                actor=actor,
                body=EscrowCreate.model_validate(
                    {
                        "currency": job.currency,
                        "amount": domain.total_budget(job.budget_per_tester, job.max_testers),
                        "payer": None if actor.user_id == job.client_id else job.client_id,
                        "allocations": [
                            {
                                "payee": None,
                                "amount": job.budget_per_tester,
                                "metadata": {"job": job.id, "slot": str(i + 1)},
                            }
                            for i in range(job.max_testers)
                        ],
                        "fee_policy": domain.FEE_POLICY,
                        "description": f"Job “{job.title}” ({job.id})",
                        "metadata": {"job": job.id},
                    }
                ),
            )
            await s.flush()  # the allocations exist before the slots that name them
            job.escrow_id = str(escrow["id"])
            now = container.clock.now()
            for i, alloc in enumerate(escrow["allocations"]):
                s.add(
                    TestingSlot(
                        id=new_id(Prefix.job_slot),
                        job_id=job.id,
                        allocation_id=str(alloc["id"]),
                        position=i + 1,
                        status=SlotStatus.open.value,
                        created_at=now,
                        updated_at=now,
                    )
                )
            job.updated_at = now
        escrow_id = job.escrow_id
        # Paid already (a card that asked for 3-D Secure, completed since): open it now rather
        # than charging again or leaving it to the sweep.
        paid = await s.scalar(select(Escrow.status).where(Escrow.id == escrow_id))
        if paid == "held":
            _open(job, container.clock.now())
            return job_id
    funded = await funding.fund(
        container,
        escrow_id=escrow_id,
        actor=actor,
        payment_method=payment_method,
        return_url=return_url,
    )
    if funded["status"] == "held":
        async with container.db.transaction() as s:
            job = await _locked(s, job_id, actor)
            if job.status == JobStatus.draft:
                _open(job, container.clock.now())
    return job_id


def _open(job: TestingJob, now: datetime) -> None:
    job.status = JobStatus.open.value
    job.published_at = job.updated_at = now
    log.info("job_published", job=job.id, escrow=job.escrow_id)


async def open_paid_drafts(container: Container, *, job_id: str | None = None) -> int:
    """The ``jobs.open_paid`` sweep: a draft whose escrow became held after its publish call
    answered (the client completed 3-D Secure; the payment's webhook funded the escrow) opens
    now; with ``job_id``, that job only (its page, when the client comes back). One
    statement, so a job opens once whoever runs it; how many opened."""
    now = container.clock.now()
    paid = select(Escrow.id).where(Escrow.status == "held")
    which = [TestingJob.status == JobStatus.draft.value, TestingJob.escrow_id.in_(paid)]
    if job_id is not None:
        which.append(TestingJob.id == job_id)
    async with container.db.transaction() as s:
        opened = (
            await s.execute(
                update(TestingJob)
                .where(*which)
                .values(status=JobStatus.open.value, published_at=now, updated_at=now)
                .returning(TestingJob.id, TestingJob.escrow_id)
            )
        ).all()
    for job_id, escrow_id in opened:
        log.info("job_published", job=job_id, escrow=escrow_id, late=True)
    return len(opened)


async def _slot(s: AsyncSession, job: TestingJob, slot_id: str) -> TestingSlot:
    slot = await s.get(TestingSlot, slot_id)
    if slot is None or slot.job_id != job.id:
        raise _slot_missing(slot_id)
    return slot


async def claim(container: Container, *, actor: Principal, job_id: str) -> TestingSlot:
    """A tester takes the first open slot; its allocation is assigned to them."""
    if actor.user_id is None:
        raise person_required("Slots are claimed by testers")
    if actor.role != "worker":
        raise PermissionDeniedError(
            f"Slots are claimed by testers (workers), who are paid; you are a {actor.role}.",
            code="role_required",
        )
    tester = actor.user_id
    now = container.clock.now()
    async with container.db.transaction() as s:
        job = await _locked(s, job_id, actor)
        if job.status != JobStatus.open:
            raise ConflictError(
                f"Job {job.id} is {job.status}; slots are claimed while it is open.",
                code="job_not_open",
            )
        # The tester must be able to receive the money before taking a slot from others.
        await accounts.require_verified_payee(s, party_id=tester)
        slots = await slots_of(s, job.id)
        if any(x.tester_id == tester for x in slots):
            raise ConflictError(
                f"You already hold a slot of job {job.id}.", code="slot_already_claimed"
            )
        free = next((x for x in slots if x.status == SlotStatus.open), None)
        if free is None:
            raise ConflictError(f"Every slot of job {job.id} is taken.", code="job_full")
        free.status = SlotStatus.claimed.value
        free.tester_id = tester
        free.updated_at = now
        slot_id, allocation_id, escrow_id = free.id, free.allocation_id, job.escrow_id
    assert escrow_id is not None
    try:
        await escrows.assign(
            container, escrow_id=escrow_id, allocation_id=allocation_id, actor=None, payee=tester
        )
    except Exception:
        # The slot was reserved under the job's lock; give it back so another can claim it.
        async with container.db.transaction() as s:
            slot = await s.get(TestingSlot, slot_id)
            if slot is not None and slot.status == SlotStatus.claimed:
                slot.status, slot.tester_id = SlotStatus.open.value, None
        raise
    async with container.db.transaction() as s:
        found = await s.get(TestingSlot, slot_id)
        assert found is not None
        log.info("slot_claimed", job=job_id, slot=slot_id, tester=tester)
        return found


async def submit(
    session: AsyncSession, *, clock: Clock, actor: Principal, job_id: str, slot_id: str, text: str
) -> TestingSlot:
    job = await _locked(session, job_id, actor)
    slot = await _slot(session, job, slot_id)
    if actor.user_id is None or slot.tester_id != actor.user_id:
        raise PermissionDeniedError(
            "Only the slot's tester submits its work.", code="slot_tester_required"
        )
    domain.check_slot(slot.status, (SlotStatus.claimed, SlotStatus.rejected), "submitted")
    slot.submission = text
    slot.status = SlotStatus.submitted.value
    slot.updated_at = clock.now()
    return slot


async def reject(
    session: AsyncSession,
    *,
    clock: Clock,
    actor: Principal,
    job_id: str,
    slot_id: str,
    feedback: str | None,
) -> TestingSlot:
    """The money stays in escrow: the tester may submit again or dispute the rejection."""
    job = await _locked(session, job_id, actor)
    _client_only(job, actor, "review its submissions")
    slot = await _slot(session, job, slot_id)
    domain.check_slot(slot.status, (SlotStatus.submitted,), "rejected")
    slot.status = SlotStatus.rejected.value
    slot.feedback = feedback
    slot.updated_at = clock.now()
    return slot


async def _complete_if_done(s: AsyncSession, job: TestingJob, now: datetime) -> None:
    nxt = domain.job_after(job.status, [x.status for x in await slots_of(s, job.id)])
    if nxt is not None:
        job.status = nxt.value
        job.updated_at = now
        log.info("job_completed", job=job.id)


async def approve(
    container: Container,
    *,
    actor: Principal,
    job_id: str,
    slot_id: str,
    feedback: str | None,
    idempotency_key: str | None,
) -> TestingSlot:
    """Release the slot's allocation to its tester (the net of the 15 % fee and processing)."""
    async with container.db.transaction() as s:
        job = await _locked(s, job_id, actor)
        _client_only(job, actor, "review its submissions")
        slot = await _slot(s, job, slot_id)
        domain.check_slot(slot.status, (SlotStatus.submitted,), "approved")
        escrow_id, allocation_id = job.escrow_id, slot.allocation_id
    assert escrow_id is not None
    await release.release(
        container,
        escrow_id=escrow_id,
        actor=actor,
        items=[(allocation_id, None)],
        idempotency_key=idempotency_key,
    )
    now = container.clock.now()
    async with container.db.transaction() as s:
        job = await _locked(s, job_id, actor)
        slot = await _slot(s, job, slot_id)
        slot.status = SlotStatus.paid.value
        slot.feedback = feedback
        slot.updated_at = now
        await s.flush()
        await _complete_if_done(s, job, now)
        log.info("slot_approved", job=job.id, slot=slot.id)
        return slot


async def dispute(
    container: Container,
    *,
    actor: Principal,
    job_id: str,
    slot_id: str,
    reason: str,
    description: str | None,
) -> TestingSlot:
    """The client disputes a submission, or the tester a rejection: a core dispute on the
    slot's allocation, which an admin resolves (``POST /v1/disputes/{id}/resolve``)."""
    async with container.db.transaction() as s:
        job = await _locked(s, job_id, actor)
        slot = await _slot(s, job, slot_id)
        if _is_client(job, actor):
            domain.check_slot(
                slot.status, (SlotStatus.submitted, SlotStatus.rejected), "disputed by the client"
            )
        elif actor.user_id is not None and actor.user_id == slot.tester_id:
            domain.check_slot(slot.status, (SlotStatus.rejected,), "disputed by its tester")
        else:
            raise PermissionDeniedError(
                "Only the job's client or the slot's tester can dispute it.",
                code="slot_party_required",
            )
        escrow_id, allocation_id = job.escrow_id, slot.allocation_id
    assert escrow_id is not None
    opened = await disputes.open_dispute(
        container,
        actor=actor,
        escrow_id=escrow_id,
        allocation_id=allocation_id,
        reason=reason,
        description=description,
        evidence=[],
    )
    async with container.db.transaction() as s:
        found = await s.get(TestingSlot, slot_id)
        assert found is not None
        found.status_before_dispute = found.status
        found.status = SlotStatus.disputed.value
        found.dispute_id = str(opened["id"])
        found.updated_at = container.clock.now()
        return found


async def cancel(container: Container, *, actor: Principal, job_id: str) -> str:
    """A draft is dropped (its unpaid escrow cancelled); an open job stops taking claims and
    its unclaimed slots are refunded — the client gets back open slots × budget per tester,
    the claimed slots' money stays for their testers."""
    async with container.db.transaction() as s:
        job = await _locked(s, job_id, actor)
        _client_only(job, actor, "cancel it")
        if job.status == JobStatus.completed:
            raise ConflictError(f"Job {job.id} is completed.", code="job_completed")
        escrow = await s.get(Escrow, job.escrow_id) if job.escrow_id else None
        if escrow is not None and escrow.status == "disputed":
            # Refused before anything changes: the refund could not run on a frozen escrow.
            raise ConflictError(
                f"Job {job.id} has a slot in dispute (escrow {escrow.id} is frozen); cancel "
                "it once the dispute is decided.",
                code="job_disputed",
            )
        was = job.status
        job.status = JobStatus.cancelled.value
        job.updated_at = container.clock.now()
        escrow_id = job.escrow_id
        unclaimed = [x.allocation_id for x in await slots_of(s, job.id) if x.status == "open"]
    if escrow_id is None:
        return job_id
    if was == JobStatus.draft:
        await funding.cancel(
            container, escrow_id=escrow_id, actor=actor, reason="requested_by_customer"
        )
        return job_id
    if unclaimed:
        await refund.refund(
            container,
            escrow_id=escrow_id,
            actor=actor,
            items=[(a, None) for a in unclaimed],
            reason="requested_by_customer",
        )
        async with container.db.transaction() as s:
            for slot in await slots_of(s, job_id):
                if slot.allocation_id in unclaimed and slot.status == SlotStatus.open:
                    slot.status = SlotStatus.refunded.value
                    slot.updated_at = container.clock.now()
    log.info("job_cancelled", job=job_id, refunded_slots=len(unclaimed))
    return job_id


async def follow_disputes(container: Container) -> int:
    """The ``jobs.disputes`` sweep: disputed slots follow their disputes; how many moved."""
    now = container.clock.now()
    moved = 0
    async with container.db.transaction() as s:
        rows: Sequence[Any] = (
            await s.execute(
                select(TestingSlot, Dispute.status, Allocation)
                .join(Dispute, Dispute.id == TestingSlot.dispute_id)
                .join(Allocation, Allocation.id == TestingSlot.allocation_id)
                .where(TestingSlot.status == SlotStatus.disputed.value)
                .order_by(TestingSlot.id)
                .limit(BATCH)
            )
        ).all()
        for slot, dispute_status, alloc in rows:
            released = int((alloc.released or {}).get("gross", 0))
            refunded = int((alloc.refunded or {}).get("gross", 0))
            nxt = domain.after_dispute(
                dispute_status=dispute_status,
                before=slot.status_before_dispute,
                remaining=alloc.amount - released - refunded,
                released=released,
            )
            if nxt is None:
                continue
            slot.status = nxt.value
            slot.updated_at = now
            moved += 1
            log.info("slot_followed_dispute", slot=slot.id, status=slot.status)
            job = await s.get(TestingJob, slot.job_id)
            if job is not None:
                await s.flush()
                await _complete_if_done(s, job, now)
    return moved
