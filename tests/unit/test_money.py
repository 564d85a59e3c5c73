"""escrowd.money: integer minor units, one rounding rule, splits that always add up."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from escrowd.errors import InvalidRequestError
from escrowd.money import (
    BPS,
    MAX_AMOUNT,
    Money,
    allocate,
    exponent,
    fee,
    normalize_currency,
    parse_major,
)

amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)
weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(
    lambda ws: sum(ws) > 0
)


@given(total=amounts, ws=weights)
def test_allocate_parts_sum_exactly_to_the_total(total: int, ws: list[int]) -> None:
    assert sum(allocate(total, ws)) == total


@given(total=amounts, ws=weights)
def test_allocate_never_gives_a_negative_part(total: int, ws: list[int]) -> None:
    assert all(part >= 0 for part in allocate(total, ws))


@given(total=amounts, ws=weights)
def test_allocate_is_deterministic_and_within_one_unit_of_the_exact_share(
    total: int, ws: list[int]
) -> None:
    parts = allocate(total, ws)
    assert parts == allocate(total, list(ws))
    for part, w in zip(parts, ws, strict=True):
        exact = Decimal(total) * w / sum(ws)
        assert abs(part - exact) < 1
        if w == 0:
            assert part == 0


def test_allocate_gives_ties_to_the_earlier_weight() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]


@pytest.mark.parametrize("ws", [[], [0, 0], [-1, 2], [1.5, 1], [True, 1]])
def test_allocate_refuses_bad_weights(ws: list[int]) -> None:
    with pytest.raises(InvalidRequestError):
        allocate(100, ws)


def test_seed_000_fee_example_comes_out_to_the_cent() -> None:
    # Budget $100, platform fee 15 % = $15, tester gross $85, processing 3 % = $2.55.
    assert fee(10_000, 1500) == 1500
    gross = 10_000 - fee(10_000, 1500)
    assert gross == 8500
    assert fee(gross, 300) == 255
    assert gross - fee(gross, 300) == 8245


@pytest.mark.parametrize(
    ("amount", "rate_bps", "fixed", "expected"),
    [
        (1, 5000, 0, 1),  # half a cent rounds up
        (3, 5000, 0, 2),  # 1.5 → 2
        (1, 4999, 0, 0),  # just under half rounds down
        (1000, 290, 30, 59),  # 2.9 % + 30¢ of $10 = 29 + 30
        (10, 10_000, 5, 10),  # never more than the amount
        (0, 1500, 0, 0),
    ],
)
def test_fee_rounds_half_up_once(amount: int, rate_bps: int, fixed: int, expected: int) -> None:
    assert fee(amount, rate_bps, fixed) == expected


@given(amount=amounts, rate=st.integers(min_value=0, max_value=BPS))
def test_fee_is_within_half_a_unit_of_the_exact_fee_and_never_above_the_amount(
    amount: int, rate: int
) -> None:
    charged = fee(amount, rate)
    assert 0 <= charged <= amount
    assert abs(Decimal(charged) - Decimal(amount) * rate / BPS) <= Decimal("0.5")


@given(rate=st.decimals(min_value=0, max_value=BPS, places=2), amount=amounts)
def test_fee_accepts_decimal_rates(rate: Decimal, amount: int) -> None:
    assert isinstance(fee(amount, rate), int)


@pytest.mark.parametrize(("currency", "exp"), [("usd", 2), ("USD", 2), ("jpy", 0), ("kwd", 3)])
def test_exponents_come_from_iso_4217(currency: str, exp: int) -> None:
    assert exponent(currency) == exp


@pytest.mark.parametrize("currency", ["xyz", "", "us", "dollars", "XXX"])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        normalize_currency(currency)
    assert info.value.code == "currency_invalid"


def test_currency_is_normalized_to_lower_case() -> None:
    assert normalize_currency("EUR") == "eur"
    assert Money(5, "EUR").currency == "eur"


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "usd", 1234),
        ("12", "usd", 1200),
        ("0.5", "usd", 50),
        ("1000", "jpy", 1000),
        ("1.234", "kwd", 1234),
        ("0", "usd", 0),
        (" 7.10 ", "usd", 710),
    ],
)
def test_parse_major_reads_plain_decimals(text: str, currency: str, minor: int) -> None:
    assert parse_major(text, currency) == Money(minor, currency)


@given(minor=amounts, currency=st.sampled_from(["usd", "jpy", "kwd", "eur", "bhd"]))
def test_parse_major_inverts_the_minor_amount(minor: int, currency: str) -> None:
    exp = exponent(currency)
    whole, frac = divmod(minor, 10**exp)
    text = f"{whole}.{frac:0{exp}d}" if exp else str(whole)
    assert parse_major(text, currency).amount == minor


@pytest.mark.parametrize(
    ("value", "currency", "code"),
    [
        (12.34, "usd", "amount_invalid"),  # a float, even a "nice" one
        (float("nan"), "usd", "amount_invalid"),
        (Decimal("1.5"), "usd", "amount_invalid"),
        (12, "usd", "amount_invalid"),  # not a string
        ("NaN", "usd", "amount_invalid"),
        ("1e3", "usd", "amount_invalid"),
        ("Infinity", "usd", "amount_invalid"),
        ("1,000.00", "usd", "amount_invalid"),
        ("01.00", "usd", "amount_invalid"),
        ("", "usd", "amount_invalid"),
        ("-1.00", "usd", "amount_invalid"),
        ("12.345", "usd", "amount_precision"),
        ("1.5", "jpy", "amount_precision"),
        ("0.0001", "kwd", "amount_precision"),
        (str(MAX_AMOUNT + 1), "jpy", "amount_too_large"),
        ("10000000000.00", "usd", "amount_too_large"),
        ("1.00", "xyz", "currency_invalid"),
    ],
)
def test_parse_major_refuses(value: object, currency: str, code: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_major(value, currency)
    assert info.value.code == code


def test_parse_major_allows_negative_only_when_asked() -> None:
    assert parse_major("-1.25", "usd", allow_negative=True).amount == -125


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(float("nan"))
def test_money_never_holds_a_float(value: float) -> None:
    with pytest.raises(InvalidRequestError):
        Money(value, "usd")  # type: ignore[arg-type]


@given(
    a=st.integers(-(MAX_AMOUNT // 2), MAX_AMOUNT // 2),
    b=st.integers(-(MAX_AMOUNT // 2), MAX_AMOUNT // 2),
)
def test_money_adds_within_one_currency_only(a: int, b: int) -> None:
    assert (Money(a, "usd") + Money(b, "usd")).amount == a + b
    assert (Money(a, "usd") - Money(b, "usd")).amount == a - b
    with pytest.raises(InvalidRequestError) as info:
        Money(a, "usd") + Money(b, "eur")
    assert info.value.code == "currency_mismatch"


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(123456, "usd"), "1,234.56 USD"),
        (Money(-5, "usd"), "-0.05 USD"),
        (Money(1000, "jpy"), "1,000 JPY"),
        (Money(1, "kwd"), "0.001 KWD"),
    ],
)
def test_money_formats_for_people(money: Money, shown: str) -> None:
    assert str(money) == shown
