"""PayPal's decimal amount strings <-> escrowd's integer minor units, exactly.

PayPal writes amounts in major units with as many decimals as the currency has ("10.50" USD,
"1050" JPY, "1.005" KWD would be refused by PayPal but parsed exactly here). Conversion goes
through ``escrowd.money`` (ISO 4217 exponents, Decimal), never a float.
"""

from __future__ import annotations

from escrowd.money import Money, check_amount, exponent, parse_major
from escrowd.providers.paypal import shapes


def to_value(amount: int, currency: str) -> str:
    """``1050, "usd"`` -> ``"10.50"``; ``1050, "jpy"`` -> ``"1050"``."""
    check_amount(amount)
    exp = exponent(currency)
    if exp == 0:
        return str(amount)
    whole, frac = divmod(amount, 10**exp)
    return f"{whole}.{frac:0{exp}d}"


def from_value(value: str, currency: str) -> int:
    """``"10.50", "usd"`` -> ``1050``; a value with more decimals than the currency is refused.

    PayPal may drop trailing zeros ("10.5"); those parse to the same minor units.
    """
    return parse_major(value, currency, param="value").amount


def money(amount: int, currency: str) -> shapes.Money:
    return shapes.Money(currency_code=currency.upper(), value=to_value(amount, currency))


def payout_currency(amount: int, currency: str) -> shapes.PayoutCurrency:
    return shapes.PayoutCurrency(currency=currency.upper(), value=to_value(amount, currency))


def from_money(m: shapes.Money | shapes.PayoutCurrency) -> Money:
    """PayPal money -> escrowd ``Money`` (lower-case currency, minor units)."""
    code = m.currency_code if isinstance(m, shapes.Money) else m.currency
    return Money(from_value(m.value, code), code)
