"""A payer opens a dispute from the escrow's page, as ``POST /v1/disputes`` does: the same
body (checked by the API's own model), the disputes service deciding who may and when, and
the form's hidden ``idempotency_key`` standing for the API's Idempotency-Key (opening one
freezes the escrow). docs/webapp.md."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.api.errors import validated
from escrowd.disputes import service as disputes
from escrowd.disputes.schemas import DisputeCreate
from escrowd.web.once import once
from escrowd.web.routes import FormDep, Viewer, _escrow_page, act, form_key, router


@router.post("/escrows/{escrow_id}/dispute")
async def open_dispute(
    escrow_id: str, request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    typed = {
        "reason": form.get("reason", "")[:40],
        "description": form.get("description", "")[:3000],
    }

    async def opened() -> str:
        body = validated(
            DisputeCreate,
            {
                "escrow": escrow_id,
                "reason": typed["reason"],
                "description": typed["description"].strip() or None,
            },
        )
        dispute = await disputes.open_dispute(
            container,
            actor=viewer,
            escrow_id=body.escrow,
            allocation_id=None,
            reason=body.reason,
            description=body.description,
            evidence=body.evidence,
        )
        return str(dispute["id"])

    async def refused(message: str, status: int) -> Response:
        return await _escrow_page(
            request, container, viewer, escrow_id, error=message, status=status,
            failed="dispute", dispute_form=typed,
        )  # fmt: skip

    return await act(
        once(
            container,
            viewer,
            form_key(form),
            path=f"/app/escrows/{quote(escrow_id)}/dispute",
            values=f"{escrow_id}:{typed['reason']}:{typed['description']}",
            run=opened,
        ),
        refused=refused,
        done=f"/app/escrows/{quote(escrow_id)}?done=disputed",
    )
