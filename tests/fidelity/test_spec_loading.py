"""Loading the spec from the environment, the mismatch recorder, and the checker's speed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from escrowd.sandbox import spec_check
from escrowd.sandbox.spec_check import ENV_VAR, SpecChecker, decode_form, load, load_from_env


def test_without_the_variable_there_is_no_checker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert load_from_env() is None


def test_the_skip_message_says_where_to_get_the_spec() -> None:
    assert ENV_VAR in spec_check.SKIP_REASON
    assert "spec3.json" in spec_check.SKIP_REASON
    assert "stripe/openapi" in spec_check.SKIP_REASON


def test_the_spec_is_loaded_once_per_process(checker: SpecChecker) -> None:
    assert load_from_env() is checker
    assert checker.version == "2023-08-16"


def test_a_yaml_path_uses_the_json_next_to_it(
    checker: SpecChecker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_json = Path(os.environ[ENV_VAR]).with_suffix(".json")
    (tmp_path / "spec3.yaml").write_text("not: parsed\n")
    (tmp_path / "spec3.json").symlink_to(real_json)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "spec3.yaml"))
    found = load_from_env()
    assert found is not None
    assert found.check_request("POST", "/v1/payment_intents", {"amout": "1"})[0].endswith(
        "unknown parameter 'amout'"
    )


def test_a_path_to_nothing_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "spec3.json"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        load_from_env()


def test_a_file_that_is_not_openapi_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"hello": "world"}')
    with pytest.raises(ValueError, match="not an OpenAPI document"):
        load(tmp_path / "other.json")


def test_recorded_mismatches_are_drained_once() -> None:
    spec_check.drain()
    spec_check.record(["POST /v1/x: a", "POST /v1/x: b"])
    spec_check.record([])
    assert spec_check.recorder == ["POST /v1/x: a", "POST /v1/x: b"]
    assert spec_check.drain() == ["POST /v1/x: a", "POST /v1/x: b"]
    assert spec_check.drain() == []


def test_a_typical_request_and_response_check_take_well_under_a_millisecond(
    checker: SpecChecker, stripe_objects: dict[str, object]
) -> None:
    params = decode_form(
        "amount=2000&currency=usd&customer=cus_1&payment_method=pm_1&capture_method=manual"
        "&confirm=true&metadata[escrow_id]=esc_1&transfer_group=esc_1&expand[0]=latest_charge"
    )
    intent = stripe_objects["payment_intent"]
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        assert not checker.check_request("POST", "/v1/payment_intents", params)
        assert not checker.check_response("POST", "/v1/payment_intents", 200, intent)
    per_pair = (time.perf_counter() - started) / rounds
    # ~0.1 ms on a 2-core machine; the bound leaves room for a loaded CI host.
    assert per_pair < 0.002
