"""``escrowd ledger verify`` as a user runs it, over one database: the suite's closing check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ESCROWD = Path(sys.executable).with_name("escrowd")


def verify(database_url: str) -> tuple[bool, str]:
    """Run the command; whether it passed, and what it printed."""
    run = subprocess.run(  # noqa: S603  (our own console script, fixed arguments)
        [str(ESCROWD), "ledger", "verify", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = run.stdout + run.stderr
    return run.returncode == 0 and "ledger verify: OK" in report, report
