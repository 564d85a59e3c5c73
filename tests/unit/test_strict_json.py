"""Strict JSON: a key named twice in one object is refused at any depth; nothing else is."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrowd.api.strict_json import DuplicateKeyError, loads


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"amount": 100, "amount": 100000}', "amount"),
        ('{"amount": 100, "amount": 100}', "amount"),  # even the same value: ambiguous intent
        ('{"metadata": {"k": "1", "k": "2"}}', "k"),
        ('{"allocations": [{"payee": "usr_1", "amount": 1, "amount": 2}]}', "amount"),
        ('[[{"a": {"b": {"c": 1, "d": 2, "c": 3}}}]]', "c"),
    ],
)
def test_a_key_named_twice_in_one_object_is_refused_at_any_depth(body: str, key: str) -> None:
    with pytest.raises(DuplicateKeyError) as info:
        loads(body.encode())
    assert info.value.key == key
    assert isinstance(info.value, json.JSONDecodeError)  # malformed-JSON handling applies too


def test_the_same_key_in_different_objects_is_fine() -> None:
    body = b'{"name": "a", "metadata": {"name": "b"}, "items": [{"id": 1}, {"id": 2}]}'
    assert loads(body) == {"name": "a", "metadata": {"name": "b"}, "items": [{"id": 1}, {"id": 2}]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(json_values)
def test_without_repeated_keys_it_parses_exactly_like_json_loads(value: object) -> None:
    text = json.dumps(value)
    assert loads(text) == json.loads(text)
