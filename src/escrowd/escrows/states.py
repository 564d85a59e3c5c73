"""The escrow state machine: one table, one ``transition`` function, no infrastructure.

Every state change of an escrow goes through :func:`transition`. A row of :data:`TABLE` says
which states an action is allowed from and where it leads; for the actions that move money
(``release``, ``refund``, ``reverse``, ``resolve``) the target depends on the amounts after the
movement (:func:`settled_state`): an escrow with money still in it stays ``held`` /
``partially_refunded`` / ``partially_released``; an empty one is ``released`` (some money went to
payees) or ``refunded`` (all of it went back to the payer).

An action that the table does not allow raises :class:`EscrowStateError` (HTTP 409,
``escrow_state_conflict``) whose message names the current state and the actions allowed in it.

Provider events arrive late, twice, or out of order. :func:`apply_event` applies an event's
action when the table allows it and returns ``None`` when the escrow has already moved past
every state the action applies to (a stale event: ``payment_intent.succeeded`` arriving after
the capture), so handlers never move state backwards. :data:`RANK` and :func:`is_forward`
expose the progress order behind that rule.

Only the standard library and ``escrowd.errors`` / ``escrowd.money`` are imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.money import Money, check_amount


class State(StrEnum):
    requires_payment = "requires_payment"
    requires_action = "requires_action"
    authorized = "authorized"
    held = "held"
    partially_refunded = "partially_refunded"
    partially_released = "partially_released"
    disputed = "disputed"
    released = "released"
    refunded = "refunded"
    cancelled = "cancelled"
    expired = "expired"


class Action(StrEnum):
    require_action = "require_action"
    payment_failed = "payment_failed"
    authorize = "authorize"
    fund = "fund"
    capture = "capture"
    release = "release"
    refund = "refund"
    reverse = "reverse"
    cancel = "cancel"
    expire = "expire"
    dispute = "dispute"
    resolve = "resolve"


#: Marks a row whose target is computed from the amounts after the movement.
BY_AMOUNTS: Final = "by_amounts"


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    sources: frozenset[State]
    #: A state, or :data:`BY_AMOUNTS`.
    target: State | str
    #: Who triggers it: a client through the API, the provider (a webhook or a call's
    #: result), the scheduler (a sweep), or an admin. Only API actions are named in a
    #: conflict's message.
    via: tuple[str, ...]
    meaning: str

    @property
    def api(self) -> bool:
        return "api" in self.via


def _rule(action: str, sources: str, target: str, via: str, meaning: str) -> Rule:
    return Rule(
        Action(action),
        frozenset(State(s) for s in sources.split()),
        target if target == BY_AMOUNTS else State(target),
        tuple(via.split()),
        meaning,
    )


_PAY = "requires_payment requires_action"
_OPEN = "held partially_refunded partially_released"

#: THE transition table. Its order is the order actions are listed in messages and docs.
# fmt: off
TABLE: Final[tuple[Rule, ...]] = (
    _rule("fund",           _PAY,                 "held",              "api provider",
          "payment succeeded and was captured at once (capture mode `capture`)"),
    _rule("authorize",      _PAY,                 "authorized",        "provider",
          "payment authorized, to be captured later (capture mode `authorize`)"),
    _rule("require_action", _PAY,                 "requires_action",   "provider",
          "the payment needs the payer (3-D Secure)"),
    _rule("payment_failed", _PAY,                 "requires_payment",  "provider",
          "declined, or 3-D Secure failed; the payer may try again"),
    _rule("capture",        "authorized",         "held",              "api scheduler provider",
          "capture the authorization (by hand, or before `capture_before`)"),
    _rule("release",        _OPEN,                BY_AMOUNTS,          "api scheduler",
          "pay allocations to payees, fully or partly (also when an inspection period lapses)"),
    _rule("refund",         _OPEN,                BY_AMOUNTS,          "api",
          "give back money not yet released, fully or partly"),
    _rule("reverse",        "partially_released released disputed", BY_AMOUNTS, "provider admin",
          "a transfer to a payee was reversed: its money is back in the escrow"),
    _rule("cancel",         f"{_PAY} authorized", "cancelled",         "api",
          "called off before money moved (an authorization is voided)"),
    _rule("expire",         f"{_PAY} authorized", "expired",           "scheduler provider",
          "the payment window or the authorization's validity ran out"),
    _rule("dispute",        f"{_OPEN} released",  "disputed",          "api provider",
          "a party or the card holder disputes; the escrow is frozen"),
    _rule("resolve",        "disputed",           BY_AMOUNTS,          "admin provider",
          "the dispute is decided; its release and refund are applied"),
)
# fmt: on

RULES: Final[Mapping[Action, Rule]] = {rule.action: rule for rule in TABLE}

#: Progress order, for telling stale provider events from real ones. The four closing states
#: share a rank; ``disputed`` is above them (a chargeback can follow a release, and a repeated
#: dispute event is then stale). The table's only legal moves to a lower rank are
#: ``payment_failed`` (requires_action → requires_payment), ``reverse`` and ``resolve``.
RANK: Final[Mapping[State, int]] = {
    State.requires_payment: 0,
    State.requires_action: 1,
    State.authorized: 2,
    State.held: 3,
    State.partially_refunded: 4,
    State.partially_released: 5,
    State.released: 6,
    State.refunded: 6,
    State.cancelled: 6,
    State.expired: 6,
    State.disputed: 7,
}

#: States no action leaves.
TERMINAL: Final = frozenset(s for s in State if not any(s in r.sources for r in TABLE))


@dataclass(frozen=True, slots=True)
class Amounts:
    """An escrow's captured money: ``total`` = released + refunded + remaining.

    ``released`` is net of reversals (a reversed transfer's money is back in ``remaining``).
    """

    total: int
    released: int = 0
    refunded: int = 0

    def __post_init__(self) -> None:
        for value in (self.total, self.released, self.refunded):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"amounts must be non-negative integers: {self!r}")
        if self.total == 0 or self.released + self.refunded > self.total:
            raise ValueError(f"inconsistent escrow amounts: {self!r}")

    @property
    def remaining(self) -> int:
        return self.total - self.released - self.refunded


@dataclass(frozen=True, slots=True)
class Context:
    """What a transition needs besides the state: the escrow (for messages) and the money."""

    escrow_id: str | None = None
    currency: str | None = None
    #: The amounts *before* the action: needed by the money-moving actions; when given in a
    #: state the amounts determine, checked against it.
    amounts: Amounts | None = None
    #: This action's movements, in minor units (``resolve`` may carry both release and refund).
    release: int = 0
    refund: int = 0
    reverse: int = 0


class EscrowStateError(ConflictError):
    """409: the action is not allowed in the escrow's current state."""

    default_code = "escrow_state_conflict"

    def __init__(self, *, escrow_id: str | None, state: State, action: Action) -> None:
        self.state = state
        self.action = action
        self.allowed = allowed_actions(state, api_only=True)
        names = ", ".join(a.value for a in self.allowed) or "none"
        who = f"escrow {escrow_id}" if escrow_id else "the escrow"
        hint = " It is frozen until the dispute is resolved." if state is State.disputed else ""
        super().__init__(
            f"{who} is {state.value}; cannot {action.value}. Allowed actions: {names}.{hint}"
        )


def allowed_actions(state: State | str, *, api_only: bool = False) -> tuple[Action, ...]:
    """Actions the table allows from ``state``, in table order."""
    s = State(state)
    return tuple(r.action for r in TABLE if s in r.sources and (r.api or not api_only))


def is_terminal(state: State | str) -> bool:
    return State(state) in TERMINAL


def is_forward(old: State | str, new: State | str) -> bool:
    """True when ``new`` is strictly further along than ``old``."""
    return RANK[State(new)] > RANK[State(old)]


def settled_state(amounts: Amounts) -> State:
    """The state of a captured, undisputed escrow, read from its amounts."""
    if amounts.remaining:
        if amounts.released:
            return State.partially_released
        return State.partially_refunded if amounts.refunded else State.held
    return State.released if amounts.released else State.refunded


def _fmt(amount: int, ctx: Context) -> str:
    return Money(amount, ctx.currency).format() if ctx.currency else str(amount)


#: Which movements each money action carries.
_MOVES: Final[Mapping[Action, frozenset[str]]] = {
    Action.release: frozenset({"release"}),
    Action.refund: frozenset({"refund"}),
    Action.reverse: frozenset({"reverse"}),
    Action.resolve: frozenset({"release", "refund"}),
}


def amounts_after(action: Action | str, ctx: Context) -> Amounts:
    """The amounts after ``action`` moves ``ctx``'s money; refused when it overdraws.

    Releases and refunds come out of what is neither released nor refunded; a reversal puts
    released money back (it is released again or refunded later).
    """
    act = Action(action)
    if act not in _MOVES:
        raise ValueError(f"{act.value} moves no money")
    if ctx.amounts is None:
        raise ValueError(f"{act.value} needs context.amounts")
    moves = {
        "release": check_amount(ctx.release, param="amount"),
        "refund": check_amount(ctx.refund, param="amount"),
        "reverse": check_amount(ctx.reverse, param="amount"),
    }
    carried = _MOVES.get(act, frozenset())
    stray = [name for name, value in moves.items() if value and name not in carried]
    if stray:
        raise ValueError(f"{act.value} cannot carry a {stray[0]} amount")
    if act is not Action.resolve and not moves[act.value]:
        raise InvalidRequestError(
            f"a {act.value} must move more than zero.", code="amount_invalid", param="amount"
        )
    a, of = ctx.amounts, f" of escrow {ctx.escrow_id}" if ctx.escrow_id else ""
    if moves["reverse"] > a.released:
        raise InvalidRequestError(
            f"cannot reverse {_fmt(moves['reverse'], ctx)}: only {_fmt(a.released, ctx)}{of} "
            "has been released.",
            code="amount_too_large",
            param="amount",
        )
    out = moves["release"] + moves["refund"]
    if out > a.remaining:
        raise InvalidRequestError(
            f"cannot {act.value} {_fmt(out, ctx)}: only {_fmt(a.remaining, ctx)}{of} is "
            "neither released nor refunded.",
            code="amount_too_large",
            param="amount",
        )
    released = a.released + moves["release"] - moves["reverse"]
    return Amounts(a.total, released, a.refunded + moves["refund"])


#: States that the amounts determine (see :func:`settled_state`).
_SETTLED: Final = frozenset(
    {State.held, State.partially_refunded, State.partially_released, State.released, State.refunded}
)


def transition(
    state: State | str, action: Action | str, *, context: Context | None = None
) -> State:
    """The state after ``action``, or :class:`EscrowStateError` (409) when not allowed.

    ``release``, ``refund``, ``reverse`` and ``resolve`` need ``context.amounts`` (before the
    action) and their movement; their target is :func:`settled_state` of the amounts after
    it (a reversal during a dispute leaves the escrow ``disputed``). When amounts are given
    in a state that they determine, they must agree with it (a mismatch is a bug: ValueError).
    """
    s, act, ctx = State(state), Action(action), context or Context()
    rule = RULES[act]
    if s not in rule.sources:
        raise EscrowStateError(escrow_id=ctx.escrow_id, state=s, action=act)
    if ctx.amounts is not None and s in _SETTLED and settled_state(ctx.amounts) is not s:
        raise ValueError(f"escrow state {s.value} does not match its amounts {ctx.amounts}")
    if rule.target != BY_AMOUNTS:
        if ctx.release or ctx.refund or ctx.reverse:
            raise ValueError(f"{act.value} moves no money; the context carries some")
        return State(rule.target)
    after = amounts_after(act, ctx)
    if s is State.disputed and act is Action.reverse:
        return State.disputed
    return settled_state(after)


def is_stale(state: State | str, action: Action | str) -> bool:
    """True when the escrow is already past every state ``action`` applies to."""
    s, rule = State(state), RULES[Action(action)]
    return s not in rule.sources and RANK[s] > max(RANK[src] for src in rule.sources)


def apply_event(
    state: State | str, action: Action | str, *, context: Context | None = None
) -> State | None:
    """For provider events: the new state, ``None`` for a stale event, 409 for a conflict.

    A conflict here (say a chargeback on a cancelled escrow) is not explained by ordering:
    the handler should record it as an incident rather than drop it.
    """
    if is_stale(state, action):
        return None
    return transition(state, action, context=context)


PaymentOutcome = Literal["requires_action", "failed", "authorized", "captured"]

_OUTCOMES: Final[Mapping[str, Action]] = {
    "requires_action": Action.require_action,
    "failed": Action.payment_failed,
    "authorized": Action.authorize,
}


def payment_action(outcome: PaymentOutcome, state: State | str) -> Action:
    """The action for a payment's outcome (a provider call's result or a webhook).

    ``captured`` is ``fund`` while the escrow is still waiting for payment and ``capture``
    once it is authorized, so "succeeded" arriving before "authorized" still lands in ``held``.
    """
    if outcome == "captured":
        return Action.fund if State(state) in RULES[Action.fund].sources else Action.capture
    return _OUTCOMES[outcome]


def render_table() -> str:
    """The table as Markdown (docs/escrows.md embeds it; a test keeps them equal)."""
    lines = [
        "| action | allowed from | to | via | meaning |",
        "|---|---|---|---|---|",
    ]
    for r in TABLE:
        sources = ", ".join(f"`{s.value}`" for s in State if s in r.sources)
        target = "by amounts (see below)" if r.target == BY_AMOUNTS else f"`{r.target}`"
        if r.action is Action.reverse:
            target = "by amounts; `disputed` stays `disputed`"
        via = ", ".join(r.via)
        lines.append(f"| `{r.action.value}` | {sources} | {target} | {via} | {r.meaning} |")
    return "\n".join(lines)


class AllocationStatus(StrEnum):
    pending = "pending"
    partially_refunded = "partially_refunded"
    partially_released = "partially_released"
    released = "released"
    refunded = "refunded"


def allocation_status(amounts: Amounts) -> AllocationStatus:
    """An allocation's status from its own amounts, by the same rule as :func:`settled_state`."""
    state = settled_state(amounts)
    return AllocationStatus.pending if state is State.held else AllocationStatus(state.value)
