"""Fees, per allocation, to the cent: the platform's fee and the provider's processing cost.

A :class:`FeePolicy` says how much the platform keeps and who bears the provider's processing
cost. For each allocation (a slot, a milestone, a payee's share) the breakdown is::

    gross            = platform_fee + payee_processing + net        (exactly)
    processing_cost  = payee_processing + surcharge + platform_processing
    charged          = gross + surcharge                            (what the payer pays)

- ``platform_fee`` = ``money.fee(gross, rate_bps, fixed)``: the one rounding rule (half up),
  never more than the gross; the fixed part applies to each allocation. A policy whose fee
  would exceed an allocation is refused when the escrow is created (:func:`check_fee_fits`).
- ``processing_cost`` is either the provider's actual fee on the charge split over the
  allocations in proportion to their gross by largest remainder (``actual_pro_rata``), or
  ``money.fee(base, processing_rate_bps, processing_fixed)`` per allocation (``flat_rate``),
  where the base is the allocation's gross or what is left of it after the platform fee.
- The bearer decides where it lands: ``payee`` → deducted from the payee's net (capped at what
  the platform fee leaves, the rest falls to the platform so a net is never negative);
  ``payer`` → a surcharge added to the amount charged (it must be known before the charge, so
  only with ``flat_rate``); ``platform`` → the platform's cost.

Partial releases and refunds take a part of an allocation with :meth:`AllocationBreakdown.take`
and split a refund over allocations with :func:`prorate`; both work on *what is left*, by
largest remainder, so the parts of any sequence sum exactly to the whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from functools import cache
from typing import Any, Final, Literal, TypeVar, get_args

from escrowd.errors import InvalidRequestError
from escrowd.money import BPS, MAX_AMOUNT, allocate, check_amount, fee, round_minor

Bearer = Literal["platform", "payee", "payer"]
ProcessingMode = Literal["actual_pro_rata", "flat_rate"]
ProcessingBase = Literal["gross", "after_platform_fee"]

_CHOICES: Final[Mapping[str, tuple[str, ...]]] = {
    "processing_bearer": get_args(Bearer),
    "processing_mode": get_args(ProcessingMode),
    "processing_base": get_args(ProcessingBase),
}
_RATES: Final = frozenset({"rate_bps", "processing_rate_bps"})
_FIXED: Final = frozenset({"fixed", "processing_fixed"})
_RATE_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{1,4})?$")


def _bad(message: str, param: str, code: str = "fee_policy_invalid") -> InvalidRequestError:
    return InvalidRequestError(message, code=code, param=param)


def _check_rate(value: Any, param: str) -> Decimal:
    """Basis points: an int, a Decimal or a plain decimal string, 0 to 10,000, ≤ 4 decimals."""
    if isinstance(value, str) and _RATE_RE.match(value):
        value = Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _bad(
            f"{param} must be basis points as an integer or a decimal string (1500 is 15 %), "
            f"not {type(value).__name__}.",
            param,
        )
    rate = Decimal(value)
    exp = rate.as_tuple().exponent
    if not isinstance(exp, int) or exp < -4 or not 0 <= rate <= BPS:
        raise _bad(f"{param} must be between 0 and {BPS} basis points, to 4 decimals.", param)
    return rate


def _check_field(name: str, value: Any) -> Any:
    if name in _RATES:
        return _check_rate(value, name)
    if name in _FIXED:
        return check_amount(value, param=name)
    choices = _CHOICES[name]
    if value not in choices:
        raise _bad(f"{name} must be one of {', '.join(choices)}.", name)
    return value


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """How the platform's fee and the provider's processing cost are charged.

    Rates are basis points (``1500`` = 15 %), fixed parts minor units per allocation.
    """

    rate_bps: Decimal | int = 0
    fixed: int = 0
    processing_bearer: Bearer = "platform"
    processing_mode: ProcessingMode = "actual_pro_rata"
    #: ``flat_rate`` only: the rate and fixed part applied to each allocation's base.
    processing_rate_bps: Decimal | int = 0
    processing_fixed: int = 0
    processing_base: ProcessingBase = "gross"

    def __post_init__(self) -> None:
        for name in _POLICY_FIELDS:
            object.__setattr__(self, name, _check_field(name, getattr(self, name)))
        if self.processing_bearer == "payer" and self.processing_mode != "flat_rate":
            raise _bad(
                "a payer can bear the processing cost only at a flat rate: the surcharge must be "
                "known before the charge, and the provider's actual fee is known only after it.",
                "processing_mode",
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: rates as decimal strings (never floats)."""
        return {f.name: _dump(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, param: str = "fee_policy") -> FeePolicy:
        return _load(cls, data, param)


#: FeePolicy's fields (and FeeOverride's: the same names), read once.
_POLICY_FIELDS: Final = tuple(f.name for f in fields(FeePolicy))


@dataclass(frozen=True, slots=True)
class FeeOverride:
    """Fields to override (``None`` inherits): per payee, or per escrow."""

    rate_bps: Decimal | int | None = None
    fixed: int | None = None
    processing_bearer: Bearer | None = None
    processing_mode: ProcessingMode | None = None
    processing_rate_bps: Decimal | int | None = None
    processing_fixed: int | None = None
    processing_base: ProcessingBase | None = None

    def __post_init__(self) -> None:
        for name, value in self.set_fields().items():
            object.__setattr__(self, name, _check_field(name, value))

    def set_fields(self) -> dict[str, Any]:
        return {n: v for n in _POLICY_FIELDS if (v := getattr(self, n)) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {name: _dump(v) for name, v in self.set_fields().items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, param: str = "fee_policy") -> FeeOverride:
        return _load(cls, data, param)


def _dump(value: Any) -> Any:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else value


_P = TypeVar("_P", FeePolicy, FeeOverride)


def _load(cls: type[_P], data: Mapping[str, Any], param: str) -> _P:
    if not isinstance(data, Mapping):
        raise _bad(f"{param} must be an object.", param)
    known = _POLICY_FIELDS  # FeePolicy's and FeeOverride's fields are the same
    for key in data:
        if key not in known:
            raise _bad(
                f"unknown field {param}[{key}]; known: {', '.join(sorted(known))}.",
                f"{param}[{key}]",
                code="parameter_unknown",
            )
    try:
        return cls(**data)
    except InvalidRequestError as exc:
        exc.param = f"{param}[{exc.param}]"
        raise


def resolve_policy(
    default: FeePolicy, *, payee: FeeOverride | None = None, escrow: FeeOverride | None = None
) -> FeePolicy:
    """Field by field: per-escrow override > per-payee override > marketplace default."""
    merged = {name: getattr(default, name) for name in _POLICY_FIELDS}
    for override in (payee, escrow):
        if override is not None:
            merged.update(override.set_fields())
    return FeePolicy(**merged)


@dataclass(frozen=True, slots=True)
class AllocationBreakdown:
    """One allocation's money, all in minor units, every identity exact (checked on creation)."""

    gross: int
    platform_fee: int
    processing_cost: int
    processing_bearer: Bearer
    payee_processing: int
    surcharge: int
    platform_processing: int
    net: int

    def __post_init__(self) -> None:
        # A plain loop over names fixed once: a book builds scores of breakdowns per request.
        for name in BREAKDOWN_FIGURES:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"breakdown figures must be non-negative integers: {self!r}")
        if self.gross != self.platform_fee + self.payee_processing + self.net or (
            self.processing_cost
            != self.payee_processing + self.surcharge + self.platform_processing
        ):
            raise ValueError(f"breakdown does not add up: {self!r}")

    @property
    def charged(self) -> int:
        """What the payer pays for this allocation: its gross plus any surcharge."""
        return self.gross + self.surcharge

    def take(self, amount: int) -> tuple[AllocationBreakdown, AllocationBreakdown]:
        """Split off the part for ``amount`` of gross (a partial release or refund).

        Returns ``(part, rest)``: ``part + rest == self`` figure by figure. The part's fee,
        payee processing and net are the gross split over what is left of them by largest
        remainder; its surcharge and platform processing are the same share of what is left,
        rounded once. Taking all of the gross takes everything that is left.
        """
        check_amount(amount, param="amount")
        if amount > self.gross:
            raise InvalidRequestError(
                f"cannot take {amount} from an allocation with {self.gross} left.",
                code="amount_too_large",
                param="amount",
            )
        fee_part, payee_part, net_part = prorate(
            amount, [self.platform_fee, self.payee_processing, self.net]
        )
        surcharge = _share(self.surcharge, amount, self.gross)
        platform = _share(self.platform_processing, amount, self.gross)
        part = AllocationBreakdown(
            gross=amount,
            platform_fee=fee_part,
            processing_cost=payee_part + surcharge + platform,
            processing_bearer=self.processing_bearer,
            payee_processing=payee_part,
            surcharge=surcharge,
            platform_processing=platform,
            net=net_part,
        )
        return part, self.minus(part)

    def minus(self, other: AllocationBreakdown) -> AllocationBreakdown:
        """Figure by figure (what is left after ``other`` was released or refunded)."""
        return AllocationBreakdown(
            gross=self.gross - other.gross,
            platform_fee=self.platform_fee - other.platform_fee,
            processing_cost=self.processing_cost - other.processing_cost,
            processing_bearer=self.processing_bearer,
            payee_processing=self.payee_processing - other.payee_processing,
            surcharge=self.surcharge - other.surcharge,
            platform_processing=self.platform_processing - other.platform_processing,
            net=self.net - other.net,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "charged": self.charged}


#: The integer figures of a breakdown: every field but the bearer.
BREAKDOWN_FIGURES: Final = tuple(
    f.name for f in fields(AllocationBreakdown) if f.name != "processing_bearer"
)


def _share(value: int, amount: int, gross: int) -> int:
    """``value × amount / gross`` rounded once; all of ``value`` when ``amount`` is the gross."""
    if amount == gross:
        return value
    return round_minor(Decimal(value * amount) / gross)


@dataclass(frozen=True, slots=True)
class EscrowBreakdown:
    """The breakdowns of an escrow's allocations and their totals."""

    allocations: tuple[AllocationBreakdown, ...]

    def total(self, name: str) -> int:
        """The sum of one figure over the allocations (``total("net")``)."""
        return sum(getattr(a, name) for a in self.allocations)

    @property
    def amount(self) -> int:
        return self.total("gross")

    @property
    def surcharge(self) -> int:
        return self.total("surcharge")

    @property
    def charged(self) -> int:
        """The amount to charge the payer: the escrow's amount plus every surcharge, exactly."""
        return self.amount + self.surcharge

    @property
    def platform_fee(self) -> int:
        return self.total("platform_fee")

    @property
    def net(self) -> int:
        return self.total("net")


#: Where a policy's ``fixed`` part came from (see :func:`resolve_policy`).
FeeSource = Literal["escrow", "payee", "default"]

_SOURCE_NAMES: Final[Mapping[FeeSource, str]] = {
    "escrow": "this escrow's fee_policy",
    "payee": "the payee's own fee policy",
    "default": "the marketplace's default fee policy",
}


def fixed_source(*, payee: FeeOverride | None, escrow: FeeOverride | None) -> FeeSource:
    """Which level of :func:`resolve_policy` set the ``fixed`` part."""
    if escrow is not None and escrow.fixed is not None:
        return "escrow"
    if payee is not None and payee.fixed is not None:
        return "payee"
    return "default"


def check_fee_fits(gross: int, policy: FeePolicy, *, allocation: str, source: FeeSource) -> None:
    """Refuse a platform fee larger than the allocation it is taken from.

    ``money.fee`` caps a fee at the amount; applied silently, that would hand the payee 0 on an
    escrow nobody meant to be all fee. Checked when the escrow is created, where the amounts
    are known; a fee equal to the amount is allowed (the payee's net is then 0, and no
    transfer is made). Releases and refunds take a share of what creation accepted, so they
    can never exceed it.
    """
    rated = round_minor(Decimal(gross) * Decimal(policy.rate_bps) / BPS)
    wanted = rated + policy.fixed
    if wanted <= gross:
        return
    parts = f"the fixed {policy.fixed} of {_SOURCE_NAMES[source]}"
    if rated:
        parts = f"{rated} at {_dump(Decimal(policy.rate_bps))} bps plus {parts}"
    # With a rate, the fee grows with the amount: no single figure to suggest.
    at_least = "" if policy.rate_bps else f" to at least {wanted}"
    raise InvalidRequestError(
        f"The platform fee on {allocation} would be {wanted} ({parts}), more than the "
        f"allocation's amount {gross} (minor units): the payee would get nothing. Raise the "
        f"amount{at_least}, or lower the fee.",
        code="fee_exceeds_amount",
        param="fee_policy[fixed]" if source == "escrow" else f"{allocation}[amount]",
    )


def allocation_breakdown(
    gross: int, policy: FeePolicy, *, processing_cost: int | None = None
) -> AllocationBreakdown:
    """One allocation. ``processing_cost`` is its share of the provider's actual fee
    (``actual_pro_rata``; ``None`` = not known yet, counted as 0); ``flat_rate`` ignores it."""
    gross = check_amount(gross, param="amount")
    platform_fee = fee(gross, policy.rate_bps, policy.fixed)
    if policy.processing_mode == "flat_rate":
        base = gross if policy.processing_base == "gross" else gross - platform_fee
        cost = fee(base, policy.processing_rate_bps, policy.processing_fixed)
    else:
        cost = check_amount(processing_cost or 0, param="processing_cost")
    payee = surcharge = platform = 0
    if policy.processing_bearer == "payee":
        payee = min(cost, gross - platform_fee)
        platform = cost - payee
    elif policy.processing_bearer == "payer":
        surcharge = cost
    else:
        platform = cost
    return AllocationBreakdown(
        gross=gross,
        platform_fee=platform_fee,
        processing_cost=cost,
        processing_bearer=policy.processing_bearer,
        payee_processing=payee,
        surcharge=surcharge,
        platform_processing=platform,
        net=gross - platform_fee - payee,
    )


def compute_allocation_breakdown(
    amount: int,
    policy: FeePolicy | Sequence[FeePolicy],
    processing_cost_total: int | None = None,
    *,
    allocations: Sequence[int] | None = None,
) -> EscrowBreakdown:
    """Breakdowns of ``amount`` over ``allocations`` (default: one allocation of it all).

    ``policy`` is one policy for all, or one per allocation (resolved with
    :func:`resolve_policy`). ``processing_cost_total`` is the provider's actual fee on the
    whole charge: split over all allocations by gross (largest remainder), and used by those
    whose policy is ``actual_pro_rata``.
    """
    amount = check_amount(amount, param="amount", allow_zero=False)
    grosses = [amount] if allocations is None else list(allocations)
    if not grosses:
        raise _bad("an escrow needs at least one allocation.", "allocations", "allocation_empty")
    for i, gross in enumerate(grosses):
        check_amount(gross, param=f"allocations[{i}][amount]", allow_zero=False)
    if sum(grosses) != amount:
        raise _bad(
            f"allocations add up to {sum(grosses)}, not the escrow's amount {amount}.",
            "allocations",
            "allocation_mismatch",
        )
    policies = [policy] * len(grosses) if isinstance(policy, FeePolicy) else list(policy)
    if len(policies) != len(grosses):
        raise ValueError(f"{len(policies)} policies for {len(grosses)} allocations")
    shares: list[int | None] = [None] * len(grosses)
    if processing_cost_total is not None:
        check_amount(processing_cost_total, param="processing_cost_total")
        shares = list(allocate(processing_cost_total, grosses))
    return EscrowBreakdown(
        tuple(
            allocation_breakdown(g, p, processing_cost=s)
            for g, p, s in zip(grosses, policies, shares, strict=True)
        )
    )


def split_evenly(amount: int, parts: int) -> list[int]:
    """``amount`` over ``parts`` equal slots by largest remainder ($100 / 3 = 33.34 + 2 × 33.33)."""
    if isinstance(parts, bool) or not isinstance(parts, int) or not 1 <= parts <= MAX_AMOUNT:
        raise _bad("the number of slots must be a positive integer.", "slots", "slots_invalid")
    return allocate(amount, [1] * parts)


def prorate(amount: int, remaining: Sequence[int], *, param: str = "amount") -> list[int]:
    """Split ``amount`` over what is left of each part, in proportion, by largest remainder.

    Each share is at most its part's remainder, the shares sum exactly to ``amount``, and
    ``amount == sum(remaining)`` takes everything: a sequence of prorated refunds, partial
    releases in between or not, can never take more than is left nor leave a cent behind.
    """
    check_amount(amount, param=param)
    for value in remaining:
        check_amount(value, param=param)
    left = sum(remaining)
    if amount > left:
        raise InvalidRequestError(
            f"{param} {amount} is more than the {left} not yet released or refunded.",
            code="amount_too_large",
            param=param,
        )
    if amount == 0:
        return [0] * len(remaining)
    return allocate(amount, list(remaining))


@cache
def marketplace_policy(raw: str) -> FeePolicy:
    """``ESCROWD_FEE_POLICY``'s text read as a policy (no fee when empty); Settings call it
    to refuse a bad one at start."""
    if not raw.strip():
        return FeePolicy()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequestError(
            f'not JSON ({exc}); write it like {{"rate_bps": 1500}}.', param="ESCROWD_FEE_POLICY"
        ) from None
    return FeePolicy.from_dict(data, param="ESCROWD_FEE_POLICY")
