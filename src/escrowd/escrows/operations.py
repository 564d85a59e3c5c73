"""Provider calls that move an escrow's money, recorded before they are made.

Every money-moving call follows the same three steps:

1. **Record** (one transaction, under the escrow's row lock): check the state and the
   amounts, and insert an ``escrow_operations`` row, status ``pending``, with everything the
   call needs. Its key is the idempotency key the provider gets (``esc_…:fund:1``,
   ``esc_…:release:alloc_…:1``). Money it claims is no longer free for other operations.
2. **Call** the provider, outside any transaction (``call``).
3. **Settle** (one transaction, under the lock again): apply the result — state, ledger
   transfers (ids derived from the key), events, follow-up jobs — and mark the row
   ``succeeded`` or ``failed``; or ``unknown`` when the outcome could not be known.

A crash between 1 and 2 or between 2 and 3 leaves the row ``pending``. The janitor sweep finds
rows left ``pending`` or ``unknown`` and makes the same call again with the same key: the
provider answers with the first call's result (or makes the call now, if it never arrived), and
settling is idempotent (a settled row is never settled again; the ledger refuses nothing it has
seen, it replays it). So no money moves twice.

Each kind is a :class:`Verb` defined beside its use case (``funding.FUND``, ``funding.CAPTURE``,
``release.RELEASE``, ``refund.REFUND``, ``clawback.CLAWBACK``): its provider call, how it
settles, how a known failure settles. A use case records, then hands its own verb to
:func:`run`; the janitor, which finds operations of any kind, looks the verb up in the
container's ``registries.verbs`` (``settlement.VERBS``). No registry is filled at import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.clock import Clock
from escrowd.errors import EscrowdError, InvalidRequestError
from escrowd.escrows import ledgering, store
from escrowd.escrows.book import Book
from escrowd.escrows.models import OPEN_OPS, Escrow, Operation, OpKind, OpStatus
from escrowd.escrows.payments import Unit
from escrowd.escrows.schemas import escrow_json
from escrowd.escrows.states import State
from escrowd.events import EventType
from escrowd.events.service import batched
from escrowd.ledger import Account
from escrowd.logging import get_logger
from escrowd.money import Money
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.types import (
    Payment,
    Refund,
    Transfer,
)

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a provider call gave: its result, or the error it raised."""

    result: Payment | Transfer | Refund | None = None
    error: ProviderError | None = None
    #: For a captured payment: the provider's fee on the charge, when it could be read.
    fee: int | None = None

    @property
    def unknown(self) -> bool:
        """The call may have happened: settle later by asking again with the same key."""
        return self.error is not None and self.error.kind in (
            ProviderErrorKind.unknown_outcome,
            ProviderErrorKind.api,
        )


def new_op(
    session: AsyncSession,
    *,
    escrow: Escrow,
    kind: OpKind,
    key: str,
    amount: int,
    provider_amount: int,
    params: dict[str, Any],
    now: datetime,
    allocation_id: str | None = None,
) -> Operation:
    if escrow.provider is not None:
        # Which provider the call goes to, kept with the call: the janitor repeats it there.
        params = {**params, "provider": escrow.provider}
    op = Operation(
        key=key,
        escrow_id=escrow.id,
        kind=kind.value,
        allocation_id=allocation_id,
        status=OpStatus.pending.value,
        amount=amount,
        provider_amount=provider_amount,
        params=params,
        reversed=0,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(op)
    return op


# --- step 2: the call (each verb's own ``call``) -----------------------------------------------


def provider_of(container: Container, op: Operation) -> PaymentProvider:
    """The escrow's own provider (operations recorded before escrows chose one: the default)."""
    name = op.params.get("provider")
    return container.provider_named(name if isinstance(name, str) else None)


async def call(verb: Verb, provider: PaymentProvider, op: Operation) -> Outcome:
    """Make (or repeat) the operation's provider call with its key.

    Provider errors come back in the ``Outcome``; anything else (a bug, a crash) propagates
    and leaves the operation ``pending`` for the janitor. An operation that moves nothing at
    the provider (a release whose net is zero: the fee took all of it) makes no call.
    """
    if not op.provider_amount:
        return Outcome()
    try:
        return await verb.call(provider, op)
    except ProviderError as exc:
        return Outcome(error=exc)


# --- step 3: settling -----------------------------------------------------------------------


@dataclass
class Settling:
    """What settlers share in one settling transaction."""

    session: AsyncSession
    clock: Clock
    container: Container
    book: Book
    #: Escrow-level events to write once every operation of the batch is settled.
    events: list[EventType] = field(default_factory=list)
    #: Money actions settled in this batch (``release``, ``refund``): their escrow-level
    #: event is chosen from the state the whole batch leaves.
    moved: set[str] = field(default_factory=set)
    #: Ledger moves of every operation in the batch, posted together when it is settled:
    #: one call locks all their accounts in one sorted order, so two settlements whose
    #: payees cross cannot deadlock (per-operation calls each sorted only their own).
    moves: list[ledgering.Move] = field(default_factory=list)
    #: What the escrow's payees owe (``payee:<party>:debt``), read once per batch by the
    #: first release settled in it: their net repays it first.
    debts: dict[str, int] | None = None
    #: Ledger accounts read by a settler in this transaction (by code): the batch's posting
    #: reads only the others.
    accounts: dict[str, Account] = field(default_factory=dict)

    def post(self, moves: Sequence[ledgering.Move]) -> None:
        self.moves.extend(moves)

    def unit(self) -> Unit:
        """This transaction as ``payments.apply_payment`` and ``close`` take it, their ledger
        moves joining the batch's (posted last)."""
        return Unit(self.session, self.clock, self.moves)

    def refresh(self) -> Book:
        self.book = store.refreshed(self.book)
        return self.book

    async def emit_allocations(self, type: EventType, allocation_ids: Iterable[str]) -> None:
        """Record ``type`` for each allocation as the book shows it now that the operation's
        money moved (the book refreshed)."""
        book = self.refresh()
        for allocation_id in allocation_ids:
            await store.emit_allocation(
                self.session, clock=self.clock, type=type, book=book, allocation_id=allocation_id
            )

    def later(self, event: EventType) -> None:
        if event not in self.events:
            self.events.append(event)


Caller = Callable[[PaymentProvider, Operation], Awaitable[Outcome]]
Settler = Callable[[Settling, Operation, Outcome], Awaitable[None]]
Failer = Callable[[Settling, Operation, ProviderError], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Verb:
    """One kind of money operation, defined beside the use case that records it: its provider
    call, how its success settles, and (optionally) how a known failure does."""

    call: Caller
    settle: Settler
    fail: Failer | None = None


def _error_json(exc: ProviderError) -> dict[str, Any]:
    return {
        "kind": exc.kind.value,
        "code": exc.code,
        "decline_code": exc.decline_code,
        "message": exc.message,
    }


@asynccontextmanager
async def recording(
    container: Container, escrow_id: str, actor: Principal | None, *, releases: bool = False
) -> AsyncIterator[tuple[AsyncSession, Book]]:
    """Step 1's transaction: the escrow's book (escrow, allocations, open operations) loaded
    once and locked, after checking that ``actor`` may change it (None: escrowd itself).
    ``releases``: the book holds the escrow's release operations too (``Book.releases``)."""
    async with container.db.transaction() as session:
        book = await store.book_of(session, escrow_id, lock=True, releases=releases)
        await store.check_write(session, actor, book.escrow)
        yield session, book


@dataclass(frozen=True, slots=True)
class OpResult:
    """Where one operation of a batch stands once the batch is settled."""

    key: str
    allocation_id: str | None
    amount: int
    provider_amount: int
    #: ``succeeded``, ``failed``, or still open (``pending``, ``unknown``).
    status: str
    provider_object_id: str | None
    #: The API error of a call that failed or whose outcome is unknown.
    error: EscrowdError | None = None

    @classmethod
    def of(cls, op: Operation, error: EscrowdError | None = None) -> OpResult:
        return cls(
            op.key,
            op.allocation_id,
            op.amount,
            op.provider_amount,
            op.status,
            op.provider_object_id,
            error,
        )


@dataclass(frozen=True, slots=True)
class Settled:
    book: Book
    #: The API error of the first call that failed or is unknown, to answer with.
    error: EscrowdError | None
    #: Each operation of the batch, in the order given (releases answer per allocation).
    results: tuple[OpResult, ...] = ()

    def answer(self) -> dict[str, Any]:
        """The escrow as the API shows it, or the first provider error (the rest settled)."""
        if self.error is not None:
            raise self.error
        return escrow_json(self.book, self.book.open_ops)


async def settle(
    container: Container, escrow_id: str, verb: Verb, outcomes: Sequence[tuple[str, Outcome]]
) -> Settled:
    """Apply the outcomes of ``verb``'s calls for ``escrow_id``, in one transaction."""
    clock = container.clock
    first_error: EscrowdError | None = None
    results: list[OpResult] = []
    async with container.db.transaction() as session:
        # The events of the batch are written together, before the ledger's posting.
        async with batched(session):
            book = await store.book_of(session, escrow_id, lock=True)
            ctx = Settling(session, clock, container, book)
            for key, outcome in outcomes:
                op = await session.get(Operation, key)
                if op is None:
                    continue
                error = await _settle_one(ctx, verb, op, outcome)
                first_error = first_error or error
                results.append(OpResult.of(op, error))
            book = ctx.refresh()
            for event in [*ctx.events, *_money_events(book, ctx.moved)]:
                await store.emit(session, clock=clock, type=event, book=book)
        store.touch(book.escrow, clock)
        if ctx.moves:
            # Last, once the escrow's own rows are written: the posting locks its ledger
            # accounts until the commit, and some of them (the platform's fee and clearing
            # accounts) every settling transaction in the currency needs.
            await session.flush()
            await ledgering.apply(
                session,
                clock=clock,
                currency=book.escrow.currency,
                reference=escrow_id,
                moves=ctx.moves,
                known=ctx.accounts,
            )
    return Settled(book, first_error, tuple(results))


async def _settle_one(
    ctx: Settling, verb: Verb, op: Operation, outcome: Outcome
) -> EscrowdError | None:
    """Apply one call's outcome to its operation; the API error of a call that failed or
    whose outcome is unknown. An operation settled meanwhile (the janitor, or a concurrent
    retry) is left as it is."""
    if op.status not in OPEN_OPS:
        return None
    now = ctx.clock.now()
    op.updated_at = now
    op.attempts += 1
    if outcome.error is None:
        op.status = OpStatus.succeeded.value
        op.settled_at = now
        ctx.refresh()
        await verb.settle(ctx, op, outcome)
        return None
    op.error = _error_json(outcome.error)
    if outcome.unknown:
        op.status = OpStatus.unknown.value
    else:
        op.status = OpStatus.failed.value
        op.settled_at = now
        if verb.fail is not None:
            await verb.fail(ctx, op, outcome.error)
    return outcome.error.to_api_error()


def _money_events(book: Book, moved: set[str]) -> list[EventType]:
    e, out = book.escrow, []
    if "release" in moved:
        released = e.status == State.released
        out.append(EventType.escrow_released if released else EventType.escrow_partially_released)
    if "refund" in moved:
        emptied = e.amount_released + e.amount_refunded == e.amount
        out.append(EventType.escrow_refunded if emptied else EventType.escrow_partially_refunded)
    return out


async def run(
    container: Container, escrow_id: str, verb: Verb, ops: Sequence[Operation]
) -> Settled:
    """Steps 2 and 3 for ``verb``'s operations recorded by step 1: one call each, in order,
    then one settling transaction."""
    outcomes = [(op.key, await call(verb, provider_of(container, op), op)) for op in ops]
    return await settle(container, escrow_id, verb, outcomes)


async def settle_stale(container: Container, key: str) -> bool:
    """The janitor's work on one operation: call again with the same key and settle.

    Returns True when the operation is settled (now or before); False when its outcome is
    still unknown (the caller retries later).
    """
    async with container.db.transaction() as session:
        op = await session.get(Operation, key)
        if op is None or op.status not in OPEN_OPS:
            return True
        escrow_id = op.escrow_id
    verb = container.registries.verbs[op.kind]
    outcome = await call(verb, provider_of(container, op), op)
    await settle(container, escrow_id, verb, [(key, outcome)])
    if outcome.unknown:
        log.info("escrow_operation_still_unknown", key=key)
        return False
    return True


async def next_key(
    session: AsyncSession, escrow_id: str, kind: OpKind, allocation_id: str | None = None
) -> str:
    """``esc_…:<kind>[:<alloc_…>]:<n>``, n counting this escrow's (allocation's) operations of
    the kind from 1. Call under the escrow's lock."""
    stmt = select(func.count()).where(
        Operation.escrow_id == escrow_id, Operation.kind == kind.value
    )
    if allocation_id is not None:
        stmt = stmt.where(Operation.allocation_id == allocation_id)
    existing = int((await session.execute(stmt)).scalar_one())
    middle = f"{kind.value}:{allocation_id}" if allocation_id else kind.value
    return f"{escrow_id}:{middle}:{existing + 1}"


def amount_too_large(
    what: str, amount: int, free: int, *, currency: str, param: str
) -> InvalidRequestError:
    return InvalidRequestError(
        f"cannot {what} {Money(amount, currency)}: only {Money(free, currency)} is neither "
        "released, refunded nor being moved.",
        code="amount_too_large",
        param=param,
    )
