"""FastAPI's built-in OpenTelemetry as escrowd sets it: on only when asked for.

FastAPI (0.142 and later) traces, measures and logs each request for the OpenTelemetry
providers configured in the process. With none configured it still asks OpenTelemetry's API on
every request whether one is, which cost 2.3 % of a serving process's CPU in the escrow-flow
bench. The API app turns it on with ``ESCROWD_OPENTELEMETRY`` (docs/configuration.md); the
internal apps (the in-process sandbox's webhook intake, the PayPal sandbox) never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # FastAPI's TypedDict; the app passes a plain dict at run time
    from fastapi.telemetry import TelemetryConfig


def telemetry(enabled: bool) -> TelemetryConfig:
    """The ``telemetry=`` argument of ``FastAPI(…)``: traces, metrics and logs all on or off."""
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}
