"""Seed 000's pages: the job board with its tester slots. A client sees its jobs and their
slots and approves or rejects a submitted slot; a tester (a payee) claims a slot and submits
its work. The job marketplace's service does everything, exactly as ``/v1/jobs`` calls it, so
who may do what is the API's rule; docs/webapp.md."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.errors import validated
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.customers import service as customers
from escrowd.customers.models import PaymentMethod
from escrowd.errors import EscrowdError, InvalidRequestError, NotFoundError
from escrowd.escrows.models import Escrow
from escrowd.marketplace.jobs import service as jobs
from escrowd.marketplace.jobs.domain import MAX_TESTERS, JobStatus, SlotStatus
from escrowd.marketplace.jobs.routes import PUBLISH_RATE
from escrowd.marketplace.jobs.schemas import JobCreate, JobObject, job_json
from escrowd.money import normalize_currency
from escrowd.web.once import once
from escrowd.web.routes import (
    LIVE_TYPES,
    SHOWN,
    FormDep,
    Refused,
    Viewer,
    act,
    form_key,
    live_stream,
    render,
    see_other,
)
from escrowd.web.service import PageMissing, parse_amount

#: Served only when ESCROWD_MARKETPLACES runs the jobs flow (``mount.install``).
router = APIRouter(prefix="/app", include_in_schema=False)

PUBLISHED = "Published: the budget is held in escrow and testers may claim slots."
AUTHENTICATED = "Authenticated: the job opens as soon as the payment is confirmed."


async def _board(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    """Published jobs, newest first, and the viewer's own drafts (``list_query``'s rule)."""
    async with container.db.transaction() as session:
        rows = (await session.scalars(jobs.list_query(actor=viewer).limit(SHOWN))).all()
        shown = [job_json(r, await jobs.slots_of(session, r.id), viewer=viewer) for r in rows]
    return render(
        request,
        container,
        "jobs.html",
        viewer,
        status=status,
        jobs=shown,
        error=error,
        # Next to the form when the viewer has it (a client), else at the top of the page.
        failed="post" if error and viewer.role == "client" else None,
        form=form or {"currency": "usd", "max_testers": "1"},
        max_testers=MAX_TESTERS,
    )


@router.get("/jobs")
async def job_board(request: Request, container: ContainerDep, viewer: Viewer) -> Response:
    return await _board(request, container, viewer)


def _job_create(form: dict[str, str]) -> JobCreate:
    """The form's fields as ``POST /v1/jobs``'s body: the amount typed like ``100.00``, and
    the body checked by the API's own model (its messages, its limits)."""
    currency = normalize_currency(form["currency"])
    budget = parse_amount(form["budget_per_tester"], currency, field="budget per tester")
    typed = form["max_testers"].strip()
    if not typed.isdigit():
        raise InvalidRequestError(
            f"Enter how many testers as a whole number from 1 to {MAX_TESTERS}.",
            param="max_testers",
        )
    body = {
        "title": form["title"].strip(),
        "description": form["description"].strip() or None,
        "currency": currency,
        "budget_per_tester": budget,
        "max_testers": int(typed[:6]),
    }
    return validated(JobCreate, body)


@router.post("/jobs")
async def post_job(
    request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """Draft a job as ``POST /v1/jobs`` does (clients only: the service's rule)."""
    typed = {
        "title": form.get("title", "")[:300],
        "description": form.get("description", "")[:6000],
        "currency": form.get("currency", "usd")[:3],
        "budget_per_tester": form.get("budget_per_tester", "")[:40],
        "max_testers": form.get("max_testers", "")[:10],
    }
    try:
        body = _job_create(typed)
        async with container.db.transaction() as session:
            row = await jobs.create_job(session, clock=container.clock, actor=viewer, body=body)
            job_id = row.id
    except EscrowdError as exc:
        return await _board(
            request, container, viewer, error=exc.message, status=exc.http_status, form=typed
        )
    return see_other(_back(job_id, "drafted"))


async def _job_read(
    container: ContainerDep, viewer: Principal, job_id: str
) -> tuple[JobObject, Escrow | None, str | None]:
    """The job as the viewer may see it, its escrow, and the stream its page follows."""
    async with container.db.transaction() as session:
        try:
            row = await jobs.get_job(session, job_id=job_id, actor=viewer)
        except NotFoundError as exc:
            raise PageMissing(exc.message) from exc
        escrow = await session.get(Escrow, row.escrow_id) if row.escrow_id else None
        job = job_json(row, await jobs.slots_of(session, row.id), viewer=viewer)
        stream = await live_stream(session, viewer, job.escrow) if job.escrow else None
    return job, escrow, stream


async def _job_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    job_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    job, escrow, stream = await _job_read(container, viewer, job_id)
    if job.status is JobStatus.draft and escrow is not None and escrow.status == "held":
        # Paid since publishing answered (3-D Secure completed): open it now, as the
        # ``jobs.open_paid`` sweep would shortly.
        await jobs.open_paid_drafts(container, job_id=job.id)
        job, escrow, stream = await _job_read(container, viewer, job_id)
    escrow_status = escrow.status if escrow is not None else None
    authenticate = escrow.next_action_url if escrow is not None else None
    asks_3ds = job.status is JobStatus.draft and escrow_status == "requires_action"
    if notice in (PUBLISHED, AUTHENTICATED) and job.status is JobStatus.draft:
        if notice == PUBLISHED and not asks_3ds:
            error = f"Not published yet: the job's escrow is {escrow_status}."
        notice = None
    if notice is None and asks_3ds:
        # The card asks for 3-D Secure: the page has the link; the job opens once paid.
        notice = "This card asks for 3-D Secure: complete it to publish the job."
    me = viewer.user_id
    client = viewer.is_admin or (me is not None and me == job.client)
    # Publishing pays with the client's own saved cards, so it is offered to the client (an
    # admin may publish through the API, with the client's default card).
    owner = me is not None and me == job.client
    cards, default = await _cards(container, viewer) if owner else ([], None)
    mine = next((s for s in job.slots if me is not None and s.tester == me), None)
    can_claim = (
        viewer.role == "worker"
        and job.status is JobStatus.open
        and mine is None
        and any(s.status is SlotStatus.open for s in job.slots)
    )
    return render(
        request,
        container,
        "job.html",
        viewer,
        status=status,
        job=job,
        stream=stream,
        event_types=LIVE_TYPES,
        client=client,
        can_claim=can_claim,
        can_publish=owner and job.status is JobStatus.draft,
        can_cancel=client and job.status in (JobStatus.draft, JobStatus.open),
        cards=cards,
        default=default,
        authenticate=authenticate if owner and escrow_status == "requires_action" else None,
        error=error,
        notice=notice,
    )


async def _cards(
    container: ContainerDep, viewer: Principal
) -> tuple[list[PaymentMethod], str | None]:
    if viewer.user_id is None:
        return [], None
    async with container.db.transaction() as session:
        stmt = customers.list_query(user_id=viewer.user_id).order_by(PaymentMethod.id)
        cards = list((await session.scalars(stmt)).all())
        default = await customers.default_payment_method(
            session, user_id=viewer.user_id, provider=container.provider.name
        )
    return cards, default


@router.get("/jobs/{job_id}")
async def job_page(
    job_id: str, request: Request, container: ContainerDep, viewer: Viewer, done: str = ""
) -> Response:
    notice = {
        "drafted": "Job drafted: publish it to pay its budget into escrow and open its slots.",
        "published": PUBLISHED,
        "authenticated": AUTHENTICATED,
        "cancelled": "Cancelled: the unclaimed slots' money goes back to you.",
        "claimed": "You claimed a slot: do the testing, then submit your report.",
        "submitted": "Report submitted: the client reviews it.",
        "approved": "Approved: the slot's money is released to its tester.",
        "rejected": "Rejected: the money stays in escrow; the tester may submit again.",
    }.get(done)
    return await _job_page(request, container, viewer, job_id, notice=notice)


def _back(job_id: str, done: str) -> str:
    return f"/app/jobs/{quote(job_id)}?done={done}"


def _refused(request: Request, container: ContainerDep, viewer: Principal, job_id: str) -> Refused:
    async def page(message: str, status: int) -> Response:
        return await _job_page(request, container, viewer, job_id, error=message, status=status)

    return page


@router.post("/jobs/{job_id}/claim")
async def claim_slot(
    job_id: str, request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    return await act(
        jobs.claim(container, actor=viewer, job_id=job_id),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "claimed"),
    )


@router.post("/jobs/{job_id}/slots/{slot_id}/submit")
async def submit_slot(
    job_id: str,
    slot_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    text = form.get("submission", "")[:5000].strip()

    async def submit() -> None:
        if not text:
            raise InvalidRequestError("Write your report before submitting.", param="submission")
        async with container.db.transaction() as session:
            await jobs.submit(
                session,
                clock=container.clock,
                actor=viewer,
                job_id=job_id,
                slot_id=slot_id,
                text=text,
            )

    return await act(
        submit(),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "submitted"),
    )


@router.post("/jobs/{job_id}/slots/{slot_id}/approve")
async def approve_slot(
    job_id: str,
    slot_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    feedback = form.get("feedback", "")[:2000].strip() or None
    return await act(
        jobs.approve(
            container,
            actor=viewer,
            job_id=job_id,
            slot_id=slot_id,
            feedback=feedback,
            idempotency_key=form_key(form),
        ),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "approved"),
    )


@router.post("/jobs/{job_id}/slots/{slot_id}/reject")
async def reject_slot(
    job_id: str,
    slot_id: str,
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    feedback = form.get("feedback", "")[:2000].strip() or None

    async def reject() -> None:
        async with container.db.transaction() as session:
            await jobs.reject(
                session,
                clock=container.clock,
                actor=viewer,
                job_id=job_id,
                slot_id=slot_id,
                feedback=feedback,
            )

    return await act(
        reject(),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "rejected"),
    )


@router.post("/jobs/{job_id}/publish")
async def publish_job(
    job_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """Pay the job's budget into escrow as ``POST /v1/jobs/{id}/publish`` does (the same rate
    limit and plan limit), with the chosen saved card or the default one; once per form key."""
    card = form.get("payment_method", "")[:255] or None
    path = f"/app/jobs/{quote(job_id)}/publish"

    back = f"{str(request.base_url).rstrip('/')}{_back(job_id, 'authenticated')}"

    async def publish() -> str:
        await jobs.publish(
            container,
            actor=viewer,
            job_id=job_id,
            payment_method=card,
            rate=PUBLISH_RATE,
            return_url=back,
        )
        return job_id

    return await act(
        once(container, viewer, form_key(form), path=path, values=f"{job_id}:{card}", run=publish),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "published"),
    )


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(
    job_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """Cancel as ``POST /v1/jobs/{id}/cancel`` does: a draft is dropped, an open job's
    unclaimed slots are refunded; once per form key."""

    async def cancel() -> str:
        return await jobs.cancel(container, actor=viewer, job_id=job_id)

    return await act(
        once(
            container,
            viewer,
            form_key(form),
            path=f"/app/jobs/{quote(job_id)}/cancel",
            values=job_id,
            run=cancel,
        ),
        refused=_refused(request, container, viewer, job_id),
        done=_back(job_id, "cancelled"),
    )
