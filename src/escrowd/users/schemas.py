"""Request and response shapes for users and tokens (API keys and organizations: their
subpackages' schemas.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from escrowd.api.schemas import ApiObject, Metadata, RequestModel
from escrowd.clock import unix
from escrowd.users import models
from escrowd.users.domain import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    Role,
)

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]
#: Passwords are taken exactly as typed (no whitespace stripping); length rules in domain.py.
Password = Annotated[str, StringConstraints(strip_whitespace=False, max_length=4096)]
#: A new password: the length rules of domain.check_password, stated for the document (the
#: check itself stays there, so a short one gets its own `password_too_short` code).
NewPassword = Annotated[
    Password,
    Field(
        json_schema_extra={"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH},
        description=f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters, taken as typed.",
    ),
]
Email = Annotated[str, Field(max_length=320, examples=["ann@example.com"])]
#: A new user's email: the rule of domain.normalize_email, stated for the document (the check
#: itself stays there, so a bad one gets its own `email_invalid` code).
NewEmail = Annotated[
    Email,
    Field(
        # No `format: email`: that is RFC 5322, stricter than the rule escrowd applies.
        json_schema_extra={"pattern": EMAIL_PATTERN, "maxLength": EMAIL_MAX_LENGTH}
    ),
]
METADATA = "Your own key-value pairs (up to 50; keys ≤ 40, values ≤ 500 characters)."
UserId = Annotated[str, Field(max_length=64, examples=["usr_01J9Z3Q4K5M6N7P8R9S0T1V2W3"])]


# ---- requests -------------------------------------------------------------------------------


class UserCreate(RequestModel):
    email: NewEmail = Field(
        description="The user's email address: it is their login. One `@`, no spaces, a "
        "dotted domain; compared without regard to case."
    )
    password: NewPassword
    name: Name = Field(description="How the user is shown to others, e.g. 'Ann Lee'.")
    role: Role = Field(
        default="client",
        description="client or worker; only an admin may create another admin.",
    )
    metadata: Metadata = Field(default_factory=dict, description=METADATA)


class UserUpdate(RequestModel):
    name: Name | None = Field(default=None, description="How the user is shown to others.")
    role: Role | None = Field(default=None, description="Admins only.")
    disabled: bool | None = Field(
        default=None, description="Admins only. A disabled user's tokens stop working at once."
    )
    metadata: Metadata | None = Field(
        default=None, description="Replaces the metadata. " + METADATA
    )


class TokenCreate(RequestModel):
    email: Email = Field(description="The email address the user signed up with.")
    password: Password = Field(description="The user's password.")


# ---- responses ------------------------------------------------------------------------------


class User(ApiObject):
    id: str
    object: Literal["user"] = "user"
    email: str
    name: str
    role: Role
    disabled: bool
    created: int
    metadata: dict[str, str]

    @classmethod
    def of(cls, u: models.User) -> User:
        return cls(
            id=u.id,
            email=u.email,
            name=u.name,
            role=u.role,
            disabled=u.disabled,
            created=unix(u.created_at),
            metadata=dict(u.meta or {}),
        )


class AccessToken(BaseModel):
    object: Literal["access_token"] = "access_token"
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int = Field(description="Seconds until the token expires.")
    user: User
