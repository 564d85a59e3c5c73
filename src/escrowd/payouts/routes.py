"""``/v1/payouts``: a payee requests, an admin approves or rejects, everyone lists their own.

Request, approve and reject move money (or hold it), so each demands an ``Idempotency-Key``.
Approving calls the provider, so it resolves its caller in a short transaction of its own
(``Caller``) and holds none across the call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from escrowd.api.auth import AdminPrincipal, Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, money_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse
from escrowd.api.strict_json import APIRouter
from escrowd.errors import InvalidRequestError, PermissionDeniedError
from escrowd.ids import PARTY_PATTERN
from escrowd.payouts import service
from escrowd.payouts.domain import Interval, PayoutStatus, Weekday
from escrowd.payouts.models import Payout
from escrowd.payouts.schemas import (
    PayoutCreate,
    PayoutDestinationObject,
    PayoutDestinationUpdate,
    PayoutObject,
    PayoutReject,
    PayoutScheduleObject,
    PayoutScheduleUpdate,
)
from escrowd.users.domain import normalize_email

PayoutIdPath = Annotated[
    str, Path(pattern=r"^po_[0-9A-HJKMNP-TV-Z]{26}$", description="The payout's id (po_…).")
]

#: Whose schedule or destination: an organization the caller administers (default: the caller).
AdministeredParty = Annotated[
    str | None,
    Query(pattern=PARTY_PATTERN, description="An organization you are an admin of (org_…)."),
]

router = APIRouter(prefix="/payouts", tags=["payouts"])


@router.post(
    "",
    **money_route(
        "Request a payout of available money (held until an admin reviews it)",
        PayoutObject,
        400,
        403,
        404,
    ),
)
async def create_payout(
    body: PayoutCreate, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> PayoutObject:
    row = await service.request(
        session,
        clock=container.clock,
        actor=principal,
        amount=body.amount,
        currency=body.currency,
        party=body.party,
        provider=body.provider,
    )
    return PayoutObject.of(row)


@router.get(
    "", **list_route("List payouts: your own and your organizations' (admins: all)", PayoutObject)
)
async def list_payouts(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[
        PayoutStatus | None, Query(description="Only payouts in this status.")
    ] = None,
    party: Annotated[
        str | None, Query(pattern=PARTY_PATTERN, description="Only this party's payouts.")
    ] = None,
) -> ListResponse[PayoutObject]:
    stmt = await service.visible(session, actor=principal, status=status, party=party)
    return await page_of(session, stmt, Payout.id, page, url="/v1/payouts", of=PayoutObject.of)


@router.get("/{payout_id}", **retrieve_route("Retrieve a payout", PayoutObject))
async def get_payout(
    payout_id: PayoutIdPath, session: SessionDep, principal: CurrentPrincipal
) -> PayoutObject:
    return PayoutObject.of(await service.get_visible(session, actor=principal, payout_id=payout_id))


@router.post(
    "/{payout_id}/approve",
    **money_route(
        "Approve a requested payout: escrowd sends it to the payment provider (admins)",
        PayoutObject,
        403,
        404,
        429,
        502,
    ),
)
async def approve_payout(
    payout_id: PayoutIdPath, container: ContainerDep, caller: Caller
) -> PayoutObject:
    """In transit (or paid) when the provider takes it; failed, with the provider's code,
    when it refuses (the money is available again)."""
    if not caller.is_admin:
        raise PermissionDeniedError(
            "This needs an admin: log in as an admin or use a platform API key.",
            code="admin_required",
        )
    return await service.approve(container, actor=caller, payout_id=payout_id)


@router.post(
    "/{payout_id}/reject",
    **money_route(
        "Reject a requested payout: the money is available again (admins)",
        PayoutObject,
        400,
        403,
        404,
    ),
)
async def reject_payout(
    payout_id: PayoutIdPath,
    body: PayoutReject,
    session: SessionDep,
    container: ContainerDep,
    principal: AdminPrincipal,
) -> PayoutObject:
    row = await service.reject(
        session, clock=container.clock, actor=principal, payout_id=payout_id, reason=body.reason
    )
    return PayoutObject.of(row)


schedule_router = APIRouter(prefix="/payout_schedule", tags=["payouts"])


@schedule_router.get(
    "",
    **retrieve_route(
        "Your payout schedule (or an organization's you are an admin of)",
        PayoutScheduleObject,
        400,
        403,
    ),
)
async def get_payout_schedule(
    session: SessionDep,
    principal: CurrentPrincipal,
    party: AdministeredParty = None,
) -> PayoutScheduleObject:
    """`manual` until one is set: only payouts the payee requests."""
    return PayoutScheduleObject.of(await service.schedule_of(session, actor=principal, party=party))


@schedule_router.post(
    "",
    **write_route(
        "Set your payout schedule: daily, weekly, monthly or manual",
        PayoutScheduleObject,
        400,
        401,
        403,
        404,
    ),
)
async def set_payout_schedule(
    body: PayoutScheduleUpdate,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
) -> PayoutScheduleObject:
    """From the next period on, the `payouts.auto` sweep pays the whole available balance out
    once per period (docs/payouts.md, "Schedules")."""
    schedule = await service.set_schedule(
        session,
        clock=container.clock,
        actor=principal,
        party=body.party,
        interval=Interval(body.interval),
        weekly_anchor=None if body.weekly_anchor is None else Weekday(body.weekly_anchor),
        monthly_anchor=body.monthly_anchor,
        minimum_amount=body.minimum_amount,
    )
    return PayoutScheduleObject.of(schedule)


destination_router = APIRouter(prefix="/payout_destination", tags=["payouts"])


@destination_router.get(
    "",
    **retrieve_route(
        "Where your PayPal payouts go (or an organization's you are an admin of)",
        PayoutDestinationObject,
        400,
        403,
    ),
)
async def get_payout_destination(
    session: SessionDep,
    principal: CurrentPrincipal,
    party: AdministeredParty = None,
) -> PayoutDestinationObject:
    """`paypal_email` is null until one is set."""
    who, row = await service.destination_of(session, actor=principal, party=party)
    return PayoutDestinationObject.of(who, row)


@destination_router.post(
    "",
    **write_route(
        "Set the PayPal email your PayPal payouts go to",
        PayoutDestinationObject,
        400,
        401,
        403,
        404,
    ),
)
async def set_payout_destination(
    body: PayoutDestinationUpdate,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
) -> PayoutDestinationObject:
    """Payouts requested with `provider: paypal` (money earned in PayPal escrows) are paid to
    this email through PayPal Payouts; a payout already requested keeps the email it had."""
    email = None
    if body.paypal_email is not None:
        try:
            email = normalize_email(body.paypal_email)
        except InvalidRequestError as exc:
            raise InvalidRequestError(exc.message, code=exc.code, param="paypal_email") from None
    who, row = await service.set_destination(
        session, clock=container.clock, actor=principal, party=body.party, paypal_email=email
    )
    return PayoutDestinationObject.of(who, row)
