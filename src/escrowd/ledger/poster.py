"""Single transfers that are units of work of their own, grouped into shared transactions.

A transfer posted through :class:`Ledger` rides on its caller's transaction, so it commits with
the caller's own rows. Some transfers have no rows of their own to commit with: a transfer is
the whole unit of work. For those, :class:`TransferPoster` groups the transfers its callers post
concurrently into one batch (:meth:`Ledger.create_transfers`), in one transaction and one
commit, and answers each caller with its own result once that transaction has committed::

    poster = TransferPoster(database)
    result = await poster.post(TransferRequest(id="t1", debit_account_id=a,
                                               credit_account_id=b, amount=100, currency="usd"))

What a caller gets is what posting its request alone would give, because every guarantee the
batch keeps holds per transfer:

- each request is checked and decided on its own (members of a group are never linked to each
  other); a refusal is that caller's result and moves nothing, the others go on;
- a result is handed back only after the group's commit, so an acknowledged transfer is
  durable; if the transaction fails, every caller in the group gets the exception, and a retry
  with the same id replays or posts (ids make transfers idempotent);
- the accounts of a group are locked in id order in one statement, as for any batch;
- two callers posting the same id in one group are a replay of each other, as they would be one
  after the other (the second gets ``replayed`` or ``exists_with_different_fields``);
- a refused id is recorded as failed after the transaction, as for any batch;
- if another transaction creates one of a group's ids meanwhile (``id_in_flight``, which rolls
  the group back), each member is posted again in a transaction of its own, so only that id's
  caller sees the conflict.

A request marked ``linked`` is posted alone (it is refused: a chain needs a next member).

A group holds what was queued while the previous groups were in flight, up to ``max_group``
transfers; at most ``groups`` transactions run at once. One caller alone waits for no one: its
transfer is a group of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from escrowd.clock import Clock, SystemClock
from escrowd.db.session import Database
from escrowd.ledger.alone import post_autocommit
from escrowd.ledger.domain import LedgerError, Refusal, TransferRequest, TransferResult
from escrowd.ledger.service import Ledger, plain_batch

_Waiting = tuple[TransferRequest, asyncio.Future[TransferResult]]


class TransferPoster:
    """Posts single transfers, each its own unit of work, grouped into shared transactions."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock | None = None,
        max_group: int = 100,
        groups: int = 4,
    ) -> None:
        if max_group < 1 or groups < 1:
            raise ValueError("max_group and groups must be at least 1")
        self._database = database
        self._clock = clock
        self._max_group = max_group
        self._groups = groups
        self._queue: list[_Waiting] = []
        self._running: set[asyncio.Task[None]] = set()

    async def post(self, request: TransferRequest) -> TransferResult:
        """Post ``request`` and return its result once it is committed (refusals included).

        Raises what the transaction raised if it failed (the transfer was not acknowledged:
        retry with the same id).
        """
        if request.linked:
            return (await self._alone([request]))[0]
        future: asyncio.Future[TransferResult] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._start()
        # The group goes on if this caller is cancelled; its result is then dropped.
        return await asyncio.shield(future)

    async def post_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        """Each request posted as by :meth:`post`, concurrently; results in order."""
        return list(await asyncio.gather(*(self.post(r) for r in requests)))

    def _start(self) -> None:
        while self._queue and len(self._running) < self._groups:
            group = self._queue[: self._max_group]
            del self._queue[: self._max_group]
            task = asyncio.create_task(self._run(group))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start()

    async def _run(self, group: list[_Waiting]) -> None:
        requests = [request for request, _ in group]
        try:
            try:
                results = await self._alone(requests)
            except LedgerError as exc:
                if exc.refusal is not Refusal.id_in_flight or len(group) == 1:
                    raise
                # Another transaction created one of these ids meanwhile: the group rolled
                # back. Each member again on its own, so only that id's caller sees it.
                await asyncio.gather(*(self._run([waiting]) for waiting in group))
                return
        except asyncio.CancelledError:
            for _, future in group:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _alone(self, requests: list[TransferRequest]) -> list[TransferResult]:
        posted = await self._one_statement(requests)
        if posted is not None:
            return posted
        async with self._database.transaction() as session:
            return await Ledger(session, clock=self._clock).create_transfers(requests)

    async def _one_statement(self, requests: list[TransferRequest]) -> list[TransferResult] | None:
        """PostgreSQL: the group as one statement that is its own transaction (one round trip).

        None (nothing written) unless every transfer of the group succeeds there; the group
        then goes the general way, in a transaction, which decides refusals and replays.
        """
        if self._database.dialect != "postgresql":
            return None
        transfers = plain_batch(requests, self._now(), {})
        if transfers is None:
            return None
        posted = await post_autocommit(self._database, transfers)
        return [TransferResult(t.id, transfer=t) for t in transfers] if posted else None

    def _now(self) -> datetime:
        return (self._clock or SystemClock()).now()
