"""The suite on pytest-xdist workers, without losing the suite-wide ledger check.

Each worker writes to shared databases of its own (tests/conftest.py). The suite's closing
check, ``escrowd ledger verify`` over everything the tests wrote, needs every worker to be
done, which no worker can know but the controller does. So each worker hands the controller the
URLs of its databases (xdist's ``workeroutput``); when the last worker is down, the controller
runs the check over each and reports it as a test of its own, under the name of
tests/test_suite_ledger_verify.py's test: a broken ledger fails the run, and pytest's summary,
the last line printed, counts it. Without xdist none of this runs and that test does the check.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from _pytest.reports import TestReport
from sqlalchemy.engine import make_url

from tests import ledger_check

_KEY = "escrowd_shared_db_urls"
_TEST = "tests/test_suite_ledger_verify.py::test_ledger_verify_passes_over_the_suites_data"
#: (worker id, {backend: database URL}) for each worker that has finished.
_handed: list[tuple[str, dict[str, str]]] = []


def hand_over(config: pytest.Config, urls: dict[str, str]) -> None:
    """In a worker: leave the controller the URLs of this worker's shared databases."""
    workeroutput: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_KEY] = dict(urls)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    urls = getattr(node, "workeroutput", {}).get(_KEY)
    if urls:
        _handed.append((str(node.gateway.id), dict(urls)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput") or not _handed:
        return
    for worker, urls in sorted(_handed):
        for backend, url in sorted(urls.items()):
            start = time.time()
            ok, output = ledger_check.verify(url)
            stop = time.time()
            report = TestReport(
                nodeid=f"{_TEST}[{backend}-{worker}]",
                location=("tests/test_suite_ledger_verify.py", 0, _TEST.split("::")[1]),
                keywords={},
                outcome="passed" if ok else "failed",
                longrepr=None if ok else f"escrowd ledger verify failed on {backend}:\n{output}",
                when="call",
                duration=stop - start,
                start=start,
                stop=stop,
            )
            session.config.hook.pytest_runtest_logreport(report=report)
            if not ok:
                session.testsfailed += 1
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not os.environ.get("ESCROWD_TEST_PG_DB"):
        _drop(url for _, urls in _handed for url in urls.values())


def _drop(urls: Iterable[str]) -> None:
    from tests.conftest import drop_pg_database

    for url in urls:
        database = make_url(url).database or ""
        if url.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
        else:
            drop_pg_database(database)
