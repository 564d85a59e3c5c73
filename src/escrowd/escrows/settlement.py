"""Every kind of escrow operation and its verb, as one explicit table.

A use case hands its own verb to ``operations.run``; the janitor (``operations.settle_stale``),
which finds unsettled operations of any kind, looks the kind up here through the container's
``registries.verbs``. A ``clawback`` operation that names a chargeback is a recovery
(``recovery.RECOVERY``: reversals, no refund); the kind's verb picks by the operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from escrowd.escrows import clawback, funding, recovery, refund, release
from escrowd.escrows.models import Operation, OpKind
from escrowd.escrows.operations import Outcome, Settling, Verb
from escrowd.providers.base import PaymentProvider

__all__ = ["VERBS", "Verb"]


def _clawback_verb(op: Operation) -> Verb:
    return recovery.RECOVERY if recovery.is_recovery(op) else clawback.CLAWBACK


async def _call(provider: PaymentProvider, op: Operation) -> Outcome:
    return await _clawback_verb(op).call(provider, op)


async def _settle(ctx: Settling, op: Operation, outcome: Outcome) -> None:
    await _clawback_verb(op).settle(ctx, op, outcome)


#: Clawbacks and chargeback recoveries share the ``clawback`` kind (and its key numbering).
CLAWBACKS = Verb(call=_call, settle=_settle)

VERBS: Mapping[str, Verb] = MappingProxyType(
    {
        OpKind.fund.value: funding.FUND,
        OpKind.capture.value: funding.CAPTURE,
        OpKind.release.value: release.RELEASE,
        OpKind.refund.value: refund.REFUND,
        OpKind.clawback.value: CLAWBACKS,
    }
)
