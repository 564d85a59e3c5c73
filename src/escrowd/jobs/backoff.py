"""Retry delays: exponential backoff with full jitter (a pure function, no I/O).

After the ``n``-th failed attempt the next one waits a uniformly random time in
``[0, min(cap, base · 2^(n-1))]`` — 0–2 s, 0–4 s, 0–8 s … up to 0–1 h. Full jitter spreads
the retries of many jobs that failed together (a provider outage) instead of sending them
back in waves (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

BASE = timedelta(seconds=2)
CAP = timedelta(hours=1)

#: Returns a float in [0, 1); ``random.random`` by default, fixed in tests.
Uniform = Callable[[], float]


def ceiling(attempt: int, *, base: timedelta = BASE, cap: timedelta = CAP) -> timedelta:
    """The longest wait after failed attempt number ``attempt`` (1 for the first failure)."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    # In float seconds with a bounded exponent: attempt 10_000 must not overflow timedelta.
    seconds = base.total_seconds() * 2.0 ** min(attempt - 1, 1000)
    return timedelta(seconds=min(cap.total_seconds(), seconds))


def retry_delay(
    attempt: int,
    *,
    base: timedelta = BASE,
    cap: timedelta = CAP,
    uniform: Uniform = random.random,
) -> timedelta:
    """How long to wait before the next attempt, after failed attempt ``attempt``."""
    limit = ceiling(attempt, base=base, cap=cap)
    return timedelta(seconds=limit.total_seconds() * uniform())


def schedule(attempts: int, *, base: timedelta = BASE, cap: timedelta = CAP) -> list[timedelta]:
    """The ceilings of every wait for a job of ``attempts`` attempts (for docs and logs)."""
    return [ceiling(n, base=base, cap=cap) for n in range(1, attempts)]
