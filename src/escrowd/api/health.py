"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from escrowd import __version__
from escrowd.api.deps import ContainerDep
from escrowd.api.strict_json import APIRouter
from escrowd.logging import get_logger

router = APIRouter(tags=["health"])
log = get_logger(__name__)


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="Readiness: the database is reachable")
async def readyz(container: ContainerDep) -> JSONResponse:
    try:
        await container.db.ping()
    except Exception as exc:  # any driver error means "not ready", never a 500
        log.warning("readyz_database_unreachable", error=str(exc))
        return JSONResponse(
            {"status": "unavailable", "checks": {"database": "unreachable"}}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": {"database": "ok"}})
