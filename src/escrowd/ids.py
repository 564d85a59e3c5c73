"""Typed, sortable identifiers: ``<prefix>_<ULID>``.

The ULID part sorts by creation time, so cursor pagination can order by id alone.
"""

from __future__ import annotations

import re
from enum import StrEnum

from ulid import ULID


class Prefix(StrEnum):
    user = "usr"
    organization = "org"
    membership = "mbr"
    api_key = "key"
    escrow = "esc"
    allocation = "alloc"
    dispute = "dsp"
    payout = "po"
    account = "acct"
    event = "evt"
    transaction = "txn"
    ledger_account = "lacct"
    ledger_transfer = "ltr"
    request = "req"
    notification = "ntf"
    webhook_endpoint = "we"
    webhook_delivery = "dlv"
    subscription = "subs"
    usage = "use"
    artwork = "art"
    bid = "bid"
    gig = "gig"
    testing_job = "tjob"
    job_slot = "slot"
    booking_job = "bjob"
    booking_application = "bapp"
    booking = "bkg"
    task = "task"
    task_bid = "tbid"


#: A ULID in Crockford's base32 (no I, L, O, U), as ``new_id`` writes it.
_ULID = "[0-9A-HJKMNP-TV-Z]{26}"
_ID_RE = re.compile(rf"^([a-z]+)_({_ULID})$")


def id_pattern(*prefixes: Prefix) -> str:
    """The regular expression of an id of one of these types (for request schemas)."""
    names = [p.value for p in prefixes]
    head = names[0] if len(names) == 1 else f"({'|'.join(names)})"
    return f"^{head}_{_ULID}$"


#: A party: a user or an organization.
PARTY_PATTERN = id_pattern(Prefix.user, Prefix.organization)


def new_id(prefix: Prefix) -> str:
    return f"{prefix.value}_{ULID()}"


def has_prefix(value: str, prefix: Prefix) -> bool:
    """True when ``value`` is a well-formed id of the given type."""
    m = _ID_RE.match(value)
    return bool(m) and m.group(1) == prefix.value  # type: ignore[union-attr]
