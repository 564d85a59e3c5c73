"""The ledger of everything the suite wrote still balances: ``escrowd ledger verify`` as a user
would run it, over both shared test databases, as the session's last test.

It runs last (``run_last``, ordered by ``tests/conftest.py``) so it sees every other test's
transfers, and it is a test rather than a step after pytest so that pytest's summary stays the
last line the test command prints while a broken ledger still fails the run. Under
pytest-xdist the controller runs the same check over every worker's databases instead, once all
workers are done, and reports it under this test's name (tests/parallel.py).
"""

from __future__ import annotations

import pytest

from tests import ledger_check


@pytest.mark.run_last
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_ledger_verify_passes_over_the_suites_data(
    backend: str, shared_db_urls: dict[str, str]
) -> None:
    if backend not in shared_db_urls:
        pytest.skip(f"{backend} not in ESCROWD_TEST_BACKENDS")
    ok, report = ledger_check.verify(shared_db_urls[backend])
    assert ok, f"escrowd ledger verify failed on {backend}:\n{report}"
