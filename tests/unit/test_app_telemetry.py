"""FastAPI's built-in OpenTelemetry follows ESCROWD_OPENTELEMETRY: off unless asked for, and
never on in the internal apps (the in-process sandbox's webhook intake)."""

from __future__ import annotations

import pytest

from escrowd.app import create_app
from escrowd.bootstrap import build
from escrowd.config import Environment, Settings
from escrowd.webhooks.inbound import intake_app


def _on(config: object) -> tuple[bool, bool, bool]:
    assert isinstance(config, dict)
    return config["tracing"], config["metrics"], config["logs"]


@pytest.mark.parametrize("wanted", [False, True])
async def test_fastapis_opentelemetry_is_on_only_when_asked_for(wanted: bool) -> None:
    settings = Settings(
        env=Environment.test,
        database_url="sqlite+aiosqlite:///:memory:",
        opentelemetry=wanted,
    )
    container = build(settings)
    try:
        app = create_app(container, background=False)
        # FastAPI keeps the configuration it was given there.
        assert _on(app._telemetry) == (wanted, wanted, wanted)
    finally:
        await container.close()


def test_the_webhook_intake_app_never_turns_it_on() -> None:
    assert _on(intake_app()._telemetry) == (False, False, False)
