"""How each kind of escrow operation settles, as one explicit table.

``operations.settle`` looks an operation's kind up here (through the container's
``registries.settlers``) after its provider call: ``settle`` on success, ``fail`` on a known
failure. The functions live beside the verbs they finish.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from escrowd.escrows import funding, refund, release
from escrowd.escrows.models import OpKind
from escrowd.escrows.operations import Settlers

__all__ = ["SETTLERS", "Settlers"]

SETTLERS: Mapping[str, Settlers] = MappingProxyType(
    {
        OpKind.fund.value: Settlers(funding.settle_payment, funding.fail_fund),
        OpKind.capture.value: Settlers(funding.settle_payment, funding.fail_capture),
        OpKind.release.value: Settlers(release.settle),
        OpKind.refund.value: Settlers(refund.settle),
    }
)
