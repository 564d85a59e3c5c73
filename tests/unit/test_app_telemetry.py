"""FastAPI's built-in OpenTelemetry follows ESCROWD_OPENTELEMETRY: off unless asked for."""

from __future__ import annotations

import pytest

from escrowd.app import create_app
from escrowd.bootstrap import build
from escrowd.config import Environment, Settings


@pytest.mark.parametrize("wanted", [False, True])
def test_fastapis_opentelemetry_is_on_only_when_asked_for(wanted: bool) -> None:
    settings = Settings(
        env=Environment.test,
        database_url="sqlite+aiosqlite:///:memory:",
        opentelemetry=wanted,
    )
    app = create_app(build(settings), background=False)
    config = app._telemetry  # FastAPI keeps the configuration it was given here
    assert (config["tracing"], config["metrics"], config["logs"]) == (wanted, wanted, wanted)
