"""PayPal's decimal strings <-> integer minor units: exact, per the currency's exponent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from escrowd.errors import InvalidRequestError
from escrowd.money import Money
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import from_money, from_value, money, to_value


@pytest.mark.parametrize(
    ("minor", "currency", "value"),
    [
        (1050, "usd", "10.50"),
        (1, "usd", "0.01"),
        (0, "usd", "0.00"),
        (100, "eur", "1.00"),
        (1050, "jpy", "1050"),
        (7, "jpy", "7"),
        (1005, "kwd", "1.005"),
        (999_999_999_999, "usd", "9999999999.99"),
    ],
)
def test_minor_units_and_strings_round_trip(minor: int, currency: str, value: str) -> None:
    assert to_value(minor, currency) == value
    assert from_value(value, currency) == minor


def test_trailing_zeros_dropped_by_paypal_still_parse_exactly() -> None:
    assert from_value("10.5", "usd") == 1050
    assert from_value("10", "usd") == 1000
    # 0.1 + 0.2 style float drift cannot happen: the result is an exact integer.
    assert from_value("0.29", "usd") == 29
    assert from_value("1.15", "usd") == 115


@pytest.mark.parametrize(
    ("value", "currency"),
    [("10.001", "usd"), ("10.5", "jpy"), ("1.0001", "kwd"), ("1e3", "usd"), ("-1.00", "usd")],
)
def test_values_the_currency_cannot_hold_are_refused(value: str, currency: str) -> None:
    with pytest.raises(InvalidRequestError):
        from_value(value, currency)


def test_floats_and_bools_never_become_amounts() -> None:
    with pytest.raises(InvalidRequestError):
        to_value(10.5, "usd")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        to_value(True, "usd")
    with pytest.raises(InvalidRequestError):
        from_value(10.5, "usd")  # type: ignore[arg-type]


def test_money_models_use_upper_case_codes_and_convert_back() -> None:
    m = money(123456, "usd")
    assert m.model_dump() == {"currency_code": "USD", "value": "1234.56"}
    assert from_money(m) == Money(123456, "usd")
    assert from_money(shapes.PayoutCurrency(currency="JPY", value="500")) == Money(500, "jpy")


@pytest.mark.parametrize("value", ["10.5e1", "-1", "1,000.00", " 1.00", "", ".5", "01.00"])
def test_the_shapes_refuse_what_is_not_a_paypal_amount(value: str) -> None:
    with pytest.raises(ValidationError):
        shapes.Money(currency_code="USD", value=value)


def test_the_shapes_refuse_a_float_value() -> None:
    with pytest.raises(ValidationError):
        shapes.Money.model_validate({"currency_code": "USD", "value": 10.5})
