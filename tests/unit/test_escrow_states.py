"""The escrow state machine: every transition, every refusal, amounts, stale provider events."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.escrows.domain import (
    RANK,
    TABLE,
    TERMINAL,
    Action,
    AllocationStatus,
    Amounts,
    Context,
    EscrowStateError,
    State,
    allocation_status,
    allowed_actions,
    apply_event,
    is_forward,
    is_stale,
    is_terminal,
    payment_action,
    render_table,
    settled_state,
    transition,
)

S, A = State, Action
PAY = {S.requires_payment, S.requires_action}
OPEN = {S.held, S.partially_refunded, S.partially_released}

#: The table written out independently of the code: (action, from) -> to, for the actions
#: whose target is fixed. Changing the machine means changing this on purpose.
FIXED: dict[tuple[Action, State], State] = {
    **{(A.fund, s): S.held for s in PAY},
    **{(A.authorize, s): S.authorized for s in PAY},
    **{(A.require_action, s): S.requires_action for s in PAY},
    **{(A.payment_failed, s): S.requires_payment for s in PAY},
    (A.capture, S.authorized): S.held,
    **{(A.cancel, s): S.cancelled for s in {*PAY, S.authorized}},
    **{(A.expire, s): S.expired for s in {*PAY, S.authorized}},
    **{(A.dispute, s): S.disputed for s in {*OPEN, S.released}},
}
BY_AMOUNTS: dict[Action, set[State]] = {
    A.release: OPEN,
    A.refund: OPEN,
    A.reverse: {S.partially_released, S.released, S.disputed},
    A.resolve: {S.disputed},
}

#: Amounts (total 10,000) consistent with each state, and a movement valid from it.
AMOUNTS = {
    S.held: Amounts(10_000),
    S.partially_refunded: Amounts(10_000, refunded=2_000),
    S.partially_released: Amounts(10_000, released=3_000, refunded=1_000),
    S.released: Amounts(10_000, released=9_000, refunded=1_000),
    S.refunded: Amounts(10_000, refunded=10_000),
    S.disputed: Amounts(10_000, released=4_000),
}
MOVE = {A.release: "release", A.refund: "refund", A.reverse: "reverse", A.resolve: "refund"}


def ctx(state: State, action: Action, amount: int = 1_000, **kw: object) -> Context:
    amounts = AMOUNTS.get(state, Amounts(10_000))
    moves = {MOVE[action]: amount} if action in MOVE else {}
    return Context(escrow_id="esc_1", currency="usd", amounts=amounts, **moves, **kw)  # type: ignore[arg-type]


def test_the_code_table_is_exactly_the_table_written_in_this_test() -> None:
    allowed = {(r.action, s) for r in TABLE for s in r.sources}
    assert allowed == set(FIXED) | {(a, s) for a, states in BY_AMOUNTS.items() for s in states}
    assert len(TABLE) == len(Action)
    assert {r.action for r in TABLE} == set(Action)


@pytest.mark.parametrize(("action", "state"), sorted(FIXED))
def test_every_fixed_transition_leads_where_the_table_says(action: Action, state: State) -> None:
    assert transition(state, action, context=ctx(state, action)) is FIXED[(action, state)]


@pytest.mark.parametrize(
    ("action", "state"), sorted((a, s) for a, ss in BY_AMOUNTS.items() for s in ss)
)
def test_every_money_transition_leads_to_the_state_its_amounts_say(
    action: Action, state: State
) -> None:
    new = transition(state, action, context=ctx(state, action))
    expected = {
        (A.release, S.held): S.partially_released,
        (A.release, S.partially_refunded): S.partially_released,
        (A.release, S.partially_released): S.partially_released,
        (A.refund, S.held): S.partially_refunded,
        (A.refund, S.partially_refunded): S.partially_refunded,
        (A.refund, S.partially_released): S.partially_released,
        (A.reverse, S.partially_released): S.partially_released,
        (A.reverse, S.released): S.partially_released,
        (A.reverse, S.disputed): S.disputed,
        (A.resolve, S.disputed): S.partially_released,
    }
    assert new is expected[(action, state)]


def _refused() -> list[tuple[Action, State]]:
    allowed = {(r.action, s) for r in TABLE for s in r.sources}
    return [(a, s) for a in Action for s in State if (a, s) not in allowed]


@pytest.mark.parametrize(("action", "state"), _refused())
def test_every_other_pair_is_a_409_naming_the_state_and_the_allowed_actions(
    action: Action, state: State
) -> None:
    with pytest.raises(EscrowStateError) as info:
        transition(state, action, context=ctx(state, action))
    err = info.value
    assert isinstance(err, ConflictError)
    assert (err.http_status, err.code, err.type) == (
        409,
        "escrow_state_conflict",
        "invalid_request_error",
    )
    allowed = ", ".join(a.value for a in allowed_actions(state, api_only=True)) or "none"
    assert err.message.startswith(f"escrow esc_1 is {state.value}; cannot {action.value}.")
    assert f"Allowed actions: {allowed}." in err.message


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (S.released, "escrow esc_1 is released; cannot refund. Allowed actions: dispute."),
        (S.refunded, "escrow esc_1 is refunded; cannot refund. Allowed actions: none."),
        (
            S.authorized,
            "escrow esc_1 is authorized; cannot refund. Allowed actions: capture, cancel.",
        ),
        (
            S.disputed,
            "escrow esc_1 is disputed; cannot refund. Allowed actions: none. "
            "It is frozen until the dispute is resolved.",
        ),
    ],
)
def test_conflict_messages_read_as_sentences(state: State, message: str) -> None:
    with pytest.raises(EscrowStateError) as info:
        transition(state, A.refund, context=Context(escrow_id="esc_1"))
    assert info.value.message == message


def test_the_held_state_allows_release_refund_and_dispute() -> None:
    assert allowed_actions("held") == (A.release, A.refund, A.dispute)
    assert allowed_actions(S.requires_payment, api_only=True) == (A.fund, A.cancel)


def test_cancelled_expired_and_refunded_are_terminal_and_released_only_takes_clawbacks() -> None:
    assert {S.cancelled, S.expired, S.refunded} == TERMINAL
    assert all(is_terminal(s) and allowed_actions(s) == () for s in TERMINAL)
    assert allowed_actions(S.released) == (A.reverse, A.dispute)
    assert not is_terminal("released")


def test_releasing_everything_in_parts_ends_released() -> None:
    a, state = Amounts(10_000), S.held
    for part in (2_500, 2_500, 5_000):
        c = Context(amounts=a, release=part)
        state = transition(state, A.release, context=c)
        a = Amounts(a.total, a.released + part, a.refunded)
    assert (state, a.remaining) == (S.released, 0)


def test_refunding_everything_ends_refunded_and_a_mixed_close_ends_released() -> None:
    assert (
        transition(S.held, A.refund, context=Context(amounts=Amounts(100), refund=100))
        is S.refunded
    )
    mixed = Context(amounts=Amounts(100, refunded=40), release=60)
    assert transition(S.partially_refunded, A.release, context=mixed) is S.released
    rest = Context(amounts=Amounts(100, released=60), refund=40)
    assert transition(S.partially_released, A.refund, context=rest) is S.released


def test_resolving_a_dispute_applies_its_release_and_refund_together() -> None:
    c = Context(amounts=Amounts(100, released=30), release=20, refund=50)
    assert transition(S.disputed, A.resolve, context=c) is S.released
    nothing = Context(amounts=Amounts(100))
    assert transition(S.disputed, A.resolve, context=nothing) is S.held
    everything_back = Context(amounts=Amounts(100), refund=100)
    assert transition(S.disputed, A.resolve, context=everything_back) is S.refunded


def test_moving_more_than_is_left_is_refused_with_the_amounts_in_words() -> None:
    c = Context(
        escrow_id="esc_9", currency="usd", amounts=Amounts(10_000, released=9_000), refund=1_001
    )
    with pytest.raises(InvalidRequestError) as info:
        transition(S.partially_released, A.refund, context=c)
    assert (info.value.code, info.value.param, info.value.http_status) == (
        "amount_too_large",
        "amount",
        400,
    )
    assert info.value.message == (
        "cannot refund 10.01 USD: only 10.00 USD of escrow esc_9 is neither released nor refunded."
    )
    with pytest.raises(
        InvalidRequestError, match=r"only 90\.00 USD of escrow esc_9 has been released"
    ):
        transition(
            S.partially_released,
            A.reverse,
            context=Context(
                escrow_id="esc_9",
                currency="usd",
                amounts=Amounts(10_000, released=9_000),
                reverse=9_001,
            ),
        )


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_money_action_needs_a_positive_integer_amount(bad: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        transition(S.held, A.release, context=Context(amounts=Amounts(100), release=bad))  # type: ignore[arg-type]
    assert info.value.code == "amount_invalid"


def test_programming_mistakes_are_not_dressed_up_as_client_errors() -> None:
    with pytest.raises(ValueError, match=r"needs context\.amounts"):
        transition(S.held, A.release, context=Context(release=1))
    with pytest.raises(ValueError, match="cannot carry a refund amount"):
        transition(S.held, A.release, context=Context(amounts=Amounts(100), release=1, refund=1))
    with pytest.raises(ValueError, match="moves no money"):
        transition(S.authorized, A.capture, context=Context(release=1))
    with pytest.raises(ValueError, match="does not match its amounts"):
        transition(S.held, A.release, context=Context(amounts=Amounts(100, released=1), release=1))
    with pytest.raises(ValueError, match="inconsistent"):
        Amounts(100, released=60, refunded=41)
    with pytest.raises(ValueError, match="inconsistent"):
        Amounts(0)


def test_settled_state_and_allocation_status_follow_the_amounts() -> None:
    assert settled_state(Amounts(10)) is S.held
    assert settled_state(Amounts(10, refunded=1)) is S.partially_refunded
    assert settled_state(Amounts(10, released=1, refunded=1)) is S.partially_released
    assert settled_state(Amounts(10, released=1, refunded=9)) is S.released
    assert settled_state(Amounts(10, refunded=10)) is S.refunded
    assert allocation_status(Amounts(10)) is AllocationStatus.pending
    assert allocation_status(Amounts(10, released=10)) is AllocationStatus.released


def test_every_fixed_move_is_forward_except_a_failed_payment_going_back_to_requires_payment() -> (
    None
):
    backward = {(a, s) for (a, s), t in FIXED.items() if t is not s and not is_forward(s, t)}
    assert backward == {(A.payment_failed, S.requires_action)}
    assert RANK[S.requires_payment] < RANK[S.authorized] < RANK[S.held] < RANK[S.released]


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.held, A.fund),  # payment succeeded arriving after the capture
        (S.held, A.authorize),
        (S.partially_released, A.capture),
        (S.authorized, A.require_action),
        (S.authorized, A.payment_failed),
        (S.released, A.expire),
        (S.expired, A.authorize),  # authorized after the payment window closed: void it
        (S.cancelled, A.capture),
    ],
)
def test_stale_provider_events_are_ignored(state: State, action: Action) -> None:
    assert is_stale(state, action)
    assert apply_event(state, action) is None


def test_a_repeated_chargeback_event_on_a_disputed_escrow_is_stale() -> None:
    assert apply_event(S.disputed, A.dispute) is None
    assert apply_event(S.released, A.dispute) is S.disputed


def test_an_event_no_ordering_explains_is_still_a_conflict() -> None:
    assert not is_stale(S.cancelled, A.dispute)
    with pytest.raises(EscrowStateError):
        apply_event(S.cancelled, A.dispute)
    with pytest.raises(EscrowStateError):
        apply_event(S.requires_payment, A.capture)


def test_a_captured_payment_is_fund_before_authorization_and_capture_after() -> None:
    assert payment_action("captured", S.requires_action) is A.fund
    assert payment_action("captured", S.authorized) is A.capture
    assert payment_action("authorized", S.requires_payment) is A.authorize
    assert payment_action("failed", S.requires_action) is A.payment_failed


#: Provider outcomes in the order they happened; each sequence leaves the payment phase.
HISTORIES = [
    ["requires_action", "authorized", "captured"],
    ["failed", "requires_action", "failed", "requires_action", "captured"],
    ["requires_action", "authorized", "expired"],
    ["failed", "expired"],
    ["authorized", "captured"],
    ["requires_action", "failed", "authorized"],
]


def deliver(events: list[str]) -> State:
    state = S.requires_payment
    for event in events:
        action = A.expire if event == "expired" else payment_action(event, state)  # type: ignore[arg-type]
        state = apply_event(state, action) or state
    return state


@settings(max_examples=300, deadline=None)
@given(
    history=st.sampled_from(HISTORIES),
    copies=st.lists(st.integers(1, 5), min_size=5, max_size=5),
    seed=st.integers(),
)
def test_provider_events_delivered_1_to_5_times_in_any_order_end_in_the_in_order_state(
    history: list[str], copies: list[int], seed: int
) -> None:
    shuffled = [e for e, n in zip(history, copies, strict=False) for _ in range(n)]
    random.Random(seed).shuffle(shuffled)
    assert deliver(shuffled) is deliver(history)


def test_docs_show_the_table_as_the_code_has_it() -> None:
    docs = Path(__file__).parents[2] / "docs" / "escrows.md"
    assert render_table() in docs.read_text()


def test_the_domain_imports_no_infrastructure() -> None:
    code = (
        "import sys, escrowd.escrows.domain; "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'httpx', 'stripe') if m in sys.modules))"
    )
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)  # noqa: S603
    assert out.stdout.strip() == "[]"
