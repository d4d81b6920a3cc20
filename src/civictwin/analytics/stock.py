"""Read what the insight models need from the twin: buildings, districts, weather, meters.

Everything goes through the domain layer (the ContextBroker for current state, the temporal
history for series), never SQL of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from civictwin.analytics.scenario import HEATING, USES, BuildingStock
from civictwin.analytics.solar import SolarWeather, measured_weather
from civictwin.errors import BadRequestData
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL, Context
from civictwin.ngsild.qlang import TypeName
from civictwin.store.base import Entity, EntityQuery
from civictwin.store.temporal import HistoryQuery, Period, TemporalStore, TimeFilter

PAGE = 1000
HOUR = 3600


def context(broker: ContextBroker) -> Context:
    """Return the civictwin @context the sample city and the models use."""
    return broker.context(CIVICTWIN_CONTEXT_URL)


def entities_of_type(broker: ContextBroker, tenant: str, type_name: str) -> Iterator[Entity]:
    """Yield every entity of one type, page by page."""
    iri = context(broker).expand(type_name)
    offset = 0
    while True:
        page = broker.store.query_entities(tenant, EntityQuery(
            types=TypeName(iri), limit=PAGE, offset=offset))
        yield from page.entities
        if len(page.entities) < PAGE:
            return
        offset += PAGE


def value(entity: Entity, ctx: Context, name: str, default: Any = None) -> Any:
    """Return the value (or object) of an entity's first instance of an attribute."""
    instances = entity.attrs.get(ctx.expand(name))
    if not instances:
        return default
    first = instances[0]
    return first.get("value", first.get("object", default))


def building_stock(broker: ContextBroker, tenant: str) -> BuildingStock:
    """Return the Building entities of a tenant as a BuildingStock; BadRequestData if none."""
    ctx = context(broker)
    rows: list[tuple[Any, ...]] = []
    lons: list[float] = []
    lats: list[float] = []
    for entity in entities_of_type(broker, tenant, "Building"):
        category = value(entity, ctx, "category", []) or []
        use = _use(category if isinstance(category, list) else [category])
        heating = value(entity, ctx, "heatingType", "gasBoiler")
        rows.append((entity.id, str(value(entity, ctx, "refCityDistrict", "")),
                     int(value(entity, ctx, "yearBuilt", 1970)), USES.index(use),
                     HEATING.index(heating) if heating in HEATING else 0,
                     float(value(entity, ctx, "floorArea", 0.0)),
                     float(value(entity, ctx, "roofArea", 0.0)),
                     float(value(entity, ctx, "roofTilt", 0.0)),
                     float(value(entity, ctx, "roofOrientation", 180.0))))
        point = _first_point(value(entity, ctx, "location"))
        if point is not None:
            lons.append(point[0])
            lats.append(point[1])
    if not rows:
        raise BadRequestData(f"tenant {tenant!r} has no Building entities to run a scenario on")
    if not lats:
        raise BadRequestData("no Building has a location, so the city's place is unknown")
    district_ids = sorted({r[1] for r in rows})
    columns = list(zip(*rows, strict=True))
    floats = [np.asarray(c, dtype=np.float64) for c in columns[5:9]]
    return BuildingStock(
        list(columns[0]), np.asarray([district_ids.index(d) for d in columns[1]]),
        district_ids, np.asarray(columns[2]), np.asarray(columns[3]), np.asarray(columns[4]),
        floats[0], floats[1], floats[2], floats[3], float(np.mean(lats)), float(np.mean(lons)),
        district_names(broker, tenant))


def district_names(broker: ContextBroker, tenant: str) -> dict[str, str]:
    """Return the name of every CityDistrict by id."""
    ctx = context(broker)
    return {e.id: str(value(e, ctx, "name", e.id))
            for e in entities_of_type(broker, tenant, "CityDistrict")}


def station_weather(broker: ContextBroker, history: TemporalStore, tenant: str,
                    latitude: float, longitude: float) -> SolarWeather | None:
    """Return the last 365 days of hourly irradiance and temperature of a weather station.

    None when no WeatherObserved entity has at least 360 days of hourly solarRadiation.
    """
    ctx = context(broker)
    radiation, temperature = ctx.expand("solarRadiation"), ctx.expand("temperature")
    for station in entities_of_type(broker, tenant, "WeatherObserved"):
        ghi = hourly_series(history, tenant, [station.id], radiation, "avg")
        if ghi is None or ghi.size < 360 * 24:
            continue
        ghi = ghi.iloc[-365 * 24:]
        temp = hourly_series(history, tenant, [station.id], temperature, "avg")
        air = (temp.reindex(ghi.index).interpolate(limit_direction="both").to_numpy()
               if temp is not None else np.full(ghi.size, 11.0))
        times = ghi.index + pd.Timedelta(minutes=30)
        return measured_weather(pd.DatetimeIndex(times), np.nan_to_num(ghi.to_numpy()),
                                np.nan_to_num(air, nan=11.0), station.id, latitude, longitude)
    return None


def hourly_series(history: TemporalStore, tenant: str, entity_ids: list[str], attr: str,
                  how: str = "sum", since: str | None = None, step: int = HOUR,
                  dataset_id: str = "") -> pd.Series | None:
    """Return an attribute's history summed (or averaged) over entities per time step.

    Only the instances of `dataset_id` count (the default instance: a meter's own readings,
    not, say, its monthly bills under another datasetId). The index is the UTC start of each
    step, gaps are NaN; None when the entities have no such history.
    """
    query = HistoryQuery(tuple(entity_ids), (attr,), TimeFilter("after", since)
                         if since else TimeFilter())
    first, _ = history.time_bounds(tenant, query)
    if first is None:
        return None
    anchor = (pd.Timestamp(first).floor("D").tz_convert("UTC")
              .strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    rows = [r for r in history.aggregate(tenant, query, Period(seconds=step), anchor, ["sum"])
            if r.dataset_id == dataset_id]
    if not rows:
        return None
    frame = pd.DataFrame({"bucket": [r.bucket for r in rows],
                          "total": [r.total or 0.0 for r in rows],
                          "count": [r.numbers for r in rows]})
    grouped = frame.groupby("bucket").sum()
    values = grouped["total"] / grouped["count"] if how == "avg" else grouped["total"]
    start = pd.Timestamp(anchor)
    index = start + pd.to_timedelta(grouped.index.to_numpy() * step, unit="s")
    series = pd.Series(values.to_numpy(dtype=np.float64), index=pd.DatetimeIndex(index))
    full = pd.date_range(series.index[0], series.index[-1], freq=f"{step}s")
    return series.reindex(full)


def entities_with_series(history: TemporalStore, tenant: str, entity_ids: list[str],
                         attr: str, dataset_id: str = "") -> list[str]:
    """Return the entities that have a history of `attr` under `dataset_id`."""
    query = HistoryQuery(tuple(entity_ids), (attr,))
    first, _ = history.time_bounds(tenant, query)
    if first is None:
        return []
    rows = history.aggregate(tenant, query, Period(), first, ["sum"])
    return sorted({r.entity_id for r in rows if r.dataset_id == dataset_id})


def _use(category: list[Any]) -> str:
    names = {str(c) for c in category}
    if {"residential", "commercial"} <= names:
        return "mixed"
    for use in USES:
        if use in names:
            return use
    return "residential"


def _first_point(geometry: Any) -> tuple[float, float] | None:
    """Return the first coordinate pair of a GeoJSON geometry."""
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    while isinstance(coords, list) and coords and isinstance(coords[0], list):
        coords = coords[0]
    if isinstance(coords, list) and len(coords) >= 2:
        return float(coords[0]), float(coords[1])
    return None
