"""`decode_form` inverts the stripe SDK's own encoder for any nested parameters (no spec needed).

The SDK builds a request as ``urlencode(list(_api_encode(params)))`` with ``%5B``/``%5D`` put
back as brackets (`stripe._api_requestor`); this does the same with the installed SDK.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from escrowd.sandbox.spec_form import decode_form


def sdk_encode(params: dict[str, Any]) -> str:
    encoded = urlencode(list(_api_encode(params)))
    return encoded.replace("%5B", "[").replace("%5D", "]")


def as_form_values(value: Any, nested_in_list: bool = False) -> Any:
    """Strings at the leaves; a None hash value is not sent at all."""
    if isinstance(value, dict):
        return {k: as_form_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        # The SDK writes a boolean directly inside a list as Python's "True"/"False"; it only
        # lower-cases hash values, and a list directly inside a list is encoded as a hash of
        # its indices (whose list values are lists again). No Stripe parameter is a list of
        # booleans, so the quirk never reaches Stripe.
        return [
            str(v)
            if isinstance(v, bool) and not nested_in_list
            else as_form_values(v, not nested_in_list if isinstance(v, list) else False)
            for v in value
        ]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Parameter names as Stripe has them; all-digit names would read as list indices.
names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
scalars = st.one_of(texts, st.integers(-(10**12), 10**12), st.booleans())


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Non-empty, and None only at the top: the SDK sends nothing for an empty container.
    hashes = st.dictionaries(names, children, min_size=1, max_size=4)
    return st.one_of(hashes, st.lists(children, min_size=1, max_size=4))


values = st.recursive(scalars, containers, max_leaves=10)
forms = st.dictionaries(names, st.one_of(values, st.none()), max_size=6)


@settings(max_examples=200, deadline=None)
@given(forms)
def test_decoding_what_the_sdk_encodes_gives_back_the_params(params: dict[str, Any]) -> None:
    expected = as_form_values(params)
    assert decode_form(sdk_encode(params)) == expected


def test_the_sdk_encodes_lists_of_lists_with_nested_indices() -> None:
    body = sdk_encode({"a": [["x", "y"], ["z"]]})
    assert body == "a[0][0]=x&a[0][1]=y&a[1][0]=z"
    assert decode_form(body) == {"a": [["x", "y"], ["z"]]}


def test_a_none_inside_a_hash_is_left_out_like_at_the_top() -> None:
    params = {"a": {"b": None, "c": "x"}, "d": None}
    assert decode_form(sdk_encode(params)) == {"a": {"c": "x"}}
