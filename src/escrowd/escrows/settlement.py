"""Every kind of escrow operation and its verb, as one explicit table.

A use case hands its own verb to ``operations.run``; the janitor (``operations.settle_stale``),
which finds unsettled operations of any kind, looks the kind up here through the container's
``registries.verbs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from escrowd.escrows import clawback, funding, refund, release
from escrowd.escrows.models import OpKind
from escrowd.escrows.operations import Verb

__all__ = ["VERBS", "Verb"]

VERBS: Mapping[str, Verb] = MappingProxyType(
    {
        OpKind.fund.value: funding.FUND,
        OpKind.capture.value: funding.CAPTURE,
        OpKind.release.value: release.RELEASE,
        OpKind.refund.value: refund.REFUND,
        OpKind.clawback.value: clawback.CLAWBACK,
    }
)
