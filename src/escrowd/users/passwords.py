"""Password hashing with argon2id (argon2-cffi's ``PasswordHasher``).

Production uses the library's defaults (RFC 9106's low-memory profile: t=3, m=64 MiB, p=4).
Settings may carry ``argon2_time_cost`` / ``argon2_memory_cost`` / ``argon2_parallelism``
to override them; test suites lower the cost once with :func:`set_default_parameters`.
Hashing runs in a worker thread so a login never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    time_cost: int
    memory_cost: int  # KiB
    parallelism: int


#: What ``PasswordHasher()`` uses: the library's recommendation.
RECOMMENDED = Argon2Parameters(
    time_cost=RFC_9106_LOW_MEMORY.time_cost,
    memory_cost=RFC_9106_LOW_MEMORY.memory_cost,
    parallelism=RFC_9106_LOW_MEMORY.parallelism,
)
#: Cheap parameters for test suites only (a hash takes well under a millisecond).
FAST_FOR_TESTS = Argon2Parameters(time_cost=1, memory_cost=8, parallelism=1)

_default = RECOMMENDED


def default_parameters() -> Argon2Parameters:
    return _default


def set_default_parameters(params: Argon2Parameters | None) -> None:
    """Change the cost used when settings do not say (tests); ``None`` restores the default."""
    global _default  # one process-wide knob, set once by a test suite
    _default = params or RECOMMENDED


class Passwords:
    """Hash, verify and upgrade password hashes with one set of argon2id parameters."""

    def __init__(self, params: Argon2Parameters) -> None:
        self.params = params
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
        )
        self._dummy: str | None = None

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self.verify_sync, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend the time a real check takes, for an email that has no account."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(24))
        await self.verify(self._dummy, password)


@lru_cache(maxsize=8)
def _for_parameters(params: Argon2Parameters) -> Passwords:
    return Passwords(params)


def for_settings(settings: Any) -> Passwords:
    """The hasher for these settings (cached; cheap to call per request)."""
    params = Argon2Parameters(
        time_cost=int(getattr(settings, "argon2_time_cost", None) or _default.time_cost),
        memory_cost=int(getattr(settings, "argon2_memory_cost", None) or _default.memory_cost),
        parallelism=int(getattr(settings, "argon2_parallelism", None) or _default.parallelism),
    )
    return _for_parameters(params)
