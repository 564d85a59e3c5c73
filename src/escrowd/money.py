"""Money: integer minor units and an ISO 4217 currency. Never a float.

- ``Money(amount, currency)``: the amount is in the currency's minor unit (cents for USD,
  yen for JPY, fils for KWD). The exponent comes from the ISO 4217 table, not a hand-typed list.
- ``parse_major("12.34", "usd")``: a human amount in major units, refused when it has more
  decimals than the currency has, when it is not a plain decimal, or when it is out of range.
- ``fee(amount, rate_bps, fixed)``: the one rounding rule for fees (half up, in minor units).
- ``allocate(total, weights)``: largest-remainder split; parts always sum to ``total``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any

from iso4217 import Currency as _Iso

from escrowd.errors import InvalidRequestError

#: The largest amount escrowd accepts in one value: 10^12 - 1 minor units (just under
#: ten billion dollars). Sums of many such values still fit a signed 64-bit column.
MAX_AMOUNT = 999_999_999_999

#: Basis points in one whole: a rate of 1500 bps is 15 %.
BPS = 10_000

_DECIMAL_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")


@cache
def exponent(currency: str) -> int:
    """Minor-unit exponent of an active ISO 4217 currency (USD 2, JPY 0, KWD 3)."""
    code = currency.upper() if isinstance(currency, str) else ""
    try:
        exp = _Iso(code).exponent
    except (ValueError, KeyError):
        exp = None
    if exp is None:
        raise InvalidRequestError(
            f"'{currency}' is not a supported currency: use a three-letter ISO 4217 code of a "
            "currency with minor units, such as usd, eur or jpy.",
            code="currency_invalid",
            param="currency",
        )
    return int(exp)


#: Every currency :func:`exponent` accepts, lower-case and sorted: the active ISO 4217 codes
#: that have a minor unit (the metals, fund and test codes such as XAU or XDR have none).
#: The OpenAPI document lists exactly these as the ``Currency`` schema.
SUPPORTED_CURRENCIES: tuple[str, ...] = tuple(
    sorted(c.code.lower() for c in _Iso if c.exponent is not None)
)


def normalize_currency(currency: str) -> str:
    """Lower-case code after checking it is a real currency (Stripe's spelling)."""
    exponent(currency)
    return currency.lower()


def check_amount(
    value: Any, *, param: str = "amount", allow_negative: bool = False, allow_zero: bool = True
) -> int:
    """Accept only a true integer in range. Floats, bools, strings and NaN are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(
            f"{param} must be an integer number of minor units (e.g. 1050 for $10.50), "
            f"not {type(value).__name__}.",
            code="amount_invalid",
            param=param,
        )
    if value < 0 and not allow_negative:
        raise InvalidRequestError(
            f"{param} must not be negative.", code="amount_invalid", param=param
        )
    if value == 0 and not allow_zero:
        raise InvalidRequestError(
            f"{param} must be greater than zero.", code="amount_invalid", param=param
        )
    if abs(value) > MAX_AMOUNT:
        raise InvalidRequestError(
            f"{param} must be at most {MAX_AMOUNT} minor units.",
            code="amount_too_large",
            param=param,
        )
    return value


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        check_amount(self.amount, allow_negative=True)
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidRequestError(
                f"cannot combine {self.currency} and {other.currency} amounts.",
                code="currency_mismatch",
                param="currency",
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def format(self) -> str:
        """``12.34 USD``: for people, never parsed back by programs."""
        exp = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp)
        body = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
        return f"{sign}{body} {self.currency.upper()}"

    def __str__(self) -> str:
        return self.format()


def parse_major(
    text: Any, currency: str, *, param: str = "amount", allow_negative: bool = False
) -> Money:
    """Parse a human amount such as ``"12.34"`` into Money. Only strings are accepted."""
    if not isinstance(text, str):
        raise InvalidRequestError(
            f'{param} must be a decimal string such as "12.34", not {type(text).__name__}.',
            code="amount_invalid",
            param=param,
        )
    s = text.strip()
    if not _DECIMAL_RE.match(s):
        raise InvalidRequestError(
            f"{param} '{text}' is not a plain decimal number such as 12.34.",
            code="amount_invalid",
            param=param,
        )
    exp = exponent(currency)
    frac = s.partition(".")[2]
    if len(frac) > exp:
        raise InvalidRequestError(
            f"{param} '{text}' has {len(frac)} decimals; {currency.upper()} has {exp}.",
            code="amount_precision",
            param=param,
        )
    try:
        minor = int(Decimal(s).scaleb(exp))
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise InvalidRequestError(f"{param} is invalid.", param=param) from exc
    return Money(check_amount(minor, param=param, allow_negative=allow_negative), currency)


def round_minor(value: Decimal) -> int:
    """The one rounding rule: to the nearest minor unit, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fee(amount: int, rate_bps: Decimal | int, fixed: int = 0) -> int:
    """``amount * rate + fixed``, rounded once, never more than ``amount``."""
    check_amount(amount)
    raw = Decimal(amount) * Decimal(rate_bps) / BPS
    return min(amount, round_minor(raw) + fixed)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` by largest remainder.

    Parts sum exactly to ``total``, are never negative for non-negative input, and the
    result is deterministic: ties in the remainder go to the earlier weight.
    """
    check_amount(total)
    if not weights:
        raise InvalidRequestError("cannot allocate over no parts.", code="allocation_empty")
    if any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in weights):
        raise InvalidRequestError(
            "allocation weights must be non-negative integers.", code="allocation_invalid"
        )
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise InvalidRequestError(
            "allocation weights must not all be zero.", code="allocation_invalid"
        )
    parts = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    short = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:short]:
        parts[i] += 1
    return parts
