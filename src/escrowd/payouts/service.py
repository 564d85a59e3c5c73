"""The payout use cases (docs/payouts.md).

- :func:`request` (the payee, on the request's unit of work): checks who may pay out whose
  money and the payee's account (the KYC gate, payouts enabled), then holds the amount with a
  *pending* ledger transfer out of ``payee:<party>:available``. That account may not go below
  zero (pending debits count), so concurrent requests can never overdraw it: the ledger refuses
  the one too many, whatever the check before it read.
- :func:`reject` (an admin, one unit of work): voids the hold.
- :func:`approve` (an admin, its own short transactions): record → provider call → apply, as
  an escrow release does. The approval is committed first (status ``approved``, the payout's
  idempotency key written at the request); the provider call is made outside any
  transaction; its answer is applied in a second one. A crash or timeout in between leaves
  the payout ``approved``; the send job (enqueued by the failed call, or by the sync sweep
  after a crash) repeats the call with the same key, so the provider makes one payout
  however often it is asked.
- :func:`send` (the ``payouts.send`` job): the provider call again, with the same key, after
  the approval's own call got no answer; its last failed attempt writes
  ``payout.needs_attention``. :func:`reject` also takes an approved payout whose send job
  gave up (the admin's decision; the money returns).
- :func:`set_schedule`, :func:`pay_out_on_schedule` (the ``payouts.auto`` sweep): automatic
  payouts, once per party, period and currency (``schedule_key``, unique).
- :func:`apply_answer`: the provider's payout (from the call, a verified webhook or the sync
  sweep) moves ours forward, never back: paid posts the hold and moves the money out to the
  provider's clearing account; failed voids it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts.domain import PayeeNotReadyError
from escrowd.accounts.models import ConnectedAccount
from escrowd.accounts.service import require_verified_payee
from escrowd.api.principal import Principal
from escrowd.balances import service as balances
from escrowd.balances.domain import Figure, check_party
from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from escrowd.escrows import ledgering
from escrowd.escrows.ledgering import Move
from escrowd.events.domain import EventType
from escrowd.events.service import record
from escrowd.ids import Prefix, has_prefix, new_id
from escrowd.jobs import backoff, enqueue
from escrowd.jobs.models import Job, JobStatus
from escrowd.ledger import TransferKind
from escrowd.ledger.domain import LedgerError, Refusal
from escrowd.money import exponent, normalize_currency
from escrowd.payouts import domain
from escrowd.payouts.domain import Interval, PayoutStatus, Weekday
from escrowd.payouts.models import Payout, PayoutDestination, PayoutSchedule
from escrowd.payouts.schemas import PayoutObject, Schedule
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal.events import PROVIDER as PAYPAL
from escrowd.providers.types import Payout as ProviderPayout
from escrowd.providers.types import PayoutRequest
from escrowd.users.organizations import service as organizations
from escrowd.users.organizations.models import Organization

#: Where a payout goes: the party's Stripe connected account, or their PayPal email.
STRIPE = "stripe"


def missing(payout_id: str) -> NotFoundError:
    return NotFoundError(f"No such payout: '{payout_id}'.", param="id")


# --- who pays out whose money ------------------------------------------------------------------


async def payee_party(session: AsyncSession, *, actor: Principal, party: str | None) -> str:
    """The party whose money ``actor`` may pay out: their own, or an organization's they are
    an admin of. Someone else's is a 404 (as if it did not exist, as balances do)."""
    if actor.user_id is None:
        raise PermissionDeniedError(
            "A payout is requested by the payee: use the payee's user access token.",
            code="payee_required",
        )
    if party is None or party == actor.user_id:
        return actor.user_id
    party = check_party(party)
    if has_prefix(party, Prefix.organization):
        mine = await organizations.membership_of(session, org_id=party, user_id=actor.user_id)
        if mine is not None and await session.get(Organization, party) is not None:
            if mine.role != "admin":
                raise PermissionDeniedError(
                    f"Only an admin of organization {party} can pay out its money.",
                    code="organization_admin_required",
                )
            return party
    raise balances.party_missing(party)


async def _available(session: AsyncSession, party: str, currency: str) -> int:
    figures = (await balances.balance(session, party=party)).figures[Figure.available]
    return next((amount for c, amount in figures if c == currency), 0)


def _shown(amount: int, currency: str) -> str:
    """``1234 usd`` → ``12.34 usd``: integer arithmetic, for messages."""
    places = exponent(currency)
    if places == 0:
        return f"{amount} {currency}"
    whole, part = divmod(amount, 10**places)
    return f"{whole}.{part:0{places}d} {currency}"


def _too_large(amount: int, available: int, currency: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"The payout of {_shown(amount, currency)} is more than the available balance, "
        f"{_shown(available, currency)} ({available} in minor units).",
        code="amount_too_large",
        param="amount",
    )


# --- request -------------------------------------------------------------------------------------


async def request(
    session: AsyncSession,
    *,
    clock: Clock,
    actor: Principal,
    amount: int,
    currency: str,
    party: str | None,
    provider: str = STRIPE,
) -> Payout:
    """``provider``: ``stripe`` pays out from the party's connected account; ``paypal`` pays
    the party's PayPal email (their payout destination) from the platform's PayPal balance."""
    who = await payee_party(session, actor=actor, party=party)
    currency = normalize_currency(currency)
    destination: ConnectedAccount | str
    if provider == PAYPAL:
        destination = await paypal_email(session, who)
    else:
        destination = await payable_account(session, who)
    available = await _available(session, who, currency)
    if amount > available:
        raise _too_large(amount, available, currency)
    return await _hold(
        session,
        clock=clock,
        who=who,
        account=destination,
        amount=amount,
        currency=currency,
        requested_by=actor.id,
    )


async def paypal_email(session: AsyncSession, who: str) -> str:
    """The party's PayPal receiver email, or a 409 saying how to set it."""
    row = await session.get(PayoutDestination, who)
    if row is None or row.paypal_email is None:
        raise ConflictError(
            f"{who} has no PayPal email to be paid out to: set one with POST "
            '/v1/payout_destination {"paypal_email": "…"} (for an organization, with '
            "its party), then request the payout again.",
            code="paypal_email_required",
            param="provider",
        )
    return row.paypal_email


async def payable_account(session: AsyncSession, who: str) -> ConnectedAccount:
    """The party's connected account if it can receive a payout now; else the KYC gate's 409,
    or ``payee_payouts_inactive``."""
    account = await require_verified_payee(session, party_id=who)
    if not account.payouts_enabled or account.capabilities.get("transfers") != "active":
        raise PayeeNotReadyError(
            f"payee {who}'s account {account.id} cannot receive payouts yet (payouts "
            f"{'enabled' if account.payouts_enabled else 'disabled'}, transfers capability "
            f"{account.capabilities.get('transfers', 'missing')}); the payee completes "
            f"onboarding through POST /v1/accounts/{account.id}/onboarding_link",
            code="payee_payouts_inactive",
            party_id=who,
            account_id=account.id,
        )
    assert account.provider_account_id is not None  # the KYC gate checked it
    return account


async def _hold(
    session: AsyncSession,
    *,
    clock: Clock,
    who: str,
    account: ConnectedAccount | str,
    amount: int,
    currency: str,
    requested_by: str,
    schedule_key: str | None = None,
) -> Payout:
    """Write the payout and hold its money (a pending transfer out of available).
    ``account``: the payee's connected account, or the PayPal email to pay."""
    now = clock.now()
    payout_id = new_id(Prefix.payout)
    try:
        # The guard that holds under concurrency: the available account never goes negative.
        await ledgering.apply(
            session,
            clock=clock,
            currency=currency,
            reference=payout_id,
            moves=[
                Move(
                    domain.hold_id(payout_id),
                    "payout",
                    ledgering.payee_available(who),
                    ledgering.payouts_in_transit(who),
                    amount,
                    TransferKind.pending,
                )
            ],
        )
    except LedgerError as exc:
        if exc.refusal is not Refusal.exceeds_credits:
            raise
        raise _too_large(amount, await _available(session, who, currency), currency) from exc
    row = Payout(
        id=payout_id,
        party_id=who,
        amount=amount,
        currency=currency,
        status=PayoutStatus.requested.value,
        account_id=account.id if isinstance(account, ConnectedAccount) else None,
        provider=account.provider if isinstance(account, ConnectedAccount) else PAYPAL,
        provider_account_id=(
            account.provider_account_id if isinstance(account, ConnectedAccount) else None
        ),
        receiver_email=None if isinstance(account, ConnectedAccount) else account,
        idempotency_key=domain.idempotency_key(payout_id),
        provider_payout_id=None,
        requested_by=requested_by,
        reviewed_by=None,
        reason=None,
        failure_code=None,
        failure_message=None,
        arrival_date=None,
        created_at=now,
        updated_at=now,
        schedule_key=schedule_key,
    )
    session.add(row)
    await _event(session, clock, EventType.payout_requested, row)
    return row


# --- reading -------------------------------------------------------------------------------------


async def visible(
    session: AsyncSession,
    *,
    actor: Principal,
    status: PayoutStatus | None = None,
    party: str | None = None,
) -> Select[Payout]:
    """The payouts ``actor`` may see (admins: all; others: their own and their
    organizations'), filtered."""
    stmt = select(Payout)
    if not actor.is_admin:
        stmt = stmt.where(Payout.party_id.in_(await organizations.parties_of(session, actor.id)))
    if status is not None:
        stmt = stmt.where(Payout.status == status.value)
    if party is not None:
        stmt = stmt.where(Payout.party_id == party)
    return stmt


async def get_visible(session: AsyncSession, *, actor: Principal, payout_id: str) -> Payout:
    row = await session.get(Payout, payout_id)
    if row is None:
        raise missing(payout_id)
    if not actor.is_admin and row.party_id not in await organizations.parties_of(session, actor.id):
        raise missing(payout_id)
    return row


async def _locked(session: AsyncSession, payout_id: str) -> Payout:
    row = (
        await session.scalars(select(Payout).where(Payout.id == payout_id).with_for_update())
    ).one_or_none()
    if row is None:
        raise missing(payout_id)
    return row


# --- review --------------------------------------------------------------------------------------


async def reject(
    session: AsyncSession, *, clock: Clock, actor: Principal, payout_id: str, reason: str
) -> Payout:
    row = await _locked(session, payout_id)
    domain.check_can_reject_stuck(
        row.id,
        PayoutStatus(row.status),
        sending_gave_up=row.provider_payout_id is None and await _send_gave_up(session, row.id),
    )
    await _void(session, clock, row)
    row.status = PayoutStatus.rejected.value
    row.reviewed_by = actor.id
    row.reason = reason
    row.updated_at = clock.now()
    await _event(session, clock, EventType.payout_rejected, row)
    return row


async def approve(container: Container, *, actor: Principal, payout_id: str) -> PayoutObject:
    """Record the approval, call the provider outside any transaction, apply its answer.

    A provider that refuses the payout (an invalid request: payouts disabled, not enough money
    on the connected account) fails it and returns the money; one that cannot be reached (or
    does not answer) leaves it ``approved``, enqueues the send job and raises.
    """
    clock = container.clock
    async with container.db.transaction() as s:
        row = await _locked(s, payout_id)
        domain.check_can_approve(row.id, PayoutStatus(row.status))
        if row.status == PayoutStatus.requested.value:
            row.status = PayoutStatus.approved.value
            row.reviewed_by = actor.id
            row.updated_at = clock.now()
            await _event(s, clock, EventType.payout_approved, row)
        call, provider = _payout_request(row), row.provider
    return await _call_and_apply(container, payout_id, call, provider)


def _payout_request(row: Payout) -> PayoutRequest:
    return PayoutRequest(
        idempotency_key=row.idempotency_key,
        amount=row.amount,
        currency=row.currency,
        account_id=row.provider_account_id,
        receiver_email=row.receiver_email,
        description=f"escrowd payout {row.id}",
        metadata={"payout_id": row.id, "party": row.party_id},
    )


async def _call_and_apply(
    container: Container, payout_id: str, call: PayoutRequest, provider: str
) -> PayoutObject:
    """The approval's own call: when the provider cannot be reached, the send job takes over
    (its retries back off), and the caller gets the provider's error."""
    try:
        return await _send(container, payout_id, call, provider)
    except ProviderError as exc:
        async with container.db.transaction() as s:
            await schedule_send(s, clock=container.clock, payout_id=payout_id, retry=True)
        raise exc.to_api_error() from exc


async def schedule_send(
    session: AsyncSession, *, clock: Clock, payout_id: str, retry: bool
) -> None:
    """Enqueue the payout's send job (at most one per payout): ``retry`` after the approval's
    own call failed (first retry after the first backoff), else the first call, due now."""
    await enqueue(
        session,
        clock=clock,
        kind=domain.SEND_JOB,
        payload={"payout": payout_id},
        run_at=clock.now() + (backoff.retry_delay(1) if retry else timedelta(0)),
        dedupe_key=domain.send_dedupe_key(payout_id),
        max_attempts=domain.SEND_RETRIES if retry else domain.SEND_RETRIES + 1,
    )


async def _send_gave_up(session: AsyncSession, payout_id: str) -> bool:
    status = await session.scalar(
        select(Job.status).where(Job.dedupe_key == domain.send_dedupe_key(payout_id))
    )
    return status == JobStatus.failed.value


async def send(container: Container, payout_id: str, *, last_attempt: bool) -> None:
    """The send job: make the provider's payout for an ``approved`` payout still without one.

    Raises the provider's error for the job to retry; on the last attempt it first records
    ``payout.needs_attention`` (the jobs service then opens the incident). The money stays held.
    """
    async with container.db.transaction() as s:
        row = await _locked(s, payout_id)
        if row.status != PayoutStatus.approved.value or row.provider_payout_id is not None:
            return  # sent already (the approval's call, the sweep), or settled
        call, provider = _payout_request(row), row.provider
    try:
        await _send(container, payout_id, call, provider)
    except ProviderError as exc:
        if last_attempt:
            async with container.db.transaction() as s:
                row = await _locked(s, payout_id)
                if row.status == PayoutStatus.approved.value:
                    await _event(
                        s,
                        container.clock,
                        EventType.payout_needs_attention,
                        row,
                        extra={
                            "reason": "retries_exhausted",
                            "error": {"code": exc.code, "message": exc.message},
                        },
                        admins_only=True,
                    )
        raise


async def _send(
    container: Container, payout_id: str, call: PayoutRequest, provider: str
) -> PayoutObject:
    """Call the provider (outside any transaction) and apply its answer; a refusal fails the
    payout, an unreachable provider raises ``ProviderError``."""
    clock = container.clock
    try:
        answer = await container.provider_named(provider).create_payout(call)
    except ProviderError as exc:
        if exc.kind is not ProviderErrorKind.invalid_request:
            raise
        async with container.db.transaction() as s:
            row = await _locked(s, payout_id)
            if row.status == PayoutStatus.approved.value:
                await _fail(
                    s,
                    clock,
                    row,
                    code=exc.code or "provider_invalid_request",
                    message=exc.message,
                )
            return PayoutObject.of(row)
    async with container.db.transaction() as s:
        row = await _locked(s, payout_id)
        await apply_answer(s, clock=clock, row=row, answer=answer)
        return PayoutObject.of(row)


# --- the provider's answer ---------------------------------------------------------------------


async def apply_answer(
    session: AsyncSession, *, clock: Clock, row: Payout, answer: ProviderPayout
) -> None:
    """Move ``row`` (locked) as far as the provider's payout says, never backwards."""
    if row.provider_payout_id is None and PayoutStatus(row.status) in domain.AT_PROVIDER:
        row.provider_payout_id = answer.id
    if answer.arrival_date is not None and row.status in domain.AT_PROVIDER:
        row.arrival_date = answer.arrival_date
    target = domain.next_status(PayoutStatus(row.status), answer.status)
    if target is None:
        return
    if target is PayoutStatus.in_transit:
        row.status = target.value
        row.updated_at = clock.now()
    elif target is PayoutStatus.paid:
        await _pay(session, clock, row)
    else:
        await _fail(
            session,
            clock,
            row,
            code=answer.failure_code or f"payout_{answer.status}",
            message=answer.failure_message or f"The provider's payout is {answer.status}.",
        )


async def _pay(session: AsyncSession, clock: Clock, row: Payout) -> None:
    await _settle_hold(
        session,
        clock,
        row,
        TransferKind.post_pending,
        domain.post_id(row.id),
        "payout",
        Move(
            domain.sent_id(row.id),
            "payout_sent",
            ledgering.payouts_in_transit(row.party_id),
            ledgering.clearing(row.provider),
            row.amount,
        ),
    )
    row.status = PayoutStatus.paid.value
    row.updated_at = clock.now()
    await _event(session, clock, EventType.payout_paid, row)


async def _void(session: AsyncSession, clock: Clock, row: Payout) -> None:
    await _settle_hold(
        session,
        clock,
        row,
        TransferKind.void_pending,
        domain.void_id(row.id),
        "payout_returned",
    )


async def _settle_hold(
    session: AsyncSession,
    clock: Clock,
    row: Payout,
    kind: TransferKind,
    id: str,
    category: str,
    *after: Move,
) -> None:
    """Post or void (``kind``) the payout's hold as transfer ``id``, then the moves ``after``,
    in one chain."""
    hold = Move(id, category, kind=kind, pending_id=domain.hold_id(row.id))
    await ledgering.apply(
        session, clock=clock, currency=row.currency, reference=row.id, moves=[hold, *after]
    )


async def _fail(
    session: AsyncSession, clock: Clock, row: Payout, *, code: str, message: str
) -> None:
    await _void(session, clock, row)
    row.status = PayoutStatus.failed.value
    row.failure_code = code[:64]
    row.failure_message = message[:500]
    row.updated_at = clock.now()
    await _event(session, clock, EventType.payout_failed, row)


async def _event(
    session: AsyncSession,
    clock: Clock,
    type: EventType,
    row: Payout,
    *,
    extra: dict[str, Any] | None = None,
    admins_only: bool = False,
) -> None:
    await session.flush()
    payee = [row.party_id, row.requested_by if row.requested_by.startswith("usr_") else None]
    await record(
        session,
        clock=clock,
        type=type,
        object_id=row.id,
        data={**PayoutObject.of(row).model_dump(mode="json"), **(extra or {})},
        audience=[] if admins_only else payee,
    )


# --- the sync sweep ------------------------------------------------------------------------------


async def due_for_sync(container: Container, *, older_than: datetime, limit: int) -> Sequence[str]:
    """Payouts at the provider whose last change is older than ``older_than``."""
    async with container.db.transaction() as s:
        rows = await s.scalars(
            select(Payout.id)
            .where(
                or_(*(Payout.status == st.value for st in domain.AT_PROVIDER)),
                Payout.updated_at < older_than,
            )
            .order_by(Payout.updated_at)
            .limit(limit)
        )
        return list(rows)


async def sync(container: Container, payout_id: str) -> PayoutObject:
    """Ask the provider about one payout: without its answer yet, enqueue the send job (which
    repeats the call with the same key); else retrieve it and apply what it says."""
    async with container.db.transaction() as s:
        row = await _locked(s, payout_id)
        status = PayoutStatus(row.status)
        if status not in domain.AT_PROVIDER:
            return PayoutObject.of(row)
        provider_id, account = row.provider_payout_id, row.provider_account_id
        provider = row.provider
    if provider_id is None:
        # No answer yet (a crash after the approval, or a failed call): the send job asks,
        # with its retries; once they are spent an admin decides, not this sweep.
        async with container.db.transaction() as s:
            await schedule_send(s, clock=container.clock, payout_id=payout_id, retry=False)
            return PayoutObject.of(await _locked(s, payout_id))
    answer = await container.provider_named(provider).retrieve_payout(
        provider_id, account_id=account
    )
    async with container.db.transaction() as s:
        row = await _locked(s, payout_id)
        await apply_answer(s, clock=container.clock, row=row, answer=answer)
        return PayoutObject.of(row)


# --- destinations: where payouts outside Stripe go ------------------------------------------------


async def destination_of(
    session: AsyncSession, *, actor: Principal, party: str | None
) -> tuple[str, PayoutDestination | None]:
    who = await payee_party(session, actor=actor, party=party)
    return who, await session.get(PayoutDestination, who)


async def set_destination(
    session: AsyncSession,
    *,
    clock: Clock,
    actor: Principal,
    party: str | None,
    paypal_email: str | None,
) -> tuple[str, PayoutDestination]:
    """Save (or, with None, remove) the party's PayPal receiver email. Payouts already
    requested keep the email they were requested with."""
    who = await payee_party(session, actor=actor, party=party)
    now = clock.now()
    row = (
        await session.scalars(
            select(PayoutDestination).where(PayoutDestination.party_id == who).with_for_update()
        )
    ).one_or_none()
    if row is None:
        row = PayoutDestination(party_id=who, created_at=now)
        session.add(row)
    row.paypal_email = paypal_email
    row.updated_by = actor.id
    row.updated_at = now
    await session.flush()
    return who, row


# --- schedules: automatic payouts ----------------------------------------------------------------


async def schedule_of(session: AsyncSession, *, actor: Principal, party: str | None) -> Schedule:
    """The party's schedule (``manual`` when it never set one)."""
    who = await payee_party(session, actor=actor, party=party)
    row = await session.get(PayoutSchedule, who)
    return Schedule(who, row)


async def set_schedule(
    session: AsyncSession,
    *,
    clock: Clock,
    actor: Principal,
    party: str | None,
    interval: Interval,
    weekly_anchor: Weekday | None,
    monthly_anchor: int | None,
    minimum_amount: int,
) -> Schedule:
    """Set the party's schedule. The period it is set in counts as handled: the first
    automatic payout comes at the next period's start (as Stripe's schedules do)."""
    who = await payee_party(session, actor=actor, party=party)
    now = clock.now()
    if interval is not Interval.weekly and weekly_anchor is not None:
        raise _anchor_refused("weekly_anchor", interval)
    if interval is not Interval.monthly and monthly_anchor is not None:
        raise _anchor_refused("monthly_anchor", interval)
    if interval is Interval.weekly:
        weekly_anchor = weekly_anchor or Weekday.monday
    if interval is Interval.monthly:
        monthly_anchor = monthly_anchor or 1
    period = domain.period_of(
        interval, now.date(), weekly_anchor=weekly_anchor, monthly_anchor=monthly_anchor
    )
    row = (
        await session.scalars(
            select(PayoutSchedule).where(PayoutSchedule.party_id == who).with_for_update()
        )
    ).one_or_none()
    if row is None:
        row = PayoutSchedule(party_id=who, created_at=now)
        session.add(row)
    row.interval = interval.value
    row.weekly_anchor = None if weekly_anchor is None else weekly_anchor.value
    row.monthly_anchor = monthly_anchor
    row.minimum_amount = minimum_amount
    row.last_period = None if period is None else period.isoformat()
    row.skip_code = row.skip_message = None
    row.skipped_at = None
    row.updated_by = actor.id
    row.updated_at = now
    await session.flush()
    return Schedule(who, row)


def _anchor_refused(param: str, interval: Interval) -> InvalidRequestError:
    return InvalidRequestError(
        f"'{param}' applies to a {param.split('_')[0]} schedule, not a {interval.value} one.",
        code="parameter_invalid",
        param=param,
    )


async def due_schedules(container: Container, *, limit: int) -> Sequence[str]:
    """Parties whose automatic schedule has a period not handled yet."""
    today = container.clock.now().date()
    async with container.db.transaction() as s:
        rows = await s.execute(
            select(
                PayoutSchedule.party_id,
                PayoutSchedule.interval,
                PayoutSchedule.weekly_anchor,
                PayoutSchedule.monthly_anchor,
                PayoutSchedule.last_period,
            ).where(PayoutSchedule.interval != Interval.manual.value)
        )
        due: list[str] = []
        for party, interval, weekly, monthly, last in rows:
            period = domain.period_of(
                Interval(interval),
                today,
                weekly_anchor=None if weekly is None else Weekday(weekly),
                monthly_anchor=monthly,
            )
            if period is not None and period.isoformat() != last:
                due.append(party)
            if len(due) >= limit:
                break
        return due


async def pay_out_on_schedule(container: Container, party: str) -> list[str]:
    """One due party's automatic payout: for each currency, its whole available balance (at
    least the schedule's minimum), requested and approved at once, and sent by the send job.

    One transaction under the schedule's row lock; ``schedule_key`` (unique) makes it once
    per period and currency even if two sweeps raced. A payee that cannot receive a payout
    is skipped with the reason recorded, and tried again at the next run of the sweep.
    """
    clock = container.clock
    now = clock.now()
    async with container.db.transaction() as s:
        row = (
            await s.scalars(
                select(PayoutSchedule).where(PayoutSchedule.party_id == party).with_for_update()
            )
        ).one_or_none()
        if row is None:
            return []
        period = domain.period_of(
            Interval(row.interval),
            now.date(),
            weekly_anchor=None if row.weekly_anchor is None else Weekday(row.weekly_anchor),
            monthly_anchor=row.monthly_anchor,
        )
        if period is None or period.isoformat() == row.last_period:
            return []
        try:
            account = await payable_account(s, party)
        except PayeeNotReadyError as exc:
            _skipped(row, now, exc.code, exc.message)
            return []
        made: list[str] = []
        balance = (await balances.balance(s, party=party)).figures[Figure.available]
        for currency, amount in balance:
            if amount <= 0 or amount < row.minimum_amount:
                continue
            key = domain.schedule_key(party, period, currency)
            if await s.scalar(select(Payout.id).where(Payout.schedule_key == key)) is not None:
                continue
            payout = await _hold(
                s,
                clock=clock,
                who=party,
                account=account,
                amount=amount,
                currency=currency,
                requested_by=row.updated_by,
                schedule_key=key,
            )
            payout.status = PayoutStatus.approved.value
            payout.updated_at = now
            await _event(s, clock, EventType.payout_approved, payout)
            await schedule_send(s, clock=clock, payout_id=payout.id, retry=False)
            made.append(payout.id)
        if made:
            row.skip_code = row.skip_message = None
            row.skipped_at = None
        else:
            _skipped(
                row,
                now,
                "below_minimum",
                f"The available balance was below the schedule's minimum "
                f"({row.minimum_amount}) in every currency; nothing was paid out for the "
                f"period from {period.isoformat()}.",
            )
        row.last_period = period.isoformat()
        return made


def _skipped(row: PayoutSchedule, now: datetime, code: str, message: str) -> None:
    row.skip_code = code[:64]
    row.skip_message = message[:500]
    row.skipped_at = now
