"""``/v1/bookings``: the handwork marketplace (docs/marketplaces.md, seed 001).

``/v1/bookings/jobs`` is the job board (clients post, workers apply); ``/v1/bookings`` are
the bookings a hire makes, each with its escrow. Paying and releasing go through the escrows
service; payouts (``/v1/payouts``), disputes (``/v1/disputes``, on the booking's escrow),
balances (``/v1/balance``) and the transaction history (``/v1/transactions``) are the core's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path, Query, Request

from escrowd.api.auth import Caller, CurrentPrincipal
from escrowd.api.deps import ContainerDep, SessionDep
from escrowd.api.listing import list_route, money_route, page_of, retrieve_route, write_route
from escrowd.api.pagination import PageDep
from escrowd.api.schemas import ListResponse, error_responses
from escrowd.api.strict_json import APIRouter
from escrowd.ids import Prefix, id_pattern
from escrowd.marketplace.bookings import service
from escrowd.marketplace.bookings.domain import JobStatus
from escrowd.marketplace.bookings.models import Booking, BookingApplication, BookingJob
from escrowd.marketplace.bookings.schemas import (
    ApplicationCreate,
    ApplicationObject,
    BookingCreate,
    BookingObject,
    ClientSummary,
    JobCreate,
    JobObject,
    PayRequest,
    WorkerEarnings,
    application_json,
    job_json,
)

router = APIRouter(prefix="/bookings", tags=["bookings"])

JobIdPath = Annotated[
    str, Path(pattern=id_pattern(Prefix.booking_job), description="A job id (bjob_…).")
]
BookingIdPath = Annotated[
    str, Path(pattern=id_pattern(Prefix.booking), description="A booking id (bkg_…).")
]


@router.post(
    "/jobs",
    **write_route("Post a job (clients)", JobObject, 400, 401, 403),
)
async def create_job(
    body: JobCreate, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> JobObject:
    row = await service.create_job(session, clock=container.clock, actor=principal, body=body)
    return job_json(row)


@router.get("/jobs", **list_route("List posted jobs, newest first", JobObject))
async def list_jobs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
    client: Annotated[
        str | None, Query(pattern=id_pattern(Prefix.user), description="Only this client's.")
    ] = None,
) -> ListResponse[JobObject]:
    return await page_of(
        session,
        service.jobs_query(status=status, client=client),
        BookingJob.id,
        page,
        url="/v1/bookings/jobs",
        of=job_json,
    )


@router.get("/jobs/{job_id}", **retrieve_route("Retrieve a job", JobObject, 400))
async def retrieve_job(job_id: JobIdPath, session: SessionDep, _: CurrentPrincipal) -> JobObject:
    return job_json(await service.get_job(session, job_id=job_id))


@router.post(
    "/jobs/{job_id}/applications",
    **write_route(
        "Apply for a job (workers with a verified connected account or a PayPal email)",
        ApplicationObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def apply(
    job_id: JobIdPath,
    session: SessionDep,
    container: ContainerDep,
    principal: CurrentPrincipal,
    body: Annotated[ApplicationCreate | None, Body()] = None,
) -> ApplicationObject:
    """`amount` is the worker's price (default: the job's budget); the booking is for it."""
    job = await service.get_job(session, job_id=job_id)
    row = await service.apply(
        session,
        clock=container.clock,
        actor=principal,
        job_id=job.id,
        body=body or ApplicationCreate(),
    )
    return application_json(row, job.currency)


@router.get(
    "/jobs/{job_id}/applications",
    **list_route(
        "List a job's applications: all of them for its client and admins, else your own",
        ApplicationObject,
        404,
    ),
)
async def list_applications(
    job_id: JobIdPath, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> ListResponse[ApplicationObject]:
    job, stmt = await service.applications_query(session, job_id=job_id, actor=principal)
    return await page_of(
        session,
        stmt,
        BookingApplication.id,
        page,
        url=f"/v1/bookings/jobs/{job_id}/applications",
        of=lambda row: application_json(row, job.currency),
    )


@router.get(
    "/summary/client",
    summary="Your bookings as a client: jobs posted, money paid, held, released, refunded",
    response_model=ClientSummary,
    responses=error_responses(401, 403),
)
async def client_summary(session: SessionDep, principal: CurrentPrincipal) -> ClientSummary:
    return await service.client_summary(session, actor=principal)


@router.get(
    "/earnings/worker",
    summary="Your earnings as a worker: released, fees, held for you, available balance",
    response_model=WorkerEarnings,
    responses=error_responses(401, 403),
)
async def worker_earnings(session: SessionDep, principal: CurrentPrincipal) -> WorkerEarnings:
    return await service.worker_earnings(session, actor=principal)


@router.post(
    "",
    **write_route(
        "Hire an applicant: the booking and its escrow (the job's client)",
        BookingObject,
        400,
        401,
        403,
        404,
        409,
    ),
)
async def hire(body: BookingCreate, container: ContainerDep, caller: Caller) -> BookingObject:
    """The escrow's payer is you, its one allocation the worker's, its fee
    ESCROWD_BOOKINGS_FEE_BPS, its provider `payment_provider` (`stripe` unless told); pay it
    with `POST /v1/bookings/{id}/pay`."""
    row = await service.hire(
        container,
        actor=caller,
        application_id=body.application,
        provider=body.payment_provider,
    )
    async with container.db.transaction() as s:
        return await service.shown(s, row)


@router.get(
    "",
    **list_route(
        "List your bookings (as client or worker; admins: all), newest first", BookingObject
    ),
)
async def list_bookings(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> ListResponse[BookingObject]:
    return await page_of(
        session,
        service.bookings_query(actor=principal),
        Booking.id,
        page,
        url="/v1/bookings",
        render=lambda rows: service.shown_all(session, rows),
    )


@router.get(
    "/{booking_id}",
    **retrieve_route(
        "Retrieve a booking, with its payment as its escrow shows it", BookingObject, 400
    ),
)
async def retrieve_booking(
    booking_id: BookingIdPath, session: SessionDep, principal: CurrentPrincipal
) -> BookingObject:
    row = await service.get_visible(session, actor=principal, booking_id=booking_id)
    return await service.shown(session, row)


@router.post(
    "/{booking_id}/pay",
    **money_route(
        "Pay the booking (its client): charged and HELD, or PayPal's approval page",
        BookingObject,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def pay(
    booking_id: BookingIdPath,
    container: ContainerDep,
    caller: Caller,
    body: Annotated[PayRequest | None, Body()] = None,
) -> BookingObject:
    """Stripe: the card is charged (a decline is a 402 `card_error`). PayPal: the first call
    answers `payment.next_action.url`, PayPal's approval page; after the client approved,
    the booking is HELD once escrowd has captured the order (on PayPal's webhook, checked at
    PayPal, or on this call again). `payment_provider` other than the booking's: 409
    `payment_provider_mismatch`."""
    return await service.pay(
        container, actor=caller, booking_id=booking_id, body=body or PayRequest()
    )


@router.post(
    "/{booking_id}/complete",
    **write_route(
        "Mark the work complete (the booking's worker)", BookingObject, 400, 401, 403, 404, 409
    ),
)
async def complete(
    booking_id: BookingIdPath, container: ContainerDep, caller: Caller
) -> BookingObject:
    return await service.complete(container, actor=caller, booking_id=booking_id)


@router.post(
    "/{booking_id}/release",
    **money_route(
        "Release the money to the worker (the booking's client, once it is complete)",
        BookingObject,
        400,
        402,
        403,
        404,
        502,
    ),
)
async def release(
    booking_id: BookingIdPath, container: ContainerDep, caller: Caller, request: Request
) -> BookingObject:
    return await service.release_money(
        container,
        actor=caller,
        booking_id=booking_id,
        idempotency_key=request.headers.get("idempotency-key"),
    )


routers = [router]
