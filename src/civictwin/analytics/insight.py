"""What the /insight API answers, read from what the twin has computed or computed on demand.

- indicators: the published `KeyPerformanceIndicator` entities (`civictwin indicators`);
- GHG: compiled on demand from the Parquet lake (`civictwin lake export`) with the factor table
  (the shipped defaults and the city's `emission_factors` file), cached per lake state;
- scenarios: the saved scenario runs (`civictwin scenario run`);
- forecasts: the `EnergyForecast` entities (`civictwin forecast`), with the meters' measured
  history beside them where it exists.

Every function takes a tenant and reads only that tenant's data.
"""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from civictwin.analytics import forecast_runs
from civictwin.analytics.ghg import (
    Inventory,
    build_inventory,
    gpc_summary,
    load_factors,
    trajectory,
)
from civictwin.analytics.indicators import REGISTER, data_range
from civictwin.analytics.scenario_runs import Trajectory
from civictwin.analytics.scenario_runs import compare as compare_saved
from civictwin.analytics.scenario_runs import trajectory as saved_trajectory
from civictwin.analytics.stock import context, entities_of_type, hourly_series, value
from civictwin.config import Settings
from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.jsonld import Context
from civictwin.ngsild.temporal import history_for
from civictwin.store.base import Entity
from civictwin.store.scenario import ScenarioStore

ENERGY_METRICS = ("electricity_demand", "gas", "oil", "district_heat", "biomass")


# -- indicators ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Kpi:
    key: str
    area: str  # "" for the city
    period: str
    value: float | None
    quality: dict[str, Any]


def _kpi(entity: Entity, ctx: Context) -> _Kpi | None:
    iso = value(entity, ctx, "isoIndicator") or {}
    key = iso.get("indicator") if isinstance(iso, dict) else None
    period = value(entity, ctx, "calculationPeriod") or {}
    frequency = value(entity, ctx, "calculationFrequency")
    if key not in REGISTER or not isinstance(period, dict) or "from" not in period:
        return None  # not one of ours (or published by an older civictwin)
    start = str(period["from"])
    label = start[:7] if frequency == "monthly" else start[:4]
    number = value(entity, ctx, "kpiValue")
    quality = value(entity, ctx, "dataQuality") or {}
    return _Kpi(str(key), str(value(entity, ctx, "refCityDistrict") or ""), label,
                float(number) if isinstance(number, int | float) else None,
                quality if isinstance(quality, dict) else {})


def indicators(broker: ContextBroker, tenant: str, district: str | None = None,
               period: str | None = None) -> dict[str, Any]:
    """Return the published indicators of the city (or one district) with their series."""
    ctx = context(broker)
    found = [k for e in entities_of_type(broker, tenant, "KeyPerformanceIndicator")
             if (k := _kpi(e, ctx)) is not None and k.area == (district or "")]
    if district and not found and broker.store.get_entity(tenant, district) is None:
        raise ResourceNotFound(f"no district {district} in the twin")
    grouped: dict[str, list[_Kpi]] = defaultdict(list)
    for k in found:  # a yearly and a monthly value are two series: take the one asked for
        grouped[k.key].append(k)
    out = []
    for key in (k for k in REGISTER if k in grouped):
        widths = {len(k.period) for k in grouped[key]}
        width = len(period) if period else min(widths)
        series = sorted((k for k in grouped[key] if len(k.period) == width),
                        key=lambda k: k.period)
        chosen = [k for k in series if k.period == period] if period else series[-1:]
        if chosen:
            out.append(_indicator_json(key, chosen[0], series, district))
    return {"indicators": out, "source": "published KeyPerformanceIndicator entities",
            "district": district, "period": period}


CSV_COLUMNS = ("indicator", "name", "iso", "iso_confirmed", "area", "period", "value", "unit",
               "grade", "coverage", "timeliness", "method", "note")


def indicator_rows(broker: ContextBroker, tenant: str) -> list[dict[str, Any]]:
    """Return every published value, city and districts, every period, as flat CSV rows."""
    ctx = context(broker)
    found = [k for e in entities_of_type(broker, tenant, "KeyPerformanceIndicator")
             if (k := _kpi(e, ctx)) is not None]
    order = list(REGISTER)
    found.sort(key=lambda k: (order.index(k.key), k.area, len(k.period), k.period))
    return [{"indicator": k.key, "name": REGISTER[k.key].name, "iso": REGISTER[k.key].iso or "",
             "iso_confirmed": REGISTER[k.key].confirmed, "area": k.area or "city",
             "period": k.period, "value": "" if k.value is None else k.value,
             "unit": REGISTER[k.key].unit, "grade": k.quality.get("grade", ""),
             "coverage": k.quality.get("coverage", ""),
             "timeliness": k.quality.get("timeliness", ""),
             "method": k.quality.get("method", ""), "note": k.quality.get("note", "")}
            for k in found]


def _indicator_json(key: str, current: _Kpi, series: list[_Kpi],
                    district: str | None) -> dict[str, Any]:
    spec = REGISTER[key]
    q = current.quality
    grade = None if q.get("grade") in (None, "none") else {
        "coverage": q.get("coverage"), "timeliness": q.get("timeliness"),
        "method": q.get("method"), "overall": q.get("grade")}
    return {"id": key, "name": spec.name, "iso": spec.iso, "isoConfirmed": spec.confirmed,
            "isoSource": spec.iso_source or None, "standard": spec.standard,
            "unit": spec.unit, "value": current.value, "period": current.period,
            "district": district, "series": [{"period": k.period, "value": k.value}
                                             for k in series],
            "grade": grade, "note": q.get("note", ""), "datasets": list(spec.datasets),
            "formula": spec.formula}


# -- greenhouse gases ----------------------------------------------------------------------
_CACHE: dict[tuple[str, ...], tuple[Inventory, float]] = {}
_LOCK = threading.Lock()


def _inventory(settings: Settings, tenant: str) -> tuple[Inventory, float]:
    """Compile (or reuse) the inventory of every billed year in the tenant's lake."""
    from civictwin.analytics.engine import JOBS, open_engine
    from civictwin.analytics.lake import Lake

    lake = Lake.at(settings.lake_path, tenant)
    state = json.dumps(lake.read_state(), sort_keys=True)
    if not lake.files("history"):
        raise ResourceNotFound(f"no lake at {settings.lake_path} for this tenant: run "
                               "`civictwin lake export` first")
    key = (settings.lake_path, tenant, state, settings.emission_factors)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        engine = open_engine(settings.analytics_engine, lake, settings.spark_master)
        try:
            table = load_factors(_factor_file(settings))
            billed = data_range(engine)
            if billed is None:
                raise ResourceNotFound("the lake holds no billed energy")
            end = f"{int(billed[1][:4]) + 1}-01-01"
            inventory = build_inventory(engine, table, f"{billed[0][:4]}-01-01", end)
            people = float(sum(r["population"] for r in engine.run(
                JOBS["district_population"])))
        finally:
            engine.close()
        _CACHE.clear()
        _CACHE[key] = (inventory, people)
        return inventory, people


def _factor_file(settings: Settings) -> Any:
    from pathlib import Path

    return Path(settings.emission_factors) if settings.emission_factors else None


def ghg(settings: Settings, tenant: str, year: str | None = None) -> dict[str, Any]:
    """Return one year of the GPC BASIC inventory by sub-sector and scope, and the trajectory."""
    inventory, people = _inventory(settings, tenant)
    chosen = year or inventory.years[-1]
    if chosen not in inventory.years:
        raise ResourceNotFound(f"no inventory for {chosen}: the lake has "
                               f"{', '.join(inventory.years)}")
    sectors: dict[tuple[str, str, str], list[float | None]] = defaultdict(list)
    for line in inventory.lines:
        if line.year == chosen:
            ref = line.gpc_ref.rsplit(".", 1)[0] if not line.notation else line.gpc_ref
            sectors[(ref, line.sub_sector, line.scope)].append(line.emissions_t)
    rows = [{"sector": sub, "gpcRef": ref, "scope": scope,
             "tco2e": None if all(v is None for v in vs) else sum(v or 0.0 for v in vs),
             "notation": "NE" if all(v is None for v in vs) else None}
            for (ref, sub, scope), vs in sorted(sectors.items())]
    total = inventory.total(chosen)
    factors = inventory.factors
    return {"year": chosen, "total_tco2e": total,
            "per_capita_tco2e": total / people if people else None,
            "sectors": rows, "trajectory": [
                {"year": p.year, "actual": p.emissions_t, "target": p.target_t}
                for p in trajectory(inventory)],
            "factors": {"version": factors.version, "sources": list(factors.sources),
                        "gridRenewableShare": factors.grid_renewable_share,
                        "carriers": {c: {"factor": f.factor, "scope": f.scope,
                                         "source": f.source, "confirmed": f.confirmed}
                                     for c, f in factors.carriers.items()}},
            "gpc": gpc_summary(inventory, chosen), "years": inventory.years}


# -- scenarios -----------------------------------------------------------------------------
def scenarios(broker: ContextBroker, tenant: str) -> dict[str, Any]:
    """List the tenant's saved scenarios with their assumptions."""
    return {"scenarios": [_scenario_head(r) for r in ScenarioStore(broker.store).saved(tenant)]}


def _scenario_head(record: Any) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "description": record.description,
            "assumptions": record.assumptions, "baseYear": record.base_year,
            "endYear": record.end_year, "buildings": record.buildings,
            "weatherSource": record.weather_source, "modelVersion": record.model_version,
            "createdAt": record.created_at}


def _years(found: Trajectory) -> list[dict[str, Any]]:
    t = found.totals
    return [{"year": year,
             "energy_mwh": sum(t[m][i] for m in ENERGY_METRICS) / 1000.0,
             "tco2e": t["emissions"][i], "cost_eur": t["energy_cost"][i],
             "pv_mwh": t["pv_generation"][i] / 1000.0, "investment_eur": t["investment"][i]}
            for i, year in enumerate(found.years)]


def scenario(broker: ContextBroker, tenant: str, scenario_id: str,
             district: str | None = None) -> dict[str, Any]:
    """Return a saved scenario with its results per year (the city's, or one district's)."""
    found = saved_trajectory(ScenarioStore(broker.store), tenant, scenario_id, district)
    return {**_scenario_head(found.record), "district": district, "years": _years(found)}


def compare(broker: ContextBroker, tenant: str, ids: str) -> dict[str, Any]:
    """Compare two saved scenarios on their shared years: both, and second minus first."""
    names = [i.strip() for i in ids.split(",") if i.strip()]
    if len(names) != 2:
        raise BadRequestData("ids: give two saved scenario ids, comma-separated")
    found = compare_saved(ScenarioStore(broker.store), tenant, names[0], names[1])
    first, second = (
        {**_scenario_head(t.record), "years": [y for y in _years(t) if y["year"] in found.years]}
        for t in (found.first, found.second))
    difference = [{k: (b[k] - a[k] if k != "year" else a["year"]) for k in a}
                  for a, b in zip(first["years"], second["years"], strict=True)]
    return {"scenarios": [first, second], "years": found.years, "difference": difference}


# -- forecasts -----------------------------------------------------------------------------
def _forecast_entity(broker: ContextBroker, tenant: str, entity: str) -> Entity:
    for candidate in (entity, forecast_runs.forecast_id(entity)):
        found = broker.store.get_entity(tenant, candidate)
        if found is not None and forecast_runs.FORECAST_TYPE in found.types:
            return found
    raise ResourceNotFound(f"no EnergyForecast for {entity}: run `civictwin forecast` first")


def forecasts(broker: ContextBroker, tenant: str) -> dict[str, Any]:
    """List the tenant's EnergyForecast entities and what each forecasts."""
    ctx = context(broker)
    return {"forecasts": [{"id": e.id, "entity": _target(e, ctx)[0],
                           "kind": _target(e, ctx)[1],
                           "validFrom": _moment(value(e, ctx, "validFrom")),
                           "dateIssued": _moment(value(e, ctx, "dateIssued"))}
                          for e in entities_of_type(broker, tenant, "EnergyForecast")]}


def _target(entity: Entity, ctx: Context) -> tuple[str, str]:
    for name, kind in (("refBuilding", "building"), ("refCityDistrict", "district"),
                       ("refDevice", "meter")):
        found = value(entity, ctx, name)
        if found:
            return str(found), kind
    return entity.id, "unknown"


def _moment(raw: Any) -> str:
    return str(raw.get("@value")) if isinstance(raw, dict) else str(raw or "")


def forecast(broker: ContextBroker, tenant: str, entity: str) -> dict[str, Any]:
    """Return the latest forecast of an entity with the measured values beside it."""
    ctx = context(broker)
    found = _forecast_entity(broker, tenant, entity)
    target, kind = _target(found, ctx)
    attr = found.attrs.get(ctx.expand("electricityConsumptionForecast")) or [{}]
    values = [float(v) for v in attr[0].get("valueList", [])]
    step = forecast_runs.STEPS.get(str(value(found, ctx, "timeStep", "PT1H")), 3600)
    start = pd.Timestamp(_moment(value(found, ctx, "validFrom")))
    times = pd.date_range(start, periods=len(values), freq=f"{step}s")
    actual = _actuals(broker, tenant, target, kind, times, step)
    points = [{"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "forecast": v, "actual": a}
              for t, v, a in zip(times, values, actual, strict=True)]
    pairs = [(p["actual"], p["forecast"]) for p in points if p["actual"]]
    model = value(found, ctx, "forecastModel") or {}
    return {"entity": target, "kind": kind, "forecastEntity": found.id,
            "model": f"{model.get('algorithm', '?')} {model.get('version', '')}".strip(),
            "dateIssued": _moment(value(found, ctx, "dateIssued")),
            "timeStep": value(found, ctx, "timeStep"), "points": points,
            "mape": value(found, ctx, "backtestMAPE"),
            "backtest": {name: value(found, ctx, name) for name in (
                "backtestMAPE", "backtestRMSE", "seasonalNaiveMAPE", "seasonalNaiveRMSE")},
            "actualMape": (100.0 * sum(abs(f - a) / abs(a) for a, f in pairs) / len(pairs)
                           if pairs else None)}


def _actuals(broker: ContextBroker, tenant: str, target: str, kind: str,
             times: pd.DatetimeIndex, step: int) -> list[float | None]:
    """Return the measured kWh of the forecast steps (None where nothing was measured)."""
    try:
        meters = forecast_runs.resolve(
            broker, tenant, district=target) if kind == "district" else forecast_runs.resolve(
            broker, tenant, entity=target)
    except (BadRequestData, ResourceNotFound):
        return [None] * len(times)
    since = (times[0] - pd.Timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    series = hourly_series(history_for(broker.store), tenant, meters.meters,
                           context(broker).expand(forecast_runs.ATTRIBUTE), "sum",
                           since=since, step=step)
    if series is None:
        return [None] * len(times)
    return [None if (x := series.get(t)) is None or math.isnan(x) else float(x)
            for t in times]



# -- computing it all for a twin (the demo) ------------------------------------------------
def compute_all(settings: Settings, broker: ContextBroker, tenant: str,
                scenario_files: list[Any], step: Any = lambda _: None) -> dict[str, int]:
    """Export the lake, publish the indicators, run scenarios and forecast one district.

    What /insight then serves for the twin; returns how much of each was written.
    """
    from civictwin.analytics import indicators as ind
    from civictwin.analytics.engine import open_engine
    from civictwin.analytics.lake import Lake, export_lake
    from civictwin.analytics.scenario import load_assumptions
    from civictwin.analytics.scenario_runs import run_on_twin
    from civictwin.ngsild.attributes import now_iso
    from civictwin.store.lake import LakeSource

    done = {"lake_rows": 0, "indicators": 0, "scenarios": 0, "forecasts": 0}
    engine = getattr(broker.store, "engine", None)
    if engine is not None:
        step("exporting the history to the lake")
        lake = Lake.at(settings.lake_path, tenant)
        done["lake_rows"] = export_lake(LakeSource(engine), lake, context(broker).compact,
                                        settle=0).rows
        step("computing and publishing the indicators")
        analytics = open_engine(settings.analytics_engine, lake, settings.spark_master)
        try:
            table = load_factors(_factor_file(settings))
            billed = data_range(analytics)
            if billed is not None:
                start, end = ind.period_range(billed[1][:4], billed)
                values = [*ind.compute(analytics, table, start, end, "year"),
                          *ind.compute(analytics, table, start, end, "month")]
                done["indicators"] = ind.publish(broker, tenant, values, tenant or "city",
                                                 now_iso())
        finally:
            analytics.close()
        if done["indicators"]:
            step("compiling the GHG inventory")
            _inventory(settings, tenant)  # cached for /insight/ghg when served by this process
    for path in scenario_files:
        step(f"running the scenario {path.stem}")
        run_on_twin(broker, tenant, load_assumptions(path))
        done["scenarios"] += 1
    done["forecasts"] = _forecast_first(broker, tenant, step)
    return done


def _forecast_first(broker: ContextBroker, tenant: str, step: Any) -> int:
    """Forecast the first meter with history: its building and its district."""
    ctx = context(broker)
    history = history_for(broker.store)
    attr = ctx.expand(forecast_runs.ATTRIBUTE)
    for meter in entities_of_type(broker, tenant, "SmartMeteringObservation"):
        if hourly_series(history, tenant, [meter.id], attr, "sum") is None:
            continue
        building = str(value(meter, ctx, "refBuilding") or "")
        found = broker.store.get_entity(tenant, building)
        district = str(value(found, ctx, "refCityDistrict") or "") if found else ""
        written = 0
        for target in ((building, None), (None, district)):
            if target[0] or target[1]:
                step(f"forecasting {target[0] or target[1]}")
                forecast_runs.run_forecast(broker, tenant, forecast_runs.resolve(
                    broker, tenant, entity=target[0], district=target[1]))
                written += 1
        return written
    return 0
