"""Request and response shapes for customers and their saved payment methods."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from escrowd.accounts.schemas import Url
from escrowd.api.schemas import RequestModel
from escrowd.clock import unix
from escrowd.customers import models

#: A provider's PaymentMethod id, as the hosted card form (or Stripe.js) returned it.
PaymentMethodId = Annotated[
    str,
    Field(
        min_length=4,
        max_length=255,
        pattern=r"^pm_[A-Za-z0-9_]+$",
        examples=["pm_1PqXyZ2eZvKYlo2C0a1b2c3d"],
    ),
]


# ---- requests -------------------------------------------------------------------------------


class SetupCreate(RequestModel):
    return_url: Url | None = Field(
        default=None,
        description="Sandbox card form only: where the browser goes after the card is saved, "
        "with `?payment_method=pm_…` (and `state`) added.",
    )
    state: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="Sandbox card form only: echoed back on `return_url`."
    )


class PaymentMethodAttach(RequestModel):
    payment_method: PaymentMethodId
    default: bool = Field(
        default=False,
        description="Make it the card escrows are paid with when none is named. The first card "
        "saved becomes the default anyway.",
    )


class CustomerUpdate(RequestModel):
    default_payment_method: PaymentMethodId = Field(
        description="One of your saved payment methods."
    )


# ---- responses ------------------------------------------------------------------------------


class Setup(BaseModel):
    object: Literal["payment_method_setup"] = "payment_method_setup"
    customer: str = Field(description="Your customer id at the provider (cus_…).")
    setup_intent: str = Field(description="The provider's SetupIntent (seti_…).")
    client_secret: str | None = Field(
        description="For Stripe.js (`confirmCardSetup`): the browser collects the card and "
        "confirms the SetupIntent; then attach the resulting payment method."
    )
    card_form_url: str | None = Field(
        description="Sandbox only: the hosted test card form. Open it in the browser; it "
        "returns a `pm_…` to attach with `POST /v1/payment_methods/attach`."
    )


class Card(BaseModel):
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


class PaymentMethod(BaseModel):
    id: str
    object: Literal["payment_method"] = "payment_method"
    provider: str
    type: str
    card: Card | None
    default: bool = Field(description="True for the one escrows use when none is named.")
    created: int

    @classmethod
    def of(cls, row: models.PaymentMethod, *, default_id: str | None) -> PaymentMethod:
        card = None
        if row.type == "card":
            card = Card(
                brand=row.brand,
                last4=row.last4,
                exp_month=row.exp_month,
                exp_year=row.exp_year,
            )
        return cls(
            id=row.id,
            provider=row.provider,
            type=row.type,
            card=card,
            default=row.id == default_id,
            created=unix(row.created_at),
        )


class Customer(BaseModel):
    id: str = Field(description="The provider's customer id (cus_…).")
    object: Literal["customer"] = "customer"
    user: str
    provider: str
    default_payment_method: str | None
    created: int

    @classmethod
    def of(cls, row: models.Customer) -> Customer:
        return cls(
            id=row.provider_customer_id,
            user=row.user_id,
            provider=row.provider,
            default_payment_method=row.default_payment_method,
            created=unix(row.created_at),
        )
