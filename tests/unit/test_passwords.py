"""argon2id password hashing: library defaults in production, rehash when parameters change."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from escrowd.config import Settings
from escrowd.errors import InvalidRequestError
from escrowd.users import passwords
from escrowd.users.domain import check_password
from escrowd.users.passwords import FAST_FOR_TESTS, RECOMMENDED, Argon2Parameters, Passwords

FAST = Passwords(FAST_FOR_TESTS)


def test_production_parameters_are_the_librarys_recommended_ones() -> None:
    library = PasswordHasher()
    assert (
        Argon2Parameters(
            time_cost=library.time_cost,
            memory_cost=library.memory_cost,
            parallelism=library.parallelism,
        )
        == RECOMMENDED
    )


def test_settings_without_overrides_use_the_recommended_parameters() -> None:
    before = passwords.default_parameters()
    passwords.set_default_parameters(None)
    try:
        assert passwords.for_settings(Settings()).params == RECOMMENDED
    finally:
        passwords.set_default_parameters(before)


def test_argon2_settings_override_the_default_parameters() -> None:
    class Tuned:
        argon2_time_cost = 2
        argon2_memory_cost = 16
        argon2_parallelism = 1

    tuned = passwords.for_settings(Tuned())
    assert tuned.params == Argon2Parameters(time_cost=2, memory_cost=16, parallelism=1)
    assert passwords.for_settings(Tuned()) is tuned  # cached per parameter set


def test_a_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    h = FAST.hash_sync("correct horse battery")
    assert h.startswith("$argon2id$")
    assert FAST.verify_sync(h, "correct horse battery")
    assert not FAST.verify_sync(h, "correct horse batterY")


def test_the_same_password_hashes_differently_each_time() -> None:
    assert FAST.hash_sync("same password!") != FAST.hash_sync("same password!")


def test_a_garbage_hash_does_not_verify_and_needs_a_rehash() -> None:
    assert not FAST.verify_sync("not-a-hash", "whatever password")
    assert FAST.needs_rehash("not-a-hash")


def test_a_hash_made_with_other_parameters_needs_a_rehash() -> None:
    stronger = Passwords(Argon2Parameters(time_cost=2, memory_cost=16, parallelism=1))
    old = FAST.hash_sync("a long password")
    assert stronger.needs_rehash(old)
    assert not FAST.needs_rehash(old)
    assert stronger.verify_sync(old, "a long password")  # old hashes keep working


async def test_async_hash_verify_and_dummy_check_run_off_the_event_loop() -> None:
    h = await FAST.hash("an async password")
    assert await FAST.verify(h, "an async password")
    assert not await FAST.verify(h, "another password")
    await FAST.verify_dummy("anything at all")  # returns nothing, raises nothing


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("x" * 9, "password_too_short"),
        ("x" * 257, "password_too_long"),
    ],
)
def test_passwords_outside_10_to_256_characters_are_refused(password: str, code: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_password(password)
    assert info.value.code == code
    assert info.value.param == "password"


@pytest.mark.parametrize("password", ["x" * 10, "x" * 256, "ten chars!", "  spaced  out  "])
def test_passwords_of_10_to_256_characters_are_accepted(password: str) -> None:
    check_password(password)
