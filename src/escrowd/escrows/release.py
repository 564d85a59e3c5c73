"""Releasing allocations to their payees: a provider transfer each, inside the use case.

The caller (or the inspection-period job) wants to know the money reached the payee, and the
checks that can refuse it (state, amounts, the payee's verified account) all run before any
call. Each allocation released is its own operation and its own transfer
(``esc_…:release:alloc_…:<n>``), so a release of three allocations is three transfers that
succeed or fail on their own. The answer says, per allocation, what was paid and what was not
(``results``); when one was not, the answer is an error that carries the escrow and the
results, and tells the idempotency layer not to store it (``Escrowd-Should-Retry: true``):
a retry with the same ``Idempotency-Key`` runs again and, because every operation remembers
the request that made it (``params["request"]``), pays only the allocations that request has
not paid yet — never one twice. A failed transfer is retried under a new operation key (the
provider would answer the old key with the old failure).

A release takes a part of what the allocation has free (``AllocationBreakdown.take``): the
payee gets the part's net (pending first when ``ESCROWD_PAYOUT_DELAY_SECONDS`` > 0), the
platform its fee, the processing recovery goes to ``platform:processing_costs``. A transfer
reversal (webhook) puts the payee's net back. A payee who owes money after a clawback
(``payee:<party>:debt``) repays it first from the net.

A transfer names the charge as its source (``source_transaction``) while the charge still
has that much left at the provider; money released again after a reversal is no longer on
the charge (the provider counts the reversed transfer as made), so it goes from the
platform's balance, where the reversal put it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.accounts import service as accounts
from escrowd.api.idempotency import SHOULD_RETRY_HEADER
from escrowd.api.principal import Principal
from escrowd.balances import tasks as balance_tasks
from escrowd.bootstrap import Container
from escrowd.errors import ConflictError, EscrowdError, InvalidRequestError
from escrowd.escrows import ledgering, operations, parts, store
from escrowd.escrows.book import Book, Slot
from escrowd.escrows.models import OPEN_OPS, Operation, OpKind, OpStatus
from escrowd.escrows.operations import OpResult, Outcome, Settling
from escrowd.escrows.schemas import allocation_json, escrow_json
from escrowd.escrows.states import Action, EscrowStateError, State, transition
from escrowd.events import EventType
from escrowd.events import service as events
from escrowd.providers.base import Capability, PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.types import Transfer, TransferRequest

#: ``(allocation id, amount or None for all of it)``.
Item = tuple[str, int | None]


def nothing_free(book: Book, what: str) -> ConflictError | InvalidRequestError:
    if book.open_ops:
        return ConflictError(
            f"everything left in escrow {book.escrow.id} is being moved by operations in "
            f"flight; nothing is free to {what}. Retry once they are settled.",
            code="escrow_operation_in_progress",
        )
    return InvalidRequestError(
        f"escrow {book.escrow.id} has nothing left to {what}.", code="amount_too_large"
    )


def named_slots(book: Book, items: Sequence[Item]) -> Iterator[tuple[int, Slot, int | None]]:
    """Each item's place in the request, allocation and amount, in order; an allocation that
    is not the escrow's, or is named twice, is refused (400 ``allocation_invalid``)."""
    seen: set[str] = set()
    for i, (allocation_id, amount) in enumerate(items):
        slot = book.slot(allocation_id)
        if slot is None or allocation_id in seen:
            problem = "is named twice" if slot is not None else "is not one of its allocations"
            raise InvalidRequestError(
                f"'{allocation_id}' {problem} (escrow {book.escrow.id}).",
                code="allocation_invalid",
                param=f"allocations[{i}][id]",
            )
        seen.add(allocation_id)
        yield i, slot, amount


def choose(
    book: Book, items: Sequence[Item] | None, *, what: str, skip: Collection[str] = ()
) -> list[tuple[Slot, int]]:
    """The allocations and amounts named (all that is free when ``items`` is None), but for
    those in ``skip`` (handled already by an earlier attempt of the same request)."""
    if items is None:
        chosen = [
            (s, s.free.gross)
            for s in book.slots
            if s.free.gross > 0 and s.allocation.id not in skip
        ]
        if not chosen and not skip:
            raise nothing_free(book, what)
        return chosen
    out: list[tuple[Slot, int]] = []
    for i, slot, amount in named_slots(book, items):
        if slot.allocation.id in skip:
            continue
        free = slot.free.gross
        wanted = free if amount is None else amount
        if wanted > free or wanted == 0:
            raise operations.amount_too_large(
                what,
                wanted,
                free,
                currency=book.escrow.currency,
                param=f"allocations[{i}][amount]",
            )
        out.append((slot, wanted))
    return out


def by_transfer(provider: PaymentProvider) -> bool:
    """Whether a release moves the payee's net to their connected account (Stripe). Without
    transfers (PayPal) the net stays on the platform's balance at the provider and only the
    ledger moves it to the payee's; their payout (to their PayPal email) takes it out."""
    return Capability.transfers in provider.capabilities


def _assigned(book: Book, chosen: Sequence[tuple[Slot, int]]) -> None:
    for slot, _ in chosen:
        if slot.allocation.payee_id is None:
            raise InvalidRequestError(
                f"allocation {slot.allocation.id} has no payee yet: assign one with POST "
                f"/v1/escrows/{book.escrow.id}/allocations/{slot.allocation.id}/assign first.",
                code="allocation_unassigned",
                param="allocations",
            )


async def _payees(
    session: AsyncSession, book: Book, chosen: Sequence[tuple[Slot, int]], provider: str
) -> dict[str, str]:
    """Each payee's verified connected account at the provider (the KYC gate), read in one
    query. Refusals come in allocation order: the first unready or unassigned one."""
    named: list[str] = []
    unassigned: Slot | None = None
    for slot, _ in chosen:
        if slot.allocation.payee_id is None:
            unassigned = slot
            break
        named.append(slot.allocation.payee_id)
    rows = await accounts.verified_payees(session, party_ids=named, provider=provider)
    if unassigned is not None:
        raise InvalidRequestError(
            f"allocation {unassigned.allocation.id} has no payee yet: assign one with POST "
            f"/v1/escrows/{book.escrow.id}/allocations/{unassigned.allocation.id}/assign first.",
            code="allocation_unassigned",
            param="allocations",
        )
    accounts_of: dict[str, str] = {}
    for payee, row in rows.items():
        assert row.provider_account_id is not None
        accounts_of[payee] = row.provider_account_id
    return accounts_of


def request_of(actor: Principal | None, idempotency_key: str | None) -> str | None:
    """Who asked, with which ``Idempotency-Key``: what an operation remembers so that a retry
    of the same request finds what it already paid (keys are scoped per caller, as the
    idempotency layer scopes them). None without a key: every call is a new request."""
    if idempotency_key is None:
        return None
    who = f"{actor.kind}:{actor.id}" if actor is not None else "escrowd"
    return hashlib.sha256(f"{who}\n{idempotency_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Recorded:
    #: The operations recorded now, one per allocation, in the order asked.
    ops: list[Operation]
    #: What earlier attempts of the same request paid or still have in flight.
    earlier: list[OpResult]


async def _history(session: AsyncSession, escrow_id: str) -> list[Operation]:
    """Every release operation of the escrow: one read for the keys' numbers and a retry's
    earlier attempts."""
    return list(
        (
            await session.scalars(
                select(Operation).where(
                    Operation.escrow_id == escrow_id, Operation.kind == OpKind.release.value
                )
            )
        ).all()
    )


def _next_key(escrow_id: str, allocation_id: str, history: Sequence[Operation]) -> str:
    """``esc_…:release:alloc_…:<n>``, as ``operations.next_key`` counts them."""
    n = sum(1 for op in history if op.allocation_id == allocation_id)
    return f"{escrow_id}:{OpKind.release.value}:{allocation_id}:{n + 1}"


def _left_on_charge(book: Book) -> int:
    """A lower bound of what the provider lets transfers still take from the charge: what
    was captured, less refunds, less every transfer made from it (reversed ones included:
    ``net_returned``), less what operations in flight will take."""
    e = book.escrow
    in_flight = sum(op.provider_amount for op in book.open_ops)
    return e.ledger_funded - e.ledger_refunded - e.ledger_released - e.net_returned - in_flight


async def record(
    session: AsyncSession,
    container: Container,
    book: Book,
    items: Sequence[Item] | None,
    *,
    request: str | None = None,
) -> Recorded:
    """Step 1 of a release, under the escrow's lock: check everything, claim the money.

    With ``request``, the allocations an earlier attempt of the same request paid (or is still
    paying) are left out and reported as they stand."""
    e = book.escrow
    history = book.releases if book.releases is not None else await _history(session, e.id)
    done = {
        op.allocation_id: op
        for op in history
        if request is not None
        and op.params.get("request") == request
        and op.allocation_id
        and op.status != OpStatus.failed.value
    }
    earlier = [OpResult.of(op) for op in done.values()]
    try:
        store.check_allows(book, Action.release)
    except EscrowStateError:
        # A retry after every allocation it named was handled: only report what it did.
        if done and (items is None or all(a in done for a, _ in items)):
            return Recorded([], earlier)
        raise
    chosen = choose(book, items, what="release", skip=done.keys())
    if not chosen:
        return Recorded([], earlier)
    transition(e.status, Action.release, context=book.context(release=sum(a for _, a in chosen)))
    provider = container.provider_named(e.provider)
    if by_transfer(provider):
        destinations = await _payees(session, book, chosen, provider.name)
    else:
        _assigned(book, chosen)
        destinations = {}
    on_charge = _left_on_charge(book)
    ops: list[Operation] = []
    for slot, amount in chosen:
        part, _ = slot.free.take(amount)
        source = e.charge_id if part.net <= on_charge else None
        on_charge -= part.net if source else 0
        payee = slot.allocation.payee_id
        assert payee is not None
        params: dict[str, Any] = {
            "part": parts.dump(part),
            "payee": payee,
            "destination": destinations.get(payee),
            "currency": e.currency,
            "source_transaction": source,
        }
        if request is not None:
            params["request"] = request
        ops.append(
            operations.new_op(
                session,
                escrow=e,
                kind=OpKind.release,
                key=_next_key(e.id, slot.allocation.id, history),
                amount=part.gross,
                provider_amount=part.net,
                params=params,
                now=container.clock.now(),
                allocation_id=slot.allocation.id,
            )
        )
    return Recorded(ops, earlier)


#: What ``results`` says of an operation, by its status.
_RESULT_STATUS = {OpStatus.succeeded.value: "paid", OpStatus.failed.value: "failed"}


def result_json(r: OpResult) -> dict[str, Any]:
    status = _RESULT_STATUS.get(r.status, "pending")
    return {
        "allocation": r.allocation_id,
        "amount": r.amount,
        "net": r.provider_amount,
        "status": status,
        "transfer": r.provider_object_id,
        "error": r.error.to_dict()["error"] if r.error is not None and status != "paid" else None,
    }


class ReleaseIncompleteError(EscrowdError):
    """Some allocations were not paid (or not yet): the first one's error, with the escrow
    and every allocation's result, and the advice to retry with the same key."""

    def __init__(
        self,
        cause: EscrowdError,
        *,
        status: int,
        message: str,
        escrow: dict[str, Any],
        results: list[dict[str, Any]],
    ) -> None:
        super().__init__(
            message,
            code=cause.code,
            param=cause.param,
            status=status,
            headers={**cause.headers, SHOULD_RETRY_HEADER: "true"},
        )
        self.cause = cause
        self.escrow = escrow
        self.results = results

    def to_dict(self) -> dict[str, Any]:
        body = self.cause.to_dict()
        body["error"].update(message=self.message, escrow=self.escrow, results=self.results)
        return body


def answer(book: Book, results: Sequence[OpResult]) -> dict[str, Any]:
    """The escrow with ``results``; raises :class:`ReleaseIncompleteError` unless all were paid."""
    order = {s.allocation.id: i for i, s in enumerate(book.slots)}
    ordered = sorted(results, key=lambda r: order.get(r.allocation_id or "", len(order)))
    shown = [result_json(r) for r in ordered]
    escrow = escrow_json(book, book.open_ops)
    failed = [r for r in ordered if r.status == OpStatus.failed.value]
    waiting = [r for r in ordered if r.status in OPEN_OPS]
    if not failed and not waiting:
        return {**escrow, "results": shown}
    paid = sum(1 for r in ordered if r.status == OpStatus.succeeded.value)
    if failed:
        first = failed[0]
        cause = first.error or ProviderError(ProviderErrorKind.api, "").to_api_error()
        raise ReleaseIncompleteError(
            cause,
            status=402,
            message=(
                f"{paid} of {len(ordered)} allocations paid; allocation {first.allocation_id} "
                f"was not: {cause.message} Retry with the same Idempotency-Key to pay only "
                "what was not paid (see results)."
            ),
            escrow=escrow,
            results=shown,
        )
    unknown = next((r.error for r in waiting if r.error is not None), None)
    cause = unknown or ProviderError(ProviderErrorKind.unknown_outcome, "").to_api_error()
    raise ReleaseIncompleteError(
        cause, status=cause.http_status, message=cause.message, escrow=escrow, results=shown
    )


async def release(
    container: Container,
    *,
    escrow_id: str,
    actor: Principal | None,
    items: Sequence[Item] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Release the named allocations (all that is free when ``items`` is None).

    ``idempotency_key``: the API request's; its retry pays only what it has not paid yet."""
    request = request_of(actor, idempotency_key)
    # 1. Record, under the escrow's lock: check everything, claim the money.
    async with operations.recording(container, escrow_id, actor, releases=True) as (
        session,
        book,
    ):
        recorded = await record(session, container, book, items, request=request)
    # 2. One transfer per allocation (``transfer``), then 3. settle them (``settle``).
    settled = await operations.run(container, escrow_id, RELEASE, recorded.ops)
    return answer(settled.book, [*recorded.earlier, *settled.results])


async def transfer(provider: PaymentProvider, op: Operation) -> Outcome:
    """Step 2: the payee's transfer, with the operation's key as its idempotency key; none
    for a provider without transfers (no destination recorded): the ledger alone moves it."""
    p = op.params
    if p.get("destination") is None:
        return Outcome()
    result = await provider.create_transfer(
        TransferRequest(
            idempotency_key=op.key,
            amount=op.provider_amount,
            currency=p["currency"],
            destination=p["destination"],
            transfer_group=op.escrow_id,
            source_transaction=p.get("source_transaction"),
            metadata={"escrow_id": op.escrow_id, "allocation_id": op.allocation_id or ""},
        )
    )
    return Outcome(result=result)


async def settle(ctx: Settling, op: Operation, outcome: Outcome) -> None:
    """Step 3, for each transfer made: state, allocation, ledger move, allocation event."""
    book = ctx.book
    e = book.escrow
    slot = book.slot(op.allocation_id or "")
    assert slot is not None, op.key
    part = parts.load(op.params["part"], slot.policy.processing_bearer)
    context = book.context(release=part.gross)
    try:
        new: State | None = transition(e.status, Action.release, context=context)
    except EscrowStateError:
        new = None  # frozen meanwhile (a dispute): the money moved all the same
    slot.allocation.released = parts.dump(parts.plus(slot.released, part))
    slot.allocation.updated_at = ctx.clock.now()
    e.amount_released += part.gross
    e.ledger_released += parts.charged_of(part)
    if new is not None:
        e.status = new.value
    if isinstance(outcome.result, Transfer):
        op.provider_object_id = outcome.result.id
    # A payout delay keeps the net pending until a job makes it available (balances.tasks).
    delay = ctx.container.settings.payout_delay_seconds
    payee = op.params["payee"]
    ctx.post(ledgering.release(op.key, e.id, payee, part, pending=delay > 0))
    if delay == 0 and part.net > 0:
        ctx.post(await _repayment(ctx, op.key, payee, part.net))
    if delay > 0 and part.net > 0:
        await balance_tasks.schedule(ctx.session, clock=ctx.clock, op_key=op.key, delay=delay)
    await ctx.emit_allocations(EventType.allocation_released, [slot.allocation.id])
    ctx.moved.add("release")


async def fail(ctx: Settling, op: Operation, exc: ProviderError) -> None:
    """A transfer refused: its money is free again (the operation is ``failed``); the
    allocation's ``allocation.release_failed`` says what was not paid and why."""
    book = ctx.refresh()
    slot = book.slot(op.allocation_id or "")
    assert slot is not None, op.key
    await events.record(
        ctx.session,
        clock=ctx.clock,
        type=EventType.allocation_release_failed,
        object_id=slot.allocation.id,
        data={
            **allocation_json(book.escrow, slot),
            "release_failure": {
                "amount": op.amount,
                "net": op.provider_amount,
                "error": exc.to_api_error().to_dict()["error"],
            },
        },
        audience=store.audience(book),
    )


async def _repayment(ctx: Settling, op_key: str, payee: str, net: int) -> list[ledgering.Move]:
    """The part of ``net`` that repays what ``payee`` owes (one read per settling batch).

    That read also takes the other accounts a release posts to, so the batch's posting need
    not read them again (``Settling.accounts``)."""
    if ctx.debts is None:
        e = ctx.book.escrow
        payees = sorted({s.allocation.payee_id for s in ctx.book.slots if s.allocation.payee_id})
        debts = [ledgering.payee_debt(p) for p in payees]
        codes = [
            *debts,
            *(ledgering.payee_available(p) for p in payees),
            ledgering.escrow_account(e.id),
            ledgering.PLATFORM_FEES,
            ledgering.PROCESSING_COSTS,
        ]
        found = await ledgering.accounts(ctx.session, e.currency, codes)
        ctx.accounts.update(found)
        ctx.debts = {c: ledgering.spendable_of(found[c]) for c in debts if c in found}
    code = ledgering.payee_debt(payee)
    repaid = min(net, ctx.debts.get(code, 0))
    if repaid <= 0:
        return []
    ctx.debts[code] -= repaid
    return [ledgering.repay(op_key, payee, repaid)]


#: Releasing: a transfer per allocation, settled as above; a refused one says so in an event.
RELEASE = operations.Verb(call=transfer, settle=settle, fail=fail)
