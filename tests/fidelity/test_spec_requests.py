"""Requests against Stripe's spec: what passes and exactly what each mismatch says."""

from __future__ import annotations

import pytest

from escrowd.sandbox.spec_check import SpecChecker, decode_form

PI = "/v1/payment_intents"


def check(checker: SpecChecker, method: str, path: str, form: str) -> list[str]:
    return checker.check_request(method, path, decode_form(form))


def test_a_correct_payment_intent_create_passes(checker: SpecChecker) -> None:
    form = (
        "amount=2000&currency=usd&customer=cus_1&payment_method=pm_1&capture_method=manual"
        "&confirm=true&payment_method_types[0]=card&transfer_group=esc_1"
        "&metadata[escrow_id]=esc_1&expand[0]=latest_charge"
    )
    assert check(checker, "POST", PI, form) == []


def test_an_unknown_parameter_is_named(checker: SpecChecker) -> None:
    assert check(checker, "POST", PI, "amout=2000&amount=2000&currency=usd") == [
        "POST /v1/payment_intents: unknown parameter 'amout'"
    ]


def test_a_non_integer_amount_is_a_type_mismatch(checker: SpecChecker) -> None:
    assert check(checker, "POST", PI, "amount=abc&currency=usd") == [
        "POST /v1/payment_intents: parameter 'amount'='abc' is not an integer"
    ]


def test_a_boolean_must_be_true_or_false(checker: SpecChecker) -> None:
    assert check(checker, "POST", PI, "amount=1&currency=usd&confirm=yes") == [
        "POST /v1/payment_intents: parameter 'confirm'='yes' is not a boolean (true or false)"
    ]


def test_a_value_outside_the_enum_lists_the_allowed_values(checker: SpecChecker) -> None:
    assert check(checker, "POST", PI, "amount=1&currency=usd&capture_method=later") == [
        "POST /v1/payment_intents: parameter 'capture_method'='later' not in enum "
        "[automatic, automatic_async, manual]"
    ]


def test_a_transfer_without_destination_misses_a_required_parameter(
    checker: SpecChecker,
) -> None:
    assert check(checker, "POST", "/v1/transfers", "amount=100&currency=usd") == [
        "POST /v1/transfers: missing required parameter 'destination'"
    ]


def test_nested_required_parameters_are_named_with_their_brackets(checker: SpecChecker) -> None:
    form = "amount=1&currency=usd&automatic_payment_methods[allow_redirects]=never"
    assert check(checker, "POST", PI, form) == [
        "POST /v1/payment_intents: missing required parameter 'automatic_payment_methods[enabled]'"
    ]


def test_metadata_is_free_form(checker: SpecChecker) -> None:
    form = "amount=1&currency=usd&metadata[anything]=x&metadata[else]=y"
    assert check(checker, "POST", PI, form) == []


def test_an_unknown_nested_parameter_is_named_with_its_brackets(checker: SpecChecker) -> None:
    form = "amount=1&currency=usd&transfer_data[destination]=acct_1&transfer_data[foo]=x"
    assert check(checker, "POST", PI, form) == [
        "POST /v1/payment_intents: unknown parameter 'transfer_data[foo]'"
    ]


def test_a_hash_where_a_scalar_belongs_is_refused(checker: SpecChecker) -> None:
    assert check(checker, "POST", PI, "amount[value]=1&currency=usd") == [
        "POST /v1/payment_intents: parameter 'amount' is a hash, not a single integer"
    ]


def test_expand_accepts_expandable_fields_nested_and_in_lists(checker: SpecChecker) -> None:
    form = "amount=1&currency=usd&expand[]=latest_charge.balance_transaction&expand[]=customer"
    assert check(checker, "POST", PI, form) == []
    assert check(checker, "GET", PI, "limit=3&expand[0]=data.latest_charge") == []


def test_expand_of_a_field_that_is_not_expandable_is_refused(checker: SpecChecker) -> None:
    [message] = check(checker, "POST", PI, "amount=1&currency=usd&expand[0]=latest_chrge")
    assert message.startswith(
        "POST /v1/payment_intents: parameter 'expand[0]'='latest_chrge': 'latest_chrge' is not "
        "expandable on payment_intent (expandable: amount_details, application,"
    )
    [nested] = check(checker, "POST", PI, "amount=1&currency=usd&expand[0]=latest_charge.nope")
    assert "'nope' is not expandable on latest_charge" in nested


def test_expand_deeper_than_four_levels_is_refused(checker: SpecChecker) -> None:
    [message] = check(checker, "GET", PI, "expand[0]=data.customer.a.b.c")
    assert message.endswith("expands more than 4 levels")


def test_an_empty_string_unsets_where_the_spec_has_an_unset_branch(checker: SpecChecker) -> None:
    form = "metadata=&application_fee_amount=&description=&metadata[k]="
    assert check(checker, "POST", f"{PI}/pi_1", form.replace("&metadata[k]=", "")) == []
    assert check(checker, "POST", f"{PI}/pi_1", "metadata[k]=") == []


def test_an_empty_string_is_refused_where_the_value_cannot_be_unset(
    checker: SpecChecker,
) -> None:
    assert check(checker, "POST", f"{PI}/pi_1", "amount=") == [
        "POST /v1/payment_intents/pi_1: parameter 'amount'='' (an empty string, which unsets) "
        "cannot be unset"
    ]


def test_any_of_reports_the_branch_the_value_was_meant_for(checker: SpecChecker) -> None:
    # `created` is an integer or a range hash {gt, gte, lt, lte}.
    assert check(checker, "GET", PI, "created=1700000000") == []
    assert check(checker, "GET", PI, "created[gte]=1700000000") == []
    assert check(checker, "GET", PI, "created[gte]=soon&created[after]=1") == [
        "GET /v1/payment_intents: parameter 'created[gte]'='soon' is not an integer",
        "GET /v1/payment_intents: unknown parameter 'created[after]'",
    ]


def test_an_unknown_path_is_reported(checker: SpecChecker) -> None:
    assert check(checker, "POST", "/v1/payment_intentz", "") == [
        "POST /v1/payment_intentz: no such path in Stripe's API (spec 2023-08-16)"
    ]


def test_a_wrong_method_names_the_methods_the_path_has(checker: SpecChecker) -> None:
    assert check(checker, "DELETE", f"{PI}/pi_1", "") == [
        "DELETE /v1/payment_intents/pi_1: method not allowed on /v1/payment_intents/{intent} "
        "(spec has GET, POST)"
    ]


def test_concrete_ids_match_templated_paths(checker: SpecChecker) -> None:
    assert check(checker, "POST", f"{PI}/pi_123/capture", "amount_to_capture=500") == []
    assert check(checker, "POST", "/v1/transfers/tr_1/reversals", "amount=5") == []


def test_a_literal_segment_wins_over_a_path_parameter(checker: SpecChecker) -> None:
    assert check(checker, "GET", "/v1/customers/search", "query=email:'a@b.c'") == []
    assert check(checker, "GET", "/v1/customers/search", "email=a@b.c") == [
        "GET /v1/customers/search: unknown parameter 'email'",
        "GET /v1/customers/search: missing required parameter 'query'",
    ]


def test_get_and_delete_parameters_are_read_from_the_query(checker: SpecChecker) -> None:
    assert check(checker, "GET", PI, "limit=ten") == [
        "GET /v1/payment_intents: parameter 'limit'='ten' is not an integer"
    ]
    path = "/v1/subscriptions/sub_1"
    assert check(checker, "DELETE", path, "invoice_now=true&prorate=false") == []
    assert check(checker, "DELETE", path, "prorate=maybe") == [
        f"DELETE {path}: parameter 'prorate'='maybe' is not a boolean (true or false)"
    ]


def test_max_length_is_enforced(checker: SpecChecker) -> None:
    long_text = "x" * 1001
    assert check(checker, "POST", PI, f"amount=1&currency=usd&description={long_text}") == [
        "POST /v1/payment_intents: parameter 'description' is 1001 characters, over maxLength 1000"
    ]


def test_an_array_of_hashes_is_checked_item_by_item(checker: SpecChecker) -> None:
    form = "customer=cus_1&items[0][price]=price_1&items[1][price]=price_2&items[1][qty]=2"
    assert check(checker, "POST", "/v1/subscriptions", form) == [
        "POST /v1/subscriptions: unknown parameter 'items[1][qty]'"
    ]


def test_an_array_sent_with_a_gap_is_refused(checker: SpecChecker) -> None:
    assert check(checker, "POST", PI, "amount=1&currency=usd&payment_method_types[1]=card") == [
        "POST /v1/payment_intents: parameter 'payment_method_types' is not an array: "
        "its indices must run from 0"
    ]


@pytest.mark.parametrize("method", ["post", "Post", "POST"])
def test_the_method_is_case_insensitive(checker: SpecChecker, method: str) -> None:
    assert check(checker, method, PI, "amount=1&currency=usd") == []
