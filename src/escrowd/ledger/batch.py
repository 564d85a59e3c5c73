"""Evaluate a batch of transfer requests against locked ledger state, in memory.

Pure: the service reads and locks the rows a batch touches into a :class:`Snapshot`, calls
:func:`evaluate`, and writes the :class:`Outcome` back. Keeping the decisions here means every
refusal is decided before anything is written, so a refused transfer leaves the caller's
transaction clean, and the rules can be tested without a database.

Requests are applied in order. Transfers not linked to each other succeed or fail on their
own; a chain (``linked=True`` on every member but the last) is undone as a whole when one member
fails: that member keeps its own refusal, the others get ``linked_event_failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from escrowd.ledger.domain import (
    AccountState,
    Entry,
    FailedTransfer,
    LedgerError,
    PendingState,
    Refusal,
    Side,
    Transfer,
    TransferKind,
    TransferRequest,
    TransferResult,
    limit_breach,
)
from escrowd.ledger.validation import refusal, validate


@dataclass(slots=True)
class Snapshot:
    """What the service read for a batch: locked accounts, stored transfers, failed ids."""

    accounts: dict[str, AccountState]
    #: Stored transfers whose id is in the batch or is a batch member's ``pending_id``.
    transfers: dict[str, Transfer]
    failed: dict[str, FailedTransfer]


@dataclass(slots=True)
class Outcome:
    results: list[TransferResult]
    #: New transfers to insert, in the order they were created.
    transfers: list[Transfer]
    entries: list[Entry]
    #: Final figures of every account the batch moved.
    accounts: dict[str, AccountState]
    #: New state of stored pending transfers the batch posted or voided.
    pending_states: dict[str, PendingState]
    #: Ids that failed in a way that is recorded (a failed id stays failed).
    failures: list[FailedTransfer]


@dataclass(slots=True)
class _Work:
    """Mutable state while a batch is applied, with an undo journal for linked chains."""

    snapshot: Snapshot
    now: datetime
    accounts: dict[str, AccountState] = field(default_factory=dict)
    created: dict[str, Transfer] = field(default_factory=dict)
    pending_states: dict[str, PendingState] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    failed: dict[str, FailedTransfer] = field(default_factory=dict)
    journal: list[tuple[str, str, object]] = field(default_factory=list)

    def account(self, account_id: str) -> AccountState | None:
        return self.accounts.get(account_id) or self.snapshot.accounts.get(account_id)

    def transfer(self, transfer_id: str) -> Transfer | None:
        found = self.created.get(transfer_id) or self.snapshot.transfers.get(transfer_id)
        if found is not None and transfer_id in self.pending_states:
            found = replace(found, state=self.pending_states[transfer_id])
        return found

    def set_account(self, state: AccountState) -> None:
        self.journal.append(("account", state.id, self.accounts.get(state.id)))
        self.accounts[state.id] = state

    def set_created(self, transfer: Transfer) -> None:
        self.journal.append(("created", transfer.id, self.created.get(transfer.id)))
        self.created[transfer.id] = transfer

    def set_pending_state(self, transfer_id: str, state: PendingState) -> None:
        if transfer_id in self.created:
            self.set_created(replace(self.created[transfer_id], state=state))
            return
        self.journal.append(("pending", transfer_id, self.pending_states.get(transfer_id)))
        self.pending_states[transfer_id] = state

    def undo_to(self, mark: int, entries_mark: int) -> None:
        stores: dict[str, dict[str, object]] = {
            "account": self.accounts,  # type: ignore[dict-item]
            "created": self.created,  # type: ignore[dict-item]
            "pending": self.pending_states,  # type: ignore[dict-item]
        }
        while len(self.journal) > mark:
            store_name, key, old = self.journal.pop()
            store = stores[store_name]
            if old is None:
                store.pop(key, None)
            else:
                store[key] = old
        del self.entries[entries_mark:]


def _settles(work: _Work, req: TransferRequest) -> Transfer | LedgerError:
    """The hold a post or void settles, if the request may settle it."""
    assert req.pending_id is not None
    pending = work.transfer(req.pending_id)
    if pending is None:
        return refusal(
            Refusal.pending_transfer_not_found,
            f"pending transfer {req.pending_id} does not exist.",
            req,
            "pending_id",
        )
    if pending.kind is not TransferKind.pending:
        return refusal(
            Refusal.pending_transfer_not_pending,
            f"transfer {pending.id} is a {pending.kind} transfer, not a pending one.",
            req,
            "pending_id",
        )
    if pending.state is not PendingState.pending:
        code = (
            Refusal.pending_transfer_already_posted
            if pending.state is PendingState.posted
            else Refusal.pending_transfer_already_voided
        )
        return refusal(
            code, f"pending transfer {pending.id} was already {pending.state}.", req, "pending_id"
        )
    if (req.debit_account_id not in (None, pending.debit_account_id)) or (
        req.credit_account_id not in (None, pending.credit_account_id)
    ):
        return refusal(
            Refusal.pending_transfer_has_different_accounts,
            f"pending transfer {pending.id} moves {pending.debit_account_id} → "
            f"{pending.credit_account_id}, not the accounts given.",
            req,
        )
    if req.currency is not None and req.currency != pending.currency:
        return refusal(
            Refusal.currency_mismatch,
            f"pending transfer {pending.id} is in {pending.currency}, not {req.currency}.",
            req,
            "currency",
        )
    if req.kind is TransferKind.void_pending and req.amount not in (None, pending.amount):
        return refusal(
            Refusal.pending_transfer_has_different_amount,
            f"a void releases the whole hold of {pending.amount}; give that amount or none.",
            req,
            "amount",
        )
    if req.amount is not None and req.amount > pending.amount:
        return refusal(
            Refusal.post_amount_exceeds_pending,
            f"cannot post {req.amount} of pending transfer {pending.id}: it holds "
            f"{pending.amount}.",
            req,
            "amount",
        )
    return pending


def _apply(
    work: _Work, req: TransferRequest, digest: str, batch_id: str | None
) -> Transfer | LedgerError:
    kind = req.kind  # validated: a TransferKind
    pending: Transfer | None = None
    if kind is TransferKind.post_pending or kind is TransferKind.void_pending:
        settled = _settles(work, req)
        if isinstance(settled, LedgerError):
            return settled
        pending = settled
        debit_id, credit_id = pending.debit_account_id, pending.credit_account_id
        currency = pending.currency
        amount = pending.amount if req.amount is None else req.amount
    else:
        assert req.debit_account_id is not None
        assert req.credit_account_id is not None
        assert req.amount is not None
        assert req.currency is not None
        debit_id, credit_id = req.debit_account_id, req.credit_account_id
        currency, amount = req.currency, req.amount

    debit = work.account(debit_id)
    if debit is None:
        return refusal(
            Refusal.debit_account_not_found,
            f"debit account {debit_id} does not exist.",
            req,
            "debit_account_id",
        )
    credit = work.account(credit_id)
    if credit is None:
        return refusal(
            Refusal.credit_account_not_found,
            f"credit account {credit_id} does not exist.",
            req,
            "credit_account_id",
        )
    for acct in (debit, credit):
        if acct.currency != currency:
            return refusal(
                Refusal.currency_mismatch,
                f"account {acct.id} is in {acct.currency}; the transfer is in {currency}.",
                req,
                "currency",
            )

    if kind is TransferKind.posted:
        posted, held = amount, 0
    elif kind is TransferKind.pending:
        posted, held = 0, amount
    else:
        assert pending is not None
        posted = amount if kind is TransferKind.post_pending else 0
        held = -pending.amount
    new_debit = debit.moved(Side.debit, posted, held)
    new_credit = credit.moved(Side.credit, posted, held)
    for acct in (new_debit, new_credit):
        breach = limit_breach(acct)
        if breach is not None:
            b = acct.balances
            return refusal(
                breach,
                f"transfer {req.id} of {amount} {currency} would take account {acct.id} past its "
                f"limit (debits {b.debits_posted} posted + {b.debits_pending} pending, credits "
                f"{b.credits_posted} posted + {b.credits_pending} pending).",
                req,
                "amount",
            )

    transfer = Transfer(
        id=req.id,
        kind=kind,
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount=amount,
        currency=currency,
        pending_id=req.pending_id,
        state=PendingState.pending if kind is TransferKind.pending else None,
        reference=req.reference,
        category=req.category,
        batch_id=batch_id,
        effective_at=req.effective_at or work.now,
        created_at=work.now,
        payload_hash=digest,
    )
    work.set_account(new_debit)
    work.set_account(new_credit)
    if pending is not None:
        work.set_pending_state(
            pending.id,
            PendingState.posted if kind is TransferKind.post_pending else PendingState.voided,
        )
    work.set_created(transfer)
    for side, old, new in ((Side.debit, debit, new_debit), (Side.credit, credit, new_credit)):
        work.entries.append(
            Entry(
                transfer_id=req.id,
                account_id=new.id,
                side=side,
                amount=amount,
                posted_before=old.balances.net_posted,
                posted_after=new.balances.net_posted,
                pending_before=old.balances.net_pending,
                pending_after=new.balances.net_pending,
                version_after=new.version,
            )
        )
    return transfer


def _one(work: _Work, req: TransferRequest, batch_id: str | None) -> TransferResult:
    checked = validate(req)
    if isinstance(checked, LedgerError):
        return TransferResult(req.id, error=checked)
    digest = checked.payload_hash()
    existing = work.transfer(checked.id)
    if existing is not None:
        if existing.payload_hash == digest:
            return TransferResult(checked.id, transfer=existing, replayed=True)
        return TransferResult(
            checked.id,
            error=refusal(
                Refusal.exists_with_different_fields,
                f"transfer {checked.id} already exists with different fields; use a new id for "
                "a new transfer.",
                checked,
                "id",
            ),
        )
    failed = work.failed.get(checked.id) or work.snapshot.failed.get(checked.id)
    if failed is not None:
        return TransferResult(
            checked.id,
            error=LedgerError(
                Refusal.id_already_failed,
                f"transfer {checked.id} failed with {failed.code}; a failed id stays failed, "
                "use a new id.",
                transfer_id=checked.id,
                original_code=failed.code,
                param="id",
            ),
        )
    outcome = _apply(work, checked, digest, batch_id)
    if isinstance(outcome, LedgerError):
        if outcome.recorded:
            work.failed[checked.id] = FailedTransfer(checked.id, digest, outcome.refusal)
        return TransferResult(checked.id, error=outcome)
    return TransferResult(checked.id, transfer=outcome)


def _chains(requests: list[TransferRequest]) -> list[tuple[int, int]]:
    """[start, end) index ranges: a chain runs until a member without ``linked``."""
    chains: list[tuple[int, int]] = []
    start = 0
    for i, req in enumerate(requests):
        if not req.linked:
            chains.append((start, i + 1))
            start = i + 1
    if start < len(requests):
        chains.append((start, len(requests)))
    return chains


def _linked_failed(req: TransferRequest, cause: TransferResult) -> TransferResult:
    return TransferResult(
        req.id,
        error=refusal(
            Refusal.linked_event_failed,
            f"transfer {req.id} was not applied: transfer {cause.id} in the same linked chain "
            f"failed with {cause.code}.",
            req,
        ),
    )


def evaluate(requests: list[TransferRequest], snapshot: Snapshot, now: datetime) -> Outcome:
    work = _Work(snapshot, now)
    results: list[TransferResult] = []
    for start, end in _chains(requests):
        chain = requests[start:end]
        if chain[-1].linked:
            for req in chain:
                results.append(
                    TransferResult(
                        req.id,
                        error=refusal(
                            Refusal.linked_event_chain_open,
                            "the last transfer of a batch cannot be linked to a next one.",
                            req,
                        ),
                    )
                )
            continue
        batch_id = chain[0].id if len(chain) > 1 and isinstance(chain[0].id, str) else None
        mark, entries_mark = len(work.journal), len(work.entries)
        chain_results: list[TransferResult] = []
        for req in chain:
            result = _one(work, req, batch_id)
            chain_results.append(result)
            if not result.ok:
                break
        failed_at = len(chain_results) - 1
        if len(chain) > 1 and not chain_results[failed_at].ok:
            work.undo_to(mark, entries_mark)
            failure = chain_results[failed_at]
            chain_results = [
                failure if i == failed_at else _linked_failed(req, failure)
                for i, req in enumerate(chain)
            ]
        results.extend(chain_results)
    return Outcome(
        results=results,
        transfers=list(work.created.values()),
        entries=work.entries,
        accounts=work.accounts,
        pending_states=work.pending_states,
        failures=list(work.failed.values()),
    )
