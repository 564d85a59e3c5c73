"""Request and response shapes for connected accounts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from escrowd.accounts import models
from escrowd.accounts.domain import BusinessType, OwnerType, Status
from escrowd.api.schemas import Metadata, RequestModel
from escrowd.clock import unix
from escrowd.ids import Prefix, id_pattern
from escrowd.providers.types import Link

#: An absolute http(s) address a browser is sent to, kept exactly as given.
Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+[^\s]*$",
        examples=["https://market.example/settings/payouts"],
    ),
]
#: An organization id, as escrowd.ids makes them (anything else is refused before a lookup).
OrgId = Annotated[
    str,
    Field(
        max_length=64,
        examples=["org_01J9Z3Q4K5M6N7P8R9S0T1V2W3"],
        json_schema_extra={"pattern": id_pattern(Prefix.organization)},
    ),
]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")]


# ---- requests -------------------------------------------------------------------------------


class AccountCreate(RequestModel):
    organization: OrgId | None = Field(
        default=None,
        description="Create the account for this organization (you must be one of its "
        "admins; it is onboarded as a company). Leave out to create your own (an individual).",
    )
    country: Country = "US"
    metadata: Metadata = Field(default_factory=dict)


class AccountLinkCreate(RequestModel):
    refresh_url: Url | None = Field(
        default=None,
        description="Where the provider sends the payee when the link expired or was already "
        "used (links work once): make a new link there and send the payee to it. Leave it out "
        "and escrowd's own page does that: it makes a new link and offers it with a button.",
    )
    return_url: Url = Field(
        description="Where the payee lands after onboarding. Onboarding may still be "
        "unfinished: read the account's status (it is updated by the provider's events)."
    )


# ---- responses ------------------------------------------------------------------------------


class AccountRequirements(BaseModel):
    currently_due: list[str] = Field(description="Needed now to keep or enable the account.")
    eventually_due: list[str] = Field(description="Needed later (includes currently due).")
    past_due: list[str] = Field(description="Overdue: the account is disabled until given.")
    current_deadline: int | None = Field(
        description="Unix seconds: when currently due ones become past due."
    )
    disabled_reason: str | None = Field(description="The provider's reason, when disabled.")


class Account(BaseModel):
    id: str = Field(description="escrowd's id (acct_…).")
    object: Literal["account"] = "account"
    provider: str
    provider_account_id: str | None = Field(
        description="The provider's id for the account; null only while creation is unfinished."
    )
    owner_type: OwnerType
    owner_id: str = Field(description="The user (usr_…) or organization (org_…) paid.")
    business_type: BusinessType
    country: str
    status: Status
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    requirements: AccountRequirements
    capabilities: dict[str, str] = Field(description='e.g. {"transfers": "active"}.')
    created: int
    updated: int = Field(description="Unix seconds: when the provider state shown was current.")
    metadata: dict[str, str]
    deauthorized: int | None = Field(
        default=None,
        description="Unix seconds: when the owner disconnected the account from the platform "
        "(null while connected). A disconnected account receives no new escrows or payouts "
        "(409 `payee_account_deauthorized`).",
    )

    @classmethod
    def of(cls, row: models.ConnectedAccount) -> Account:
        req = row.requirements or {}
        return cls(
            id=row.id,
            provider=row.provider,
            provider_account_id=row.provider_account_id,
            owner_type=row.owner_type,
            owner_id=row.owner_id,
            business_type=row.business_type,
            country=row.country,
            status=row.status,
            charges_enabled=row.charges_enabled,
            payouts_enabled=row.payouts_enabled,
            details_submitted=row.details_submitted,
            requirements=AccountRequirements(
                currently_due=list(req.get("currently_due") or []),
                eventually_due=list(req.get("eventually_due") or []),
                past_due=list(req.get("past_due") or []),
                current_deadline=req.get("current_deadline"),
                disabled_reason=req.get("disabled_reason"),
            ),
            capabilities=dict(row.capabilities or {}),
            deauthorized=unix(row.deauthorized_at) if row.deauthorized_at else None,
            created=unix(row.created_at),
            updated=unix(row.updated_at),
            metadata=dict(row.meta or {}),
        )


def account_json(row: models.ConnectedAccount) -> dict[str, Any]:
    """The API representation as JSON data (what an ``account.updated`` event carries)."""
    return Account.of(row).model_dump(mode="json")


class AccountLink(BaseModel):
    object: Literal["account_link"] = "account_link"
    account: str = Field(description="escrowd's account id (acct_…).")
    url: str = Field(description="Send the payee's browser here. Single use.")
    expires_at: int | None = Field(description="Unix seconds; a few minutes after creation.")

    @classmethod
    def of(cls, account_id: str, link: Link) -> AccountLink:
        return cls(
            account=account_id,
            url=link.url,
            expires_at=unix(link.expires_at) if link.expires_at else None,
        )


class LoginLink(BaseModel):
    object: Literal["login_link"] = "login_link"
    account: str
    url: str = Field(description="The payee's dashboard at the provider. Single use.")

    @classmethod
    def of(cls, account_id: str, link: Link) -> LoginLink:
        return cls(account=account_id, url=link.url)
