"""Connected accounts' rules. Pure: no database, no web framework, no provider calls.

- An account's **owner** is a user (``usr_…``, onboarded as an ``individual``) or an
  organization (``org_…``, a ``company``), never both: one ``owner_type`` and one ``owner_id``.
- **Statuses**: ``pending_verification`` (onboarding unfinished, or the provider is checking
  what was submitted), ``verified`` (charges and payouts enabled, nothing due), ``restricted``
  (disabled or something past due after onboarding). The provider adapter derives them.
- **Staleness**: a provider event older than the state escrowd holds is ignored, compared in
  whole seconds (providers date events in seconds).
- **The KYC gate** (``payee_problem``): what stops money from being transferred to a payee,
  as a message that names what is missing and what to do about it. A deauthorized account
  (its owner disconnected it from the platform) is refused first, whatever its status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from escrowd.clock import unix
from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.ids import Prefix, has_prefix
from escrowd.providers.types import Requirements

OwnerType = Literal["user", "organization"]
BusinessType = Literal["individual", "company"]
Status = Literal["pending_verification", "verified", "restricted"]

OWNER_TYPES: Final[tuple[OwnerType, ...]] = get_args(OwnerType)
STATUSES: Final[tuple[Status, ...]] = get_args(Status)

#: The fields an ``account.updated`` event reports as changed (``previous_attributes``).
TRACKED_FIELDS: Final = (
    "status",
    "business_type",
    "charges_enabled",
    "payouts_enabled",
    "details_submitted",
    "requirements",
    "capabilities",
)
#: How many requirement names an error message lists before "and N more".
LISTED: Final = 5


def owner_type_of(party_id: str, *, param: str = "payee") -> OwnerType:
    """``user`` for ``usr_…``, ``organization`` for ``org_…``; anything else is refused."""
    if has_prefix(party_id, Prefix.user):
        return "user"
    if has_prefix(party_id, Prefix.organization):
        return "organization"
    raise InvalidRequestError(
        f"'{party_id}' is not a user (usr_…) or an organization (org_…) id.", param=param
    )


def business_type_for(owner_type: OwnerType) -> BusinessType:
    """A user is onboarded as an individual, an organization as a company."""
    return "individual" if owner_type == "user" else "company"


def requirements_json(req: Requirements) -> dict[str, Any]:
    """The stored (and API) form of the provider's requirements."""
    return {
        "currently_due": list(req.currently_due),
        "eventually_due": list(req.eventually_due),
        "past_due": list(req.past_due),
        "current_deadline": unix(req.current_deadline) if req.current_deadline else None,
        "disabled_reason": req.disabled_reason,
    }


def empty_requirements() -> dict[str, Any]:
    return requirements_json(Requirements())


def is_stale(event_created: datetime, state_as_of: datetime) -> bool:
    """True when an event describes the account as it was before the state escrowd holds.

    Equal seconds are not stale: the provider sends several events in one second (the account,
    then each capability) and each must apply.
    """
    return unix(event_created) < unix(state_as_of)


def listed(names: Sequence[str], limit: int = LISTED) -> str:
    """``a, b, c and 4 more`` — requirement lists can be twenty names long."""
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the KYC gate needs to know about an account (no ORM row in the domain)."""

    id: str
    status: str
    provider_account_id: str | None
    details_submitted: bool
    requirements: Mapping[str, Any]
    capabilities: Mapping[str, str]
    #: The owner disconnected it from the platform (``account.application.deauthorized``).
    deauthorized: bool = False


class PayeeNotReadyError(ConflictError):
    """Money cannot go to this payee yet; ``code`` says why, the message what to do."""

    def __init__(
        self, message: str, *, code: str, party_id: str, account_id: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.party_id = party_id
        self.account_id = account_id


def _names(req: Mapping[str, Any], key: str) -> list[str]:
    value = req.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def payee_problem(party_id: str, account: AccountView | None) -> PayeeNotReadyError | None:
    """Why ``party_id`` cannot receive transfers, or None when its account is ready."""
    owner_type = owner_type_of(party_id)
    if account is None:
        how = (
            "POST /v1/accounts"
            if owner_type == "user"
            else f'POST /v1/accounts with {{"organization": "{party_id}"}} (an organization admin)'
        )
        return PayeeNotReadyError(
            f"payee {party_id} has no connected account: create one with {how} and complete "
            "onboarding",
            code="payee_account_missing",
            party_id=party_id,
        )
    whose = f"payee {party_id}'s account {account.id}"
    if account.deauthorized:
        return PayeeNotReadyError(
            f"{whose} was disconnected from the platform by its owner: no money can be sent to it",
            code="payee_account_deauthorized",
            party_id=party_id,
            account_id=account.id,
        )
    link = f"POST /v1/accounts/{account.id}/onboarding_link"
    if account.provider_account_id is None:
        return PayeeNotReadyError(
            f"{whose} is not set up at the payment provider yet: repeat POST /v1/accounts to "
            "finish creating it, then complete onboarding",
            code="payee_account_incomplete",
            party_id=party_id,
            account_id=account.id,
        )
    req = account.requirements
    if account.status == "pending_verification":
        if account.details_submitted:
            detail = "the payment provider is verifying the details submitted"
        else:
            due = _names(req, "currently_due")
            detail = "onboarding is not finished" + (
                f" (currently due: {listed(due)})" if due else ""
            )
        return PayeeNotReadyError(
            f"{whose} is pending verification: {detail}; the payee completes onboarding "
            f"through {link}",
            code="payee_account_pending",
            party_id=party_id,
            account_id=account.id,
        )
    if account.status == "restricted":
        past_due = _names(req, "past_due")
        due = past_due or _names(req, "currently_due")
        if past_due:
            detail = f"requirements past due: {listed(past_due)}"
        elif due:
            detail = f"requirements due: {listed(due)}"
        else:
            detail = f"disabled ({req.get('disabled_reason') or 'reason not given'})"
        return PayeeNotReadyError(
            f"{whose} is restricted: {detail}; the payee updates their details through {link}",
            code="payee_account_restricted",
            party_id=party_id,
            account_id=account.id,
        )
    transfers = account.capabilities.get("transfers")
    if transfers is not None and transfers != "active":
        return PayeeNotReadyError(
            f"{whose} cannot receive transfers: its transfers capability is {transfers}",
            code="payee_transfers_inactive",
            party_id=party_id,
            account_id=account.id,
        )
    return None
