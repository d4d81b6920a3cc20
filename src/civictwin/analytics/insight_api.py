"""The insight API: indicators, GHG inventory, scenarios and forecasts of the tenant, as JSON.

Authentication is the app-wide gate (dataspace/auth.py); the tenant is the NGSILD-Tenant
header, and every answer reads that tenant only (civictwin.analytics.insight says from where).
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from civictwin.analytics import insight
from civictwin.ngsild.http import broker, tenant_of

router = APIRouter(prefix="/insight", tags=["Insight"])
Period = Annotated[str | None, Query(pattern=r"^\d{4}(-\d{2})?$",
                                     description="YYYY or YYYY-MM (default: the latest).")]


@router.get("/indicators", response_model=None)
def get_indicators(request: Request, district: str | None = None, period: Period = None,
                   output: Annotated[str | None, Query(
                       alias="format", pattern="^(json|csv)$",
                       description="csv: every value, city and districts, every period.")] = None
                   ) -> dict[str, Any] | Response:
    """List the published indicators of the city, or of one district, with their series."""
    if output == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=insight.CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(insight.indicator_rows(broker(request), tenant_of(request)))
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="indicators.csv"'})
    return insight.indicators(broker(request), tenant_of(request), district, period)


@router.get("/ghg")
async def get_ghg(request: Request, year: Annotated[str | None, Query(
        pattern=r"^\d{4}$", description="Inventory year (default: the latest).")] = None
        ) -> dict[str, Any]:
    """Return the GPC BASIC inventory of a year, its trajectory and the factors used."""
    return await run_in_threadpool(insight.ghg, request.app.state.settings, tenant_of(request),
                                   year)


@router.get("/scenarios")
def get_scenarios(request: Request) -> dict[str, Any]:
    """List the saved scenarios with their assumptions."""
    return insight.scenarios(broker(request), tenant_of(request))


@router.get("/scenarios/compare")
def compare_scenarios(request: Request, ids: Annotated[str, Query(
        description="Two saved scenario ids, comma-separated.")]) -> dict[str, Any]:
    """Compare two saved scenarios year by year."""
    return insight.compare(broker(request), tenant_of(request), ids)


@router.get("/scenarios/{scenario_id}")
def get_scenario(request: Request, scenario_id: str,
                 district: str | None = None) -> dict[str, Any]:
    """Return a saved scenario with energy, emissions and cost per year."""
    return insight.scenario(broker(request), tenant_of(request), scenario_id, district)


@router.get("/forecasts")
def get_forecasts(request: Request, entity: str | None = None) -> dict[str, Any]:
    """Return the forecast of an entity against what was measured, or list the forecasts."""
    if entity is None:
        return insight.forecasts(broker(request), tenant_of(request))
    return insight.forecast(broker(request), tenant_of(request), entity)
