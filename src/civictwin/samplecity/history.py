"""History rows for the sample city's monthly utility bills and hourly station observations.

Every meter gets the monthly bill a utility would send: ``electricityConsumption`` and
``heatConsumption`` in kWh, one instance per month stamped at the month's start, under the
datasetId ``BILLING``; smart meters (those with quarter-hour readings in the default dataset)
get no electricity bill, their readings are the record. Every
station gets its year of hourly PM2.5, NO2 or air temperature, all but the last hour, which
the station entity already holds as its current value. Rows are in the form
``store.temporal`` inserts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from civictwin.samplecity.city import SampleCity
from civictwin.samplecity.stations import AIR_UNITS, WEATHER_UNITS

BILLING = "urn:ngsi-ld:Dataset:billing"
# The measurements the indicators use; the others keep only their current value, which keeps
# the demo's first load short.
OBSERVED = ("pm25", "no2", "temperature")
Expand = Callable[[str], str]


def _row(tenant: str, entity_id: str, attr: str, dataset_id: str, stamp: str, seconds: int,
         value: float, unit: str, now: str, instance_id: str) -> dict[str, Any]:
    inst = {"type": "Property", "value": value, "unitCode": unit}
    if dataset_id:
        inst["datasetId"] = dataset_id
    return {"tenant": tenant, "entity_id": entity_id, "attr": attr, "dataset_id": dataset_id,
            "instance_id": instance_id, "observed_at": stamp, "observed_s": seconds,
            "observed": True, "created_at": now, "modified_at": now, "kind": "Property",
            "num": value, "value": json.dumps(inst, sort_keys=True, separators=(",", ":"))}


def _months(times: Any, values: Any) -> list[tuple[str, int, float]]:
    """Sum a series by calendar month; return (sortable start, epoch seconds, total)."""
    months = times.astype("datetime64[M]")
    starts = np.unique(months)
    out = []
    for start in starts:
        total = float(np.round(values[months == start].sum(), 3))
        stamp = np.datetime_as_string(start.astype("datetime64[us]"), unit="us") + "Z"
        out.append((stamp, int(start.astype("datetime64[s]").astype("int64")), total))
    return out


def billing_rows(city: SampleCity, expand: Expand, new_id: Callable[[], str], now: str,
                 tenant: str = "", smart: frozenset[str] = frozenset()
                 ) -> Iterator[list[dict[str, Any]]]:
    """Yield per meter its monthly bills as history rows (heat only for `smart` meters)."""
    electricity, heat = expand("electricityConsumption"), expand("heatConsumption")
    for meter in city.meters:
        series = city.meter_readings(meter["id"])
        rows = [] if meter["id"] in smart else [
            _row(tenant, meter["id"], electricity, BILLING, stamp, seconds, kwh, "KWH", now,
                 new_id())
            for stamp, seconds, kwh in _months(series.electricity_time, series.electricity_kwh)]
        if series.heat_kwh.any():
            rows += [_row(tenant, meter["id"], heat, BILLING, stamp, seconds, kwh, "KWH", now,
                          new_id())
                     for stamp, seconds, kwh in _months(series.heat_time, series.heat_kwh)]
        yield rows


def station_rows(city: SampleCity, expand: Expand, new_id: Callable[[], str], now: str,
                 tenant: str = "", observed: tuple[str, ...] = OBSERVED
                 ) -> Iterator[list[dict[str, Any]]]:
    """Yield per station its hourly observations (without the last hour) as history rows."""
    for station in city.stations:
        series = city.station_readings(station["id"])
        units = WEATHER_UNITS if station["type"] == "WeatherObserved" else AIR_UNITS
        stamps = np.datetime_as_string(series.time[:-1].astype("datetime64[us]"), unit="us")
        seconds = series.time[:-1].astype("datetime64[s]").astype("int64").tolist()
        rows: list[dict[str, Any]] = []
        for name, unit in units.items():
            if name not in observed:
                continue
            attr = expand(name)
            digits = 2 if name == "relativeHumidity" else 1
            values = np.round(series.values[name][:-1], digits).tolist()
            rows += [_row(tenant, station["id"], attr, "", f"{stamp}Z", second, value, unit,
                          now, new_id())
                     for stamp, second, value in zip(stamps.tolist(), seconds, values,
                                                     strict=True)]
        yield rows
