"""Air-quality and weather stations: placement, hourly history and NGSI-LD entities.

Stations are Smart Data Models ``AirQualityObserved`` (dataModel.Environment: ``pm25``,
``pm10``, ``no2``, ``o3`` in µg/m³, unit GQ) and ``WeatherObserved`` (dataModel.Weather:
``temperature`` CEL, ``relativeHumidity`` as a fraction 0..1 (C62), ``windSpeed`` MTS,
``solarRadiation`` W/m² (D54), ``atmosphericPressure`` hPa (A97)), one entity per station
whose values are the last hour of the reference year, with ``dateObserved`` and ``observedAt``
on every measurement. They stand at street crossings, so never inside a building.

Pollution follows the city weather: traffic rush hours drive NO2 and part of the particles,
low wind concentrates everything, cold days add heating particles, regional episodes lift PM
at every station together, and ozone builds on sunny warm afternoons and is titrated by NO2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from civictwin.samplecity.clock import FloatArray, TimeArray, local_clock
from civictwin.samplecity.districts import LOCALITY, PROFILES
from civictwin.samplecity.entities import date_time, geo_property, prop, urn
from civictwin.samplecity.geometry import DistrictLayout, StreetGrid, point_geometry
from civictwin.samplecity.weather import WeatherYear, ar1, daily_to_hourly, weather_year

AIR_UNITS = {"pm25": "GQ", "pm10": "GQ", "no2": "GQ", "o3": "GQ"}
WEATHER_UNITS = {"temperature": "CEL", "relativeHumidity": "C62", "windSpeed": "MTS",
                 "solarRadiation": "D54", "atmosphericPressure": "A97"}
# Site: (mean NO2 scale, PM2.5 scale, weight of traffic in the local mix)
_SITES = {"traffic": (62.0, 13.5, 1.0), "urbanBackground": (54.0, 11.5, 0.45),
          "industrial": (57.0, 14.0, 0.6)}
_TRAFFIC = (  # relative traffic by local hour: working day, Saturday, Sunday
    (.15, .10, .08, .08, .12, .35, .80, 1.0, .95, .70, .60, .62,
     .65, .65, .68, .78, .92, 1.0, .85, .60, .45, .35, .28, .20),
    (.20, .14, .10, .08, .08, .12, .22, .35, .50, .62, .70, .75,
     .75, .72, .70, .70, .70, .68, .60, .50, .42, .36, .30, .25),
    (.22, .16, .12, .09, .08, .09, .12, .18, .28, .40, .50, .55,
     .56, .55, .55, .56, .58, .58, .55, .48, .40, .32, .26, .20),
)
_WEATHER_SITES = (("Centrum", 1.2), ("Zuidpark", 0.3), ("Noordrand", 0.4), ("Havenwijk", 0.7))
_TRAFFIC_DISTRICTS = ("Centrum", "Zakenkwartier", "Sint-Anna", "Westervaart")


@dataclass(frozen=True)
class StationSpec:
    """Where a station stands and what kind of site it is."""

    entity_type: str  # AirQualityObserved or WeatherObserved
    number: int
    seed: int
    name: str
    x: float
    y: float
    district: int
    site: str  # traffic, urbanBackground, industrial; or "weather"
    heat_island: float  # °C added at night, weather stations only

    @property
    def station_id(self) -> str:
        """Return the URN of this station."""
        return urn(self.entity_type, self.number)


@dataclass(frozen=True)
class StationSeries:
    """A year of hourly observations of one station, keyed by attribute name."""

    station_id: str
    year: int
    time: TimeArray  # UTC hour starts, datetime64[s]
    values: dict[str, FloatArray]


def place_stations(
    rng: np.random.Generator, seed: int, grid: StreetGrid, layout: DistrictLayout
) -> list[StationSpec]:
    """Place a dozen air-quality stations and four weather stations at street crossings."""
    names = [p.name for p in PROFILES]
    used: set[tuple[float, float]] = set()
    air: list[tuple[int, str]] = [(d, "industrial" if names[d] == "Havenwijk" else
                                   "urbanBackground") for d in range(len(PROFILES))]
    air += [(names.index(n), "traffic") for n in _TRAFFIC_DISTRICTS]
    specs = []
    for number, (district, site) in enumerate(air, start=1):
        x, y = _crossing(rng, grid, layout, district, used)
        specs.append(StationSpec("AirQualityObserved", number, seed,
                                 f"{LOCALITY} {names[district]} {site}", x, y, district, site, 0.0))
    for number, (district_name, island) in enumerate(_WEATHER_SITES, start=1):
        district = names.index(district_name)
        x, y = _crossing(rng, grid, layout, district, used)
        specs.append(StationSpec("WeatherObserved", number, seed,
                                 f"{LOCALITY} {district_name} weather", x, y, district, "weather",
                                 island))
    return specs


def _crossing(
    rng: np.random.Generator, grid: StreetGrid, layout: DistrictLayout, district: int,
    used: set[tuple[float, float]],
) -> tuple[float, float]:
    """Pick a free spot on the streets around the district's blocks, inland crossings first."""
    cells = [grid.cell(r, c) for r in range(grid.rows) for c in range(grid.columns)
             if layout.labels[r][c] == district]
    west, south, east, north = grid.xs[0], grid.ys[0], grid.xs[-1], grid.ys[-1]
    for fractions in ((0.0, 1.0), (0.5,), (0.25, 0.75)):
        spots = sorted({(x0 + f * (x1 - x0), y) for x0, y0, x1, y1 in cells for f in fractions
                        for y in (y0, y1)}
                       | {(x, y0 + f * (y1 - y0)) for x0, y0, x1, y1 in cells for f in fractions
                          for x in (x0, x1)})
        free = [s for s in spots if s not in used]
        inland = [(x, y) for x, y in free if west < x < east and south < y < north]
        choices = inland or free
        if choices:
            spot = choices[int(rng.integers(0, len(choices)))]
            used.add(spot)
            return spot
    raise ValueError("no free street spot left for a station")


def station_series(spec: StationSpec, year: int) -> StationSeries:
    """Generate a year of hourly observations of one station."""
    weather = weather_year(spec.seed, year)
    rng = np.random.default_rng([spec.seed, year, 0x5A, spec.number, len(spec.entity_type)])
    if spec.entity_type == "WeatherObserved":
        values = _weather_values(spec, weather, rng)
    else:
        values = _air_values(spec, weather, rng)
    return StationSeries(spec.station_id, year, weather.time, values)


def _weather_values(
    spec: StationSpec, weather: WeatherYear, rng: np.random.Generator
) -> dict[str, FloatArray]:
    n = weather.time.size
    night = weather.solar_radiation <= 0.0
    temperature = (weather.temperature + spec.heat_island * np.where(night, 1.0, 0.5)
                   + rng.normal(0.0, 0.25, n))
    humidity = np.clip(weather.relative_humidity - 0.03 * (temperature - weather.temperature)
                       + rng.normal(0.0, 0.02, n), 0.2, 1.0)
    shelter = float(rng.uniform(0.75, 1.1))
    return {
        "temperature": temperature,
        "relativeHumidity": humidity,
        "windSpeed": np.clip(weather.wind_speed * shelter * rng.lognormal(0.0, 0.08, n), 0.0, None),
        "solarRadiation": weather.solar_radiation * float(rng.uniform(0.95, 1.0))
        * rng.lognormal(0.0, 0.03, n),
        "atmosphericPressure": weather.atmospheric_pressure + float(rng.uniform(-0.6, 0.6))
        + rng.normal(0.0, 0.15, n),
    }


def _air_values(
    spec: StationSpec, weather: WeatherYear, rng: np.random.Generator
) -> dict[str, FloatArray]:
    n = weather.time.size
    no2_scale, pm_scale, weight = _SITES[spec.site]
    traffic = _traffic(weather.time)
    dispersion = (3.5 / (weather.wind_speed + 1.0)) ** 0.7
    cold = 1.0 + 0.6 * np.clip((12.0 - weather.temperature) / 12.0, 0.0, 1.5)
    no2 = no2_scale * (0.3 + weight * traffic) * dispersion * rng.lognormal(0.0, 0.2, n)
    pm25 = (pm_scale * (0.75 + 0.35 * weight * traffic) * dispersion**0.5 * cold
            * _episodes(spec.seed, weather) * rng.lognormal(0.0, 0.15, n))
    coarse = (2.5 + 4.0 * weight * traffic + 0.4 * weather.wind_speed) * rng.lognormal(0.0, 0.2, n)
    doy = np.arange(n) / 24.0
    summer = 0.5 - 0.5 * np.cos(2.0 * math.pi * (doy - 18.0) / 365.25)
    sun = weather.solar_radiation * np.clip((weather.temperature - 8.0) / 15.0, 0.0, 1.6)
    o3 = np.clip(24.0 + 26.0 * summer + 0.085 * sun - 0.45 * no2 + rng.normal(0.0, 5.0, n)
                 + 3.0 * weather.wind_speed, 2.0, None)
    return {"pm25": pm25, "pm10": pm25 * 1.45 + coarse, "no2": no2, "o3": o3}


def _traffic(time: TimeArray) -> FloatArray:
    """Return relative road traffic at each UTC hour, following the local clock."""
    clock = local_clock(time)
    out = np.zeros(time.size)
    for kind, profile in enumerate(_TRAFFIC):
        ring = np.array([*profile, profile[0]])
        at = np.interp(clock.hour, np.arange(25, dtype=np.float64), ring)
        out = np.where(clock.day_type == kind, at, out)
    return out


def _episodes(seed: int, weather: WeatherYear) -> FloatArray:
    """Return the regional particle level shared by all stations (mean about one)."""
    rng = np.random.default_rng([seed, weather.year, 0xE9])
    days = weather.time.size // 24
    hours = np.arange(weather.time.size, dtype=np.float64)
    level: FloatArray = np.exp(daily_to_hourly(ar1(rng, days, 0.7, 0.45), hours) - 0.1)
    return level


def station_entity(spec: StationSpec, series: StationSeries) -> dict[str, Any]:
    """Build the NGSI-LD entity of a station holding its last observation of the year."""
    observed_at = str(series.time[-1].astype("datetime64[s]")) + "Z"
    units = WEATHER_UNITS if spec.entity_type == "WeatherObserved" else AIR_UNITS
    entity: dict[str, Any] = {
        "id": spec.station_id,
        "type": spec.entity_type,
        "name": prop(spec.name),
        "address": prop({"addressLocality": LOCALITY, "district": PROFILES[spec.district].name}),
        "location": geo_property(point_geometry(spec.x, spec.y)),
        "dateObserved": prop(date_time(observed_at)),
    }
    for attribute, unit in units.items():
        digits = 2 if attribute == "relativeHumidity" else 1
        entity[attribute] = prop(round(float(series.values[attribute][-1]), digits), unit,
                                 observed_at)
    return entity
