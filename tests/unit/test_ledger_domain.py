"""The ledger's pure rules, without a database: balances, flags, validation, batch decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from escrowd.ledger.batch import Snapshot, evaluate
from escrowd.ledger.domain import (
    MAX_BALANCE,
    AccountFlags,
    AccountState,
    Balances,
    FailedTransfer,
    LedgerError,
    PendingState,
    Refusal,
    Side,
    TransferKind,
    TransferRequest,
    check_account_code,
    check_flags,
    limit_breach,
)
from escrowd.ledger.validation import validate
from escrowd.money import MAX_AMOUNT

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MUST_NOT_GO_NEGATIVE = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS


def account(
    account_id: str, flags: AccountFlags = AccountFlags.NONE, currency: str = "usd", **figures: int
) -> AccountState:
    return AccountState(account_id, currency, flags, Balances(**figures), version=0)


def posted(tid: str, debit: str, credit: str, amount: int, **kw: object) -> TransferRequest:
    return TransferRequest(
        id=tid,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency="usd",
        **kw,  # type: ignore[arg-type]
    )


def hold(tid: str, debit: str, credit: str, amount: int, **kw: object) -> TransferRequest:
    return posted(tid, debit, credit, amount, kind=TransferKind.pending, **kw)


def settle(tid: str, pending_id: str, kind: TransferKind, **kw: object) -> TransferRequest:
    return TransferRequest(id=tid, kind=kind, pending_id=pending_id, **kw)  # type: ignore[arg-type]


def run(requests: list[TransferRequest], *accounts: AccountState, **snap: object):  # type: ignore[no-untyped-def]
    snapshot = Snapshot(
        accounts={a.id: a for a in accounts},
        transfers=dict(snap.get("transfers", {})),  # type: ignore[call-overload]
        failed=dict(snap.get("failed", {})),  # type: ignore[call-overload]
    )
    return evaluate(requests, snapshot, NOW)


# -- balances and flags -----------------------------------------------------------------------


def test_balances_move_one_side_and_report_net_figures() -> None:
    b = (
        Balances()
        .moved(Side.credit, posted=100, pending=0)
        .moved(Side.debit, posted=30, pending=20)
    )
    assert b == Balances(debits_pending=20, debits_posted=30, credits_pending=0, credits_posted=100)
    assert (b.net_posted, b.net_pending, b.available) == (70, -20, 50)


def test_a_pending_debit_counts_against_a_no_negative_account() -> None:
    funded = account("a", MUST_NOT_GO_NEGATIVE, credits_posted=100)
    assert limit_breach(funded) is None
    held = replace(funded, balances=funded.balances.moved(Side.debit, 0, 60))
    assert limit_breach(held) is None
    over = replace(held, balances=held.balances.moved(Side.debit, 41, 0))
    assert limit_breach(over) is Refusal.exceeds_credits


def test_credits_limit_and_overflow() -> None:
    debit_normal = account("a", AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS, credits_pending=1)
    assert limit_breach(debit_normal) is Refusal.exceeds_debits
    assert limit_breach(account("b", credits_posted=MAX_BALANCE + 1)) is Refusal.overflows_balance
    assert limit_breach(account("c", credits_posted=MAX_BALANCE)) is None


@pytest.mark.parametrize("flags", [3, -1, 8, True, "1"])
def test_flags_limit_debits_or_credits_not_both(flags: object) -> None:
    with pytest.raises(LedgerError) as info:
        check_flags(flags)  # type: ignore[arg-type]
    assert info.value.code == "account_flags_invalid"
    assert check_flags(1) is MUST_NOT_GO_NEGATIVE


@pytest.mark.parametrize("code", ["", "x" * 201, "tab\tcode", 5])
def test_account_codes_are_short_printable_text(code: object) -> None:
    with pytest.raises(LedgerError) as info:
        check_account_code(code)  # type: ignore[arg-type]
    assert info.value.code == "account_code_invalid"
    assert info.value.http_status == 400


def test_refusals_carry_the_http_status_that_fits() -> None:
    assert LedgerError(Refusal.exceeds_credits, "m").http_status == 409
    assert LedgerError(Refusal.pending_transfer_not_found, "m").http_status == 404
    assert LedgerError(Refusal.accounts_must_differ, "m").http_status == 400
    error = LedgerError(Refusal.exceeds_credits, "m")
    assert error.to_dict()["error"]["code"] == "exceeds_credits"
    assert error.to_dict()["error"]["type"] == "invalid_request_error"


# -- validating one request -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (posted("", "a", "b", 1), Refusal.id_invalid),
        (posted("x" * 129, "a", "b", 1), Refusal.id_invalid),
        (posted("has space", "a", "b", 1), Refusal.id_invalid),
        (posted("t", "a", "b", 1, kind="sideways"), Refusal.kind_invalid),
        (posted("t", "a", "a", 1), Refusal.accounts_must_differ),
        (
            TransferRequest(id="t", debit_account_id="a", amount=1, currency="usd"),
            Refusal.accounts_required,
        ),
        (
            TransferRequest(id="t", debit_account_id="a", credit_account_id="b", currency="usd"),
            Refusal.amount_required,
        ),
        (
            TransferRequest(id="t", debit_account_id="a", credit_account_id="b", amount=1),
            Refusal.currency_required,
        ),
        (posted("t", "a", "b", 0), Refusal.amount_invalid),
        (posted("t", "a", "b", -5), Refusal.amount_invalid),
        (posted("t", "a", "b", 1.5), Refusal.amount_invalid),  # type: ignore[arg-type]
        (posted("t", "a", "b", True), Refusal.amount_invalid),
        (posted("t", "a", "b", MAX_AMOUNT + 1), Refusal.amount_too_large),
        (replace(posted("t", "a", "b", 1), currency="xyz"), Refusal.currency_invalid),
        (posted("t", "a", "b", 1, reference="r" * 129), Refusal.field_too_long),
        (posted("t", "a", "b", 1, category="c" * 33), Refusal.field_too_long),
        (posted("t", "a", "b", 1, pending_id="h"), Refusal.pending_id_not_allowed),
        (TransferRequest(id="t", kind=TransferKind.post_pending), Refusal.pending_id_required),
        (settle("t", "t", TransferKind.void_pending), Refusal.pending_id_must_differ),
    ],
)
def test_malformed_requests_are_refused_with_a_stable_code(
    request_: TransferRequest, code: Refusal
) -> None:
    result = validate(request_)
    assert isinstance(result, LedgerError)
    assert result.refusal is code
    assert not result.recorded


def test_validation_normalizes_kind_and_currency() -> None:
    checked = validate(replace(posted("t", "a", "b", 1, kind="pending"), currency="USD"))
    assert not isinstance(checked, LedgerError)
    assert (checked.kind, checked.currency) == (TransferKind.pending, "usd")


def test_payload_hash_ignores_id_link_and_currency_case_but_not_amounts() -> None:
    base = posted("t", "a", "b", 100)
    assert base.payload_hash() == replace(base, id="other", linked=True).payload_hash()
    assert base.payload_hash() == validate(replace(base, currency="USD")).payload_hash()  # type: ignore[union-attr]
    assert base.payload_hash() != replace(base, amount=101).payload_hash()
    assert base.payload_hash() != replace(base, reference="esc_1").payload_hash()


# -- deciding a batch -------------------------------------------------------------------------


def test_a_posted_transfer_moves_both_accounts_and_writes_two_entries() -> None:
    out = run([posted("t1", "a", "b", 100)], account("a"), account("b"))
    (result,) = out.results
    assert result.ok
    assert not result.replayed
    assert out.accounts["a"].balances.debits_posted == 100
    assert out.accounts["b"].balances.credits_posted == 100
    debit, credit = out.entries
    assert (debit.side, debit.posted_before, debit.posted_after, debit.version_after) == (
        Side.debit,
        0,
        -100,
        1,
    )
    assert (credit.side, credit.posted_before, credit.posted_after) == (Side.credit, 0, 100)


def test_partial_post_releases_the_rest_of_the_hold() -> None:
    out = run(
        [hold("h", "payee", "out", 100), settle("p", "h", TransferKind.post_pending, amount=60)],
        account("payee", MUST_NOT_GO_NEGATIVE, credits_posted=100),
        account("out"),
    )
    assert all(r.ok for r in out.results)
    payee = out.accounts["payee"].balances
    assert (payee.debits_pending, payee.debits_posted, payee.available) == (0, 60, 40)
    assert out.transfers[0].state is PendingState.posted  # created and posted in one batch
    post_debit = out.entries[2]
    assert (post_debit.pending_before, post_debit.pending_after) == (-100, 0)
    assert (post_debit.posted_before, post_debit.posted_after) == (100, 40)


def test_void_releases_the_whole_hold_and_records_its_amount() -> None:
    out = run(
        [hold("h", "a", "b", 70), settle("v", "h", TransferKind.void_pending)],
        account("a"),
        account("b"),
    )
    assert out.transfers[1].amount == 70
    assert out.accounts["a"].balances == Balances()
    assert out.accounts["a"].version == 2


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (PendingState.posted, Refusal.pending_transfer_already_posted),
        (PendingState.voided, Refusal.pending_transfer_already_voided),
    ],
)
def test_a_hold_settles_once(state: PendingState, code: Refusal) -> None:
    first = run([hold("h", "a", "b", 10)], account("a"), account("b")).transfers[0]
    out = run(
        [settle("p", "h", TransferKind.post_pending)],
        account("a"),
        account("b"),
        transfers={"h": replace(first, state=state)},
    )
    assert out.results[0].code is code
    assert [f.code for f in out.failures] == [code]


def test_settle_checks_against_the_hold() -> None:
    stored = run([hold("h", "a", "b", 10)], account("a"), account("b")).transfers[0]
    snap = {
        "transfers": {
            "h": stored,
            "t": replace(stored, id="t", kind=TransferKind.posted, state=None),
        }
    }
    accounts = (account("a"), account("b"), account("c"))
    cases = [
        (
            settle("p", "h", TransferKind.post_pending, amount=11),
            Refusal.post_amount_exceeds_pending,
        ),
        (
            settle("p", "h", TransferKind.post_pending, credit_account_id="c"),
            Refusal.pending_transfer_has_different_accounts,
        ),
        (settle("p", "h", TransferKind.post_pending, currency="eur"), Refusal.currency_mismatch),
        (settle("p", "nope", TransferKind.void_pending), Refusal.pending_transfer_not_found),
        (
            settle("p", "h", TransferKind.void_pending, amount=5),
            Refusal.pending_transfer_has_different_amount,
        ),
        (settle("p", "t", TransferKind.void_pending), Refusal.pending_transfer_not_pending),
    ]
    for request_, code in cases:
        assert run([request_], *accounts, **snap).results[0].code is code


def test_state_refusals_name_the_account() -> None:
    out = run([posted("t", "a", "b", 1)], account("a", MUST_NOT_GO_NEGATIVE), account("b"))
    error = out.results[0].error
    assert error is not None
    assert error.refusal is Refusal.exceeds_credits
    assert "account a" in error.message
    assert error.recorded
    assert out.transfers == []
    assert out.entries == []
    assert out.accounts == {}
    assert run([posted("t", "x", "b", 1)], account("b")).results[0].code is (
        Refusal.debit_account_not_found
    )
    assert run([posted("t", "a", "x", 1)], account("a")).results[0].code is (
        Refusal.credit_account_not_found
    )
    eur = account("b", currency="eur")
    assert run([posted("t", "a", "b", 1)], account("a"), eur).results[0].code is (
        Refusal.currency_mismatch
    )


def test_replays_return_the_first_result_and_other_payloads_are_refused() -> None:
    first = run([posted("t", "a", "b", 5)], account("a"), account("b")).transfers[0]
    out = run(
        [posted("t", "a", "b", 5), posted("t", "a", "b", 6)],
        account("a"),
        account("b"),
        transfers={"t": first},
    )
    same, other = out.results
    assert same.ok
    assert same.replayed
    assert same.transfer == first
    assert other.code is Refusal.exists_with_different_fields
    assert out.transfers == []
    assert out.failures == []


def test_a_failed_id_stays_failed_with_its_original_code() -> None:
    failed = FailedTransfer("t", posted("t", "a", "b", 5).payload_hash(), Refusal.exceeds_credits)
    out = run([posted("t", "a", "b", 1)], account("a"), account("b"), failed={"t": failed})
    error = out.results[0].error
    assert error is not None
    assert error.refusal is Refusal.id_already_failed
    assert error.original_code is Refusal.exceeds_credits
    # The same id twice in one batch: the second sees the first's failure.
    out = run([posted("u", "a", "b", 1)] * 2, account("a", MUST_NOT_GO_NEGATIVE), account("b"))
    assert [r.code for r in out.results] == [Refusal.exceeds_credits, Refusal.id_already_failed]
    assert len(out.failures) == 1


def test_a_linked_chain_is_all_or_nothing() -> None:
    escrow = account("esc", MUST_NOT_GO_NEGATIVE, credits_posted=100)
    out = run(
        [
            posted("fee", "esc", "fees", 15, linked=True),
            posted("pay", "esc", "payee", 85, linked=True),
            posted("extra", "esc", "payee", 1),  # one cent too many: the chain fails
            posted("alone", "fees", "payee", 3),  # not linked to the chain: still applied
        ],
        escrow,
        account("fees"),
        account("payee"),
    )
    assert [r.code for r in out.results] == [
        Refusal.linked_event_failed,
        Refusal.linked_event_failed,
        Refusal.exceeds_credits,
        None,
    ]
    assert [t.id for t in out.transfers] == ["alone"]
    assert "esc" not in out.accounts
    assert out.accounts["payee"].balances.credits_posted == 3
    assert [e.transfer_id for e in out.entries] == ["alone", "alone"]
    assert [f.id for f in out.failures] == ["extra"]


def test_a_chain_left_open_at_the_end_of_the_batch_fails() -> None:
    out = run(
        [posted("a1", "a", "b", 1), posted("a2", "a", "b", 1, linked=True)],
        account("a"),
        account("b"),
    )
    assert [r.code for r in out.results] == [None, Refusal.linked_event_chain_open]


def test_chain_members_share_a_batch_id_and_versions_count_up() -> None:
    out = run(
        [posted("c1", "a", "b", 1, linked=True), posted("c2", "a", "b", 2)],
        account("a"),
        account("b"),
    )
    assert {t.batch_id for t in out.transfers} == {"c1"}
    assert [e.version_after for e in out.entries if e.account_id == "a"] == [1, 2]
    assert out.accounts["a"].version == 2


def test_result_unwrap_raises_the_refusal() -> None:
    out = run([posted("t", "a", "b", 1)], account("a"))
    with pytest.raises(LedgerError) as info:
        out.results[0].unwrap()
    assert info.value.code == "credit_account_not_found"
