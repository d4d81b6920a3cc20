"""Forecast a meter, a building or a district of the twin, and write the forecast back.

A forecast is written as its own NGSI-LD entity, `EnergyForecast`, shaped after the Smart Data
Models `WeatherForecast` (dataModel.Weather): `dateIssued`, `validFrom` and `validTo` (SDM
terms), a Relationship to what is forecast (`refBuilding`, `refCityDistrict` or `refDevice`),
and the values as an ordered ListProperty `electricityConsumptionForecast` (unitCode KWH) with
its `timeStep` (ISO 8601 duration), the model (register id and version) and its backtest
errors beside the seasonal-naive baseline. A separate type, rather than future `observedAt`
instances on the meter, keeps forecasts out of every query, aggregation and indicator that
reads measurements; each new forecast replaces the entity, and the temporal history keeps the
earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from civictwin.analytics import forecast as model
from civictwin.analytics.forecast import Forecast
from civictwin.analytics.stock import (
    context,
    entities_of_type,
    entities_with_series,
    hourly_series,
    value,
)
from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.temporal import history_for

CT = "https://civictwin.org/ns/"
SDM = "https://smartdatamodels.org/"
FORECAST_TYPE = CT + "EnergyForecast"
STEPS = {"PT1H": 3600, "PT15M": 900}
_REFS = {"building": "refBuilding", "district": "refCityDistrict"}
REF_DEVICE = SDM + "dataModel.Device/refDevice"
ATTRIBUTE = "electricityConsumption"  # the meters' history that is forecast


@dataclass(frozen=True)
class Target:
    """What is forecast: a meter, a building or a district, and the meters that measure it."""

    id: str
    kind: str  # meter, building or district
    meters: list[str]


@dataclass(frozen=True)
class ForecastRun:
    """A forecast of a target with the history it was made from."""

    target: Target
    history: pd.Series  # kWh per step, the meters with history summed
    forecast: Forecast
    meters_with_history: int
    temperature_source: str
    entity_id: str | None  # the EnergyForecast written, if any


def resolve(broker: ContextBroker, tenant: str, entity: str | None = None,
            district: str | None = None) -> Target:
    """Return the meters behind an entity (meter or building) or a district."""
    if (entity is None) == (district is None):
        raise BadRequestData("give exactly one of an entity id or a district id")
    ctx = context(broker)
    found = broker.store.get_entity(tenant, entity or district or "")
    if found is None:
        raise ResourceNotFound(f"no entity {entity or district} in the twin")
    types = {ctx.compact(t) for t in found.types}
    if district is not None:
        if "CityDistrict" not in types:
            raise BadRequestData(f"{district} is not a CityDistrict")
        buildings = {b.id for b in entities_of_type(broker, tenant, "Building")
                     if value(b, ctx, "refCityDistrict") == district}
        kind = "district"
    elif "SmartMeteringObservation" in types:
        return Target(found.id, "meter", [found.id])
    elif "Building" in types:
        buildings, kind = {found.id}, "building"
    else:
        raise BadRequestData(f"{entity} is neither a Building nor a SmartMeteringObservation")
    meters = [m.id for m in entities_of_type(broker, tenant, "SmartMeteringObservation")
              if value(m, ctx, "refBuilding") in buildings]
    if not meters:
        raise BadRequestData(f"{found.id} has no smart meter in the twin")
    return Target(found.id, kind, meters)


def run_forecast(broker: ContextBroker, tenant: str, target: Target, *, resolution: str = "PT1H",
                 timezone: str = "UTC", train_days: int = 56, backtest_days: int = 14,
                 write: bool = True) -> ForecastRun:
    """Forecast the day after a target's history; write it back as an EnergyForecast."""
    step = STEPS.get(resolution)
    if step is None:
        raise BadRequestData(f"resolution {resolution!r} is not one of {', '.join(STEPS)}")
    history = history_for(broker.store)
    ctx = context(broker)
    attr = ctx.expand(ATTRIBUTE)
    load = hourly_series(history, tenant, target.meters, attr, "sum", step=step)
    if load is None:
        raise BadRequestData(f"{target.id}: its meters have no electricityConsumption history")
    measured = len(entities_with_series(history, tenant, target.meters, attr))
    stations = [s.id for s in entities_of_type(broker, tenant, "WeatherObserved")]
    temperature = (hourly_series(history, tenant, stations, ctx.expand("temperature"), "avg",
                                 step=step) if stations else None)
    result = model.forecast_day(load.interpolate(limit=4), temperature,
                                train_days=train_days, timezone=timezone,
                                backtest_days=backtest_days)
    source = (f"mean of {len(stations)} WeatherObserved station(s), persistence beyond them"
              if result.uses_temperature else "none (no temperature history in the twin)")
    entity_id = None
    if write:
        body = forecast_entity(target, result, resolution, measured)
        written = broker.batch_upsert(tenant, [body], ctx)
        if written.errors:
            raise BadRequestData(f"forecast entity: {written.errors[0][1].detail}")
        entity_id = body["id"]
    return ForecastRun(target, load, result, measured, source, entity_id)


def forecast_id(target: str) -> str:
    """Return the id of the EnergyForecast entity of a target."""
    tail = target.removeprefix("urn:ngsi-ld:")
    return f"urn:ngsi-ld:EnergyForecast:{tail}"


def forecast_entity(target: Target, result: Forecast, resolution: str,
                    meters: int) -> dict[str, Any]:
    """Build the NGSI-LD EnergyForecast entity (names as IRIs, so no @context is needed)."""
    end = result.start + pd.Timedelta(seconds=result.step * result.values.size)
    issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ref = _REFS.get(target.kind)
    relation = (f"https://smartdatamodels.org/dataModel.Building/{ref}" if ref == "refBuilding"
                else CT + ref if ref else REF_DEVICE)
    body: dict[str, Any] = {
        "id": forecast_id(target.id), "type": FORECAST_TYPE,
        SDM + "dateIssued": _date(issued), SDM + "validFrom": _date(_iso(result.start)),
        SDM + "validTo": _date(_iso(end)),
        relation: {"type": "Relationship", "object": target.id},
        CT + "electricityConsumptionForecast": {
            "type": "ListProperty", "valueList": [round(float(v), 4) for v in result.values],
            "unitCode": "KWH"},
        CT + "timeStep": {"type": "Property", "value": resolution},
        CT + "forecastModel": {"type": "Property", "value": {
            "algorithm": model.ALGORITHM.id, "version": model.MODEL_VERSION,
            "register": f"/algorithms/{model.ALGORITHM.id}"}},
        CT + "meterCount": {"type": "Property", "value": meters},
    }
    if result.scores is not None:
        s = result.scores
        for name, number, unit in (("backtestMAPE", s.mape, "P1"), ("backtestRMSE", s.rmse,
                                   "KWH"), ("seasonalNaiveMAPE", s.naive_mape, "P1"),
                                   ("seasonalNaiveRMSE", s.naive_rmse, "KWH")):
            body[CT + name] = {"type": "Property", "value": round(number, 4), "unitCode": unit}
    return body


def _date(iso: str) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": iso}}


def _iso(moment: pd.Timestamp) -> str:
    return str(moment.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))
