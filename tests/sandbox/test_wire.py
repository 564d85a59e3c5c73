"""Stripe's wire format, without a database: bracket decoding and parameter checks."""

from __future__ import annotations

import pytest

from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.params import Bool, Enum, Int, List, Meta, Obj, Str, validate
from escrowd.sandbox.stripe.wire import decode


def test_brackets_decode_into_nested_maps_and_lists() -> None:
    raw = "metadata[k]=v&expand[]=a&expand[]=b&items[0][price]=p&items[1][quantity]=2&x="
    assert decode(raw) == {
        "metadata": {"k": "v"},
        "expand": ["a", "b"],
        "items": [{"price": "p"}, {"quantity": "2"}],
        "x": "",
    }


def test_indexed_lists_as_the_sdk_sends_them_decode_in_index_order() -> None:
    assert decode("expand[1]=b&expand[0]=a") == {"expand": ["a", "b"]}


def test_a_name_given_both_as_a_value_and_a_hash_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="Invalid hash"):
        decode("card=x&card[number]=1")


SCHEMA = {
    "amount": Int(required=True),
    "capture": Bool(),
    "method": Enum("automatic", "manual"),
    "metadata": Meta(),
    "card": Obj({"token": Str()}),
    "tags": List(Str()),
}


def test_values_are_converted_from_strings() -> None:
    got = validate(SCHEMA, decode("amount=12&capture=true&tags[0]=a&card[token]=tok_visa"))
    assert got == {"amount": 12, "capture": True, "tags": ["a"], "card": {"token": "tok_visa"}}


@pytest.mark.parametrize(
    ("raw", "code", "param", "message"),
    [
        ("amount=1&color=red", "parameter_unknown", "color", "Received unknown parameter: color"),
        ("amount=1&card[cvc]=1", "parameter_unknown", "card[cvc]", "unknown parameter: card[cvc]"),
        ("capture=true", "parameter_missing", "amount", "Missing required param: amount."),
        ("amount=12.5", "parameter_invalid_integer", "amount", "Invalid integer: 12.5"),
        ("amount=1&capture=yes", None, "capture", "Invalid boolean: yes"),
        ("amount=1&method=later", None, "method", "must be one of automatic, or manual"),
        ("amount=", "parameter_invalid_empty", "amount", "empty string for 'amount'"),
    ],
)
def test_bad_parameters_are_refused_as_stripe_refuses_them(
    raw: str, code: str | None, param: str, message: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate(SCHEMA, decode(raw))
    assert caught.value.code == code
    assert caught.value.param == param
    assert message in caught.value.message


def test_metadata_limits_follow_stripe() -> None:
    with pytest.raises(InvalidRequestError, match="up to 500 characters"):
        validate(SCHEMA, {"amount": "1", "metadata": {"k": "v" * 501}})
