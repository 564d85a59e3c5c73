"""Rules shared by the resources: currencies, Stripe's minimum amounts, small builders."""

from __future__ import annotations

from typing import Any

from escrowd.errors import InvalidRequestError as EscrowdInvalidRequest
from escrowd.money import exponent
from escrowd.sandbox.stripe.errors import InvalidRequestError

DAY = 86400
#: Stripe's minimum charge per currency, in minor units (docs: "Minimum and maximum charge
#: amounts"); other currencies: 50 minor units.
MINIMUMS = {
    "usd": 50,
    "aud": 50,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "eur": 50,
    "inr": 50,
    "nzd": 50,
    "sgd": 50,
    "gbp": 30,
    "dkk": 250,
    "nok": 300,
    "sek": 300,
    "pln": 200,
    "ron": 200,
    "czk": 1500,
    "hkd": 400,
    "huf": 17500,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "thb": 1000,
    "aed": 200,
}
#: Stripe's largest charge: 99,999,999 minor units (eight digits).
MAXIMUM = 99_999_999


def currency(value: str, *, param: str = "currency") -> str:
    try:
        exponent(value)
    except EscrowdInvalidRequest as exc:
        raise InvalidRequestError(
            f"Invalid currency: {value.lower()}. Stripe currently supports these currencies: "
            "usd, eur, gbp, jpy and the other ISO 4217 currencies.",
            param=param,
        ) from exc
    return value.lower()


def major(amount: int, cur: str) -> str:
    exp = exponent(cur)
    whole, frac = divmod(amount, 10**exp)
    text = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    return f"${text}" if cur == "usd" else text


def charge_amount(amount: int, cur: str, *, param: str = "amount") -> int:
    minimum = MINIMUMS.get(cur, 50)
    if amount < minimum:
        raise InvalidRequestError(
            f"Amount must be at least {major(minimum, cur)} {cur}",
            code="amount_too_small",
            param=param,
        )
    if amount > MAXIMUM:
        raise InvalidRequestError(
            f"Amount must be no more than {major(MAXIMUM, cur)} {cur}",
            code="amount_too_large",
            param=param,
        )
    return amount


def positive(amount: int, *, param: str = "amount") -> int:
    if amount <= 0:
        raise InvalidRequestError(
            f"Invalid positive integer: {amount}", code="parameter_invalid_integer", param=param
        )
    return amount


def address() -> dict[str, Any]:
    return {
        "city": None,
        "country": None,
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    }


def billing_details(given: dict[str, Any] | None = None) -> dict[str, Any]:
    given = given or {}
    addr = address()
    addr.update({k: v for k, v in (given.get("address") or {}).items() if k in addr})
    return {
        "address": addr,
        "email": given.get("email"),
        "name": given.get("name"),
        "phone": given.get("phone"),
    }
