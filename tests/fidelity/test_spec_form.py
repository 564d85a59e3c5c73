"""The spec checker's form decoder, against Stripe's bracket encoding (no spec needed)."""

from __future__ import annotations

import pytest

from escrowd.sandbox.spec_form import FormDecodeError, decode_form


def test_scalars_stay_strings_with_plus_and_percent_escapes_decoded() -> None:
    assert decode_form("amount=2000&description=a+b%26c&confirm=true") == {
        "amount": "2000",
        "description": "a b&c",
        "confirm": "true",
    }


def test_bracketed_keys_make_nested_hashes() -> None:
    assert decode_form("metadata[escrow]=esc_1&transfer_data[destination]=acct_1") == {
        "metadata": {"escrow": "esc_1"},
        "transfer_data": {"destination": "acct_1"},
    }


def test_indexed_keys_make_a_list_in_index_order() -> None:
    assert decode_form("expand[1]=b&expand[0]=a") == {"expand": ["a", "b"]}


def test_empty_brackets_append_to_a_list() -> None:
    assert decode_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}


def test_indexed_list_of_hashes_groups_by_index() -> None:
    body = "items[0][price]=p1&items[0][quantity]=2&items[1][price]=p2"
    assert decode_form(body) == {"items": [{"price": "p1", "quantity": "2"}, {"price": "p2"}]}


def test_empty_bracket_list_of_hashes_starts_a_new_element_when_a_key_repeats() -> None:
    body = "items[][price]=p1&items[][quantity]=2&items[][price]=p2"
    assert decode_form(body) == {"items": [{"price": "p1", "quantity": "2"}, {"price": "p2"}]}


def test_an_empty_value_is_kept_as_the_empty_string_that_unsets() -> None:
    assert decode_form("description=&metadata[k]=") == {"description": "", "metadata": {"k": ""}}


def test_a_list_with_a_gap_stays_a_hash_so_the_checker_can_refuse_it() -> None:
    assert decode_form("expand[1]=a") == {"expand": {"1": "a"}}


def test_a_malformed_key_is_one_literal_name() -> None:
    assert decode_form("a[b=1&c]d=2") == {"a[b": "1", "c]d": "2"}


def test_one_key_used_as_a_scalar_and_a_hash_is_refused() -> None:
    with pytest.raises(FormDecodeError, match="conflicts"):
        decode_form("card=tok_1&card[number]=4242")


def test_a_repeated_scalar_keeps_the_last_value() -> None:
    assert decode_form("amount=1&amount=2") == {"amount": "2"}


def test_bytes_must_be_ascii_and_utf8_after_unescaping() -> None:
    assert decode_form(b"name=J%C3%BCrgen") == {"name": "Jürgen"}
    with pytest.raises(FormDecodeError):
        decode_form("name=%FF")
