"""The ledger of everything the suite wrote still balances: ``escrowd ledger verify`` as a user
would run it, over both shared test databases, as the session's last test.

It runs last (``run_last``, ordered by ``tests/conftest.py``) so it sees every other test's
transfers, and it is a test rather than a step after pytest so that pytest's summary stays the
last line the test command prints while a broken ledger still fails the run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ESCROWD = Path(sys.executable).with_name("escrowd")


@pytest.mark.run_last
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_ledger_verify_passes_over_the_suites_data(
    backend: str, shared_db_urls: dict[str, str]
) -> None:
    if backend not in shared_db_urls:
        pytest.skip(f"{backend} not in ESCROWD_TEST_BACKENDS")
    run = subprocess.run(  # noqa: S603  (our own console script, fixed arguments)
        [str(ESCROWD), "ledger", "verify", "--database-url", shared_db_urls[backend]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"escrowd ledger verify failed on {backend}:\n{report}"
    assert "ledger verify: OK" in report, report
