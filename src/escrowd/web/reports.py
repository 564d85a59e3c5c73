"""The admins' reports page: platform fees by period and payment success rates, as charts
drawn on the server (``web.charts``) with the numbers in tables beside them."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from escrowd.api.deps import ContainerDep
from escrowd.transactions.domain import Period
from escrowd.web.figures import revenue_charts, success_chart
from escrowd.web.routes import Viewer, _role, render, router


@router.get("/admin/reports")
async def reports(
    request: Request, container: ContainerDep, viewer: Viewer, period: str = "week"
) -> Response:
    _role(viewer, "admin")
    chosen = Period(period) if period in {p.value for p in Period} else Period.week
    now = container.clock.now()
    async with container.db.transaction() as session:
        revenue = await revenue_charts(session, now=now, period=chosen)
        success_svg, success_rows = await success_chart(session, now=now, period=chosen)
    return render(
        request,
        container,
        "admin_reports.html",
        viewer,
        period=chosen.value,
        periods=[p.value for p in Period],
        revenue=revenue,
        success_svg=success_svg,
        success_rows=success_rows,
    )
