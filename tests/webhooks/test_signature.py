"""Stripe-Signature verification, checked against stripe-python's own implementation too."""

from __future__ import annotations

import time

import pytest
import stripe

from escrowd.providers.stripe.signature import (
    SignatureError,
    SignatureFailure,
    compute,
    parse_header,
    sign,
    verify,
)

BODY = b'{\n  "id": "evt_1",\n  "object": "event"\n}'
NOW = 1_767_225_600
SECRETS = ["whsec_a"]


def reason(payload: bytes, header: str | None, secrets: list[str], now: int = NOW) -> str:
    with pytest.raises(SignatureError) as info:
        verify(payload, header, secrets, now=now)
    return info.value.reason.value


def test_a_signed_payload_verifies_and_returns_its_timestamp() -> None:
    assert verify(BODY, sign(BODY, "whsec_a", NOW - 10), SECRETS, now=NOW) == NOW - 10


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_a", b"123." + BODY, hashlib.sha256).hexdigest()
    assert compute(BODY, "whsec_a", 123) == expected
    assert sign(BODY, "whsec_a", 123) == f"t=123,v1={expected}"


def test_any_configured_secret_is_accepted_during_rotation() -> None:
    both = ["whsec_old", "whsec_new"]
    assert verify(BODY, sign(BODY, "whsec_old", NOW), both, now=NOW) == NOW
    assert verify(BODY, sign(BODY, "whsec_new", NOW), both, now=NOW) == NOW


def test_one_matching_v1_among_several_is_enough() -> None:
    good = compute(BODY, "whsec_a", NOW)
    other = compute(BODY, "whsec_retired", NOW)
    header = f"t={NOW},v1={other},v1={good}"
    assert verify(BODY, header, SECRETS, now=NOW) == NOW


def test_other_schemes_are_ignored_and_never_accepted() -> None:
    v0 = compute(BODY, "whsec_a", NOW)
    assert reason(BODY, f"t={NOW},v0={v0}", SECRETS) == "no_signatures"
    header = f"t={NOW},v0=deadbeef,v1={v0}"
    assert verify(BODY, header, SECRETS, now=NOW) == NOW


def test_a_wrong_secret_is_a_mismatch() -> None:
    assert reason(BODY, sign(BODY, "whsec_other", NOW), SECRETS) == "mismatch"


def test_a_tampered_body_is_a_mismatch() -> None:
    header = sign(BODY, "whsec_a", NOW)
    assert reason(BODY.replace(b"evt_1", b"evt_2"), header, SECRETS) == "mismatch"
    assert reason(BODY + b" ", header, SECRETS) == "mismatch"


def test_a_signature_for_another_timestamp_is_a_mismatch() -> None:
    sig = compute(BODY, "whsec_a", NOW)
    assert reason(BODY, f"t={NOW + 1},v1={sig}", SECRETS) == "mismatch"


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_header_is_refused(header: str | None) -> None:
    assert reason(BODY, header, SECRETS) == "missing_header"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "v1=abc",
        "t=,v1=abc",
        "t=soon,v1=abc",
        "t=-5,v1=abc",
        "t=1,t=2,v1=abc",
        f"t={NOW},,v1=abc",
        f"t={NOW},v1",
        "t=1234567890123,v1=abc",
        "t=١٢٣,v1=abc",  # non-ASCII digits: int() would take them, Stripe never sends them
    ],
)
def test_a_malformed_header_is_refused(header: str) -> None:
    assert reason(BODY, header, SECRETS) == "malformed_header"


def test_a_header_without_v1_is_refused() -> None:
    assert reason(BODY, f"t={NOW}", SECRETS) == "no_signatures"


def test_whitespace_around_items_is_tolerated() -> None:
    sig = compute(BODY, "whsec_a", NOW)
    assert verify(BODY, f"t={NOW}, v1={sig}", SECRETS, now=NOW) == NOW


def test_non_ascii_signature_values_do_not_crash_the_comparison() -> None:
    assert reason(BODY, f"t={NOW},v1=é€", SECRETS) == "mismatch"


def test_a_timestamp_older_than_the_tolerance_is_refused() -> None:
    assert verify(BODY, sign(BODY, "whsec_a", NOW - 300), SECRETS, now=NOW) == NOW - 300
    assert reason(BODY, sign(BODY, "whsec_a", NOW - 301), SECRETS) == "timestamp_too_old"


def test_a_timestamp_in_the_future_beyond_the_tolerance_is_refused() -> None:
    assert verify(BODY, sign(BODY, "whsec_a", NOW + 300), SECRETS, now=NOW) == NOW + 300
    assert reason(BODY, sign(BODY, "whsec_a", NOW + 301), SECRETS) == "timestamp_in_future"


def test_the_tolerance_can_be_narrowed() -> None:
    with pytest.raises(SignatureError) as info:
        verify(BODY, sign(BODY, "whsec_a", NOW - 61), SECRETS, now=NOW, tolerance=60)
    assert info.value.reason is SignatureFailure.timestamp_too_old
    assert info.value.is_timestamp


def test_a_forged_signature_on_a_stale_timestamp_reports_the_mismatch_not_the_age() -> None:
    assert reason(BODY, sign(BODY, "whsec_other", NOW - 3600), SECRETS) == "mismatch"


def test_verifying_without_any_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no webhook secret"):
        verify(BODY, sign(BODY, "whsec_a", NOW), [], now=NOW)


def test_parse_header_returns_every_v1_in_order() -> None:
    assert parse_header("t=5,v1=aa,v0=bb,v1=cc") == (5, ["aa", "cc"])


# --- compatibility with stripe-python ------------------------------------------------------


def test_stripe_python_accepts_what_sign_produces() -> None:
    now = int(time.time())
    header = sign(BODY, "whsec_a", now)
    assert stripe.WebhookSignature.verify_header(BODY, header, "whsec_a", tolerance=300)
    constructed = stripe.Webhook.construct_event(BODY, header, "whsec_a")
    assert constructed.id == "evt_1"


def test_verify_accepts_what_stripe_python_signs() -> None:
    now = int(time.time())
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), "whsec_a", now)
    assert verify(BODY, header, SECRETS, now=now) == now


def test_stripe_python_and_verify_agree_on_a_wrong_secret() -> None:
    now = int(time.time())
    header = sign(BODY, "whsec_other", now)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY, header, "whsec_a", tolerance=300)
    assert reason(BODY, header, SECRETS, now=now) == "mismatch"
