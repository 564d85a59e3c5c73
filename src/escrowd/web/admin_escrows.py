"""Admins' escrow search: every escrow, filtered by status, id and party (a payer or a payee,
by id or by a user's email), newest first, paged past the newest 50 rows with a cursor (the
last id shown, as the API's ``starting_after``). The escrows service's ``list_query`` chooses
what an admin may read, as ``GET /v1/escrows`` does; docs/webapp.md."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import exists, or_
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.errors import EscrowdError, InvalidRequestError
from escrowd.escrows import service as escrows
from escrowd.escrows.models import Allocation, Escrow
from escrowd.escrows.states import State
from escrowd.users import service as users
from escrowd.web.routes import SHOWN, Viewer, _role, render, router


@router.get("/admin/escrows")
async def admin_escrows(
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    status: str = "",
    id: str = "",
    party: str = "",
    after: str = "",
) -> Response:
    _role(viewer, "admin")
    status, escrow_id, party, after = status[:40], id.strip()[:64], party.strip()[:320], after[:64]
    filters = {"status": status, "id": escrow_id, "party": party}
    error = None
    shown: list[dict[str, object]] = []
    older = None
    try:
        stmt = escrows.list_query(
            actor=viewer, filters=escrows.ListFilters(status=(status,) if status else ())
        )
        async with container.db.transaction() as session:
            if escrow_id:
                stmt = stmt.where(Escrow.id == escrow_id)
            if party:
                who = party
                if "@" in party:
                    user = await users.get_by_email(session, email=party)
                    if user is None:
                        raise InvalidRequestError(f"No user has the email {party}.", param="party")
                    who = user.id
                payee = exists().where(
                    Allocation.escrow_id == Escrow.id, Allocation.payee_id == who
                )
                stmt = stmt.where(or_(Escrow.payer_id == who, payee))
            if after:
                stmt = stmt.where(Escrow.id < after)
            rows = list(
                (await session.scalars(stmt.order_by(Escrow.id.desc()).limit(SHOWN + 1))).all()
            )
            more = len(rows) > SHOWN
            rows = rows[:SHOWN]
            shown = await escrows.page_json(session, rows)
        if more and rows:
            older = "?" + urlencode(
                {**{k: v for k, v in filters.items() if v}, "after": rows[-1].id}
            )
    except EscrowdError as exc:
        error = exc.message
    newest = "?" + urlencode({k: v for k, v in filters.items() if v}) if after else None
    return render(
        request,
        container,
        "admin_escrows.html",
        viewer,
        status=400 if error else 200,
        escrows=shown,
        filters=filters,
        states=[s.value for s in State],
        older=older,
        newest=newest,
        error=error,
    )
