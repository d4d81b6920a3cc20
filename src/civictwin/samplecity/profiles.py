"""Normalised quarter-hour load shapes per building use, and heating shapes, per weather year.

A shape sums to one over the year; a building's series is its annual energy times a shape,
times noise. Daily profiles are relative loads by local hour for working days, Saturdays and
Sundays (public holidays count as Sundays), with seasonal lighting for dwellings, school
holidays for public buildings and cooling for offices and shops on hot afternoons. Electric
heating follows heating degree-hours; a heat pump's share is divided by its coefficient of
performance, which falls as the outside air gets colder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from civictwin.samplecity.clock import (
    FloatArray,
    IntArray,
    TimeArray,
    local_clock,
    read_only,
    year_stamps,
)
from civictwin.samplecity.weather import (
    HEATING_BASE,
    heating_degree_days,
    normal_heating_degree_days,
    weather_year,
)

QUARTER = 900  # seconds
# Relative load by local hour: (working day, Saturday, Sunday).
_DAILY: dict[str, tuple[tuple[float, ...], ...]] = {
    "residential": (
        (.45, .38, .35, .34, .35, .42, .70, 1.0, .90, .70, .62, .62,
         .70, .65, .60, .62, .75, 1.05, 1.35, 1.45, 1.35, 1.15, .90, .62),
        (.50, .42, .38, .36, .36, .38, .48, .70, .95, 1.05, 1.0, .98,
         1.0, .92, .85, .85, .92, 1.10, 1.35, 1.45, 1.35, 1.18, .95, .68),
        (.52, .44, .38, .36, .36, .37, .44, .62, .90, 1.08, 1.10, 1.12,
         1.15, 1.0, .90, .88, .95, 1.12, 1.38, 1.45, 1.32, 1.12, .88, .62),
    ),
    "office": (
        (.32, .30, .30, .30, .31, .34, .48, .78, .98, 1.0, 1.0, 1.0,
         .96, .98, 1.0, .98, .92, .78, .56, .44, .38, .35, .33, .32),
        (.30,) * 24,
        (.29,) * 24,
    ),
    "commercial": (
        (.34, .32, .32, .32, .32, .34, .40, .55, .80, .98, 1.0, 1.0,
         1.0, 1.0, 1.0, 1.0, 1.0, .98, .90, .70, .48, .40, .36, .35),
        (.34, .32, .32, .32, .32, .34, .40, .55, .82, 1.0, 1.05, 1.05,
         1.05, 1.05, 1.05, 1.05, 1.02, .95, .72, .50, .42, .38, .36, .35),
        (.34, .32, .32, .32, .32, .32, .33, .35, .38, .42, .46, .46,
         .46, .46, .46, .44, .42, .40, .38, .37, .36, .35, .34, .34),
    ),
    "industrial": (
        (.55, .55, .55, .55, .56, .70, .95, 1.0, 1.0, 1.0, 1.0, .98,
         .96, 1.0, 1.0, 1.0, 1.0, .98, .96, .95, .92, .88, .70, .58),
        (.50, .50, .50, .50, .50, .58, .78, .82, .82, .82, .82, .80,
         .78, .70, .55, .50, .50, .50, .50, .50, .50, .50, .50, .50),
        (.44,) * 24,
    ),
    "public": (
        (.30, .29, .29, .29, .30, .33, .50, .85, 1.0, 1.0, 1.0, 1.0,
         .98, 1.0, 1.0, .92, .72, .52, .45, .42, .38, .34, .32, .31),
        (.32, .30, .30, .30, .30, .31, .33, .38, .45, .50, .50, .50,
         .50, .48, .45, .42, .40, .38, .36, .35, .34, .33, .33, .32),
        (.30,) * 24,
    ),
}
USES_WITH_SHAPE = tuple(_DAILY)
HEAT_PUMP_HOT_WATER_COP = 2.6


@dataclass(frozen=True)
class LoadShapes:
    """Everything meters of one city and year share (arrays are read-only)."""

    time: TimeArray  # UTC quarter-hour starts
    days: TimeArray  # UTC day starts
    shapes: dict[str, FloatArray]  # use -> quarter-hour shape summing to one
    heat_pump: FloatArray  # quarter-hour shape of heat-pump space-heating electricity
    direct_electric: FloatArray  # quarter-hour shape of resistive space heating
    heat_pump_factor: float  # mean 1/COP over the heating season, weighted by demand
    space_heat_days: FloatArray  # daily shape of space-heating demand
    hot_water_days: FloatArray  # daily shape of hot-water demand
    degree_day_ratio: float  # heating degree days of this year over a normal year


@lru_cache(maxsize=8)
def load_shapes(seed: int, year: int) -> LoadShapes:
    """Build the shared load shapes of a city (seed) for one year."""
    weather = weather_year(seed, year)
    time = year_stamps(year, QUARTER)
    clock = local_clock(time)
    hours = (time - time[0]).astype(np.int64) / 3600.0
    temp = np.interp(hours, np.arange(weather.time.size, dtype=np.float64), weather.temperature)
    shapes = {use: _use_shape(use, clock.hour, clock.day_type, clock.day_of_year, clock.month,
                              temp) for use in _DAILY}
    schedule = np.where((clock.hour >= 6.0) & (clock.hour < 22.0), 1.0, 0.6)
    demand = np.maximum(HEATING_BASE + 2.0 - temp, 0.0) * schedule
    cop = np.clip(2.4 + 0.09 * (temp + 5.0), 1.8, 4.6)
    daily_hdd = heating_degree_days(weather.daily_mean_temperature())
    days = year_stamps(year, 86400)
    hot_water = 1.0 + 0.12 * np.cos(2.0 * math.pi * (np.arange(days.size) - 15.0) / 365.25)
    return LoadShapes(
        time=read_only(time), days=read_only(days), shapes=shapes,
        heat_pump=read_only(_unit(demand / cop)), direct_electric=read_only(_unit(demand)),
        heat_pump_factor=float((demand / cop).sum() / demand.sum()),
        space_heat_days=read_only(_unit(daily_hdd)), hot_water_days=read_only(_unit(hot_water)),
        degree_day_ratio=float(daily_hdd.sum()) / normal_heating_degree_days(year),
    )


def _use_shape(
    use: str, hour: FloatArray, day_type: IntArray, doy: IntArray, month: IntArray,
    temp: FloatArray,
) -> FloatArray:
    """Return the normalised yearly shape of one use."""
    profiles = _DAILY[use]
    load = np.zeros(hour.size)
    for kind, profile in enumerate(profiles):
        ring = np.array([*profile, profile[0]])
        at = np.interp(hour, np.arange(25, dtype=np.float64), ring)
        load = np.where(day_type == kind, at, load)
    if use == "residential":
        load *= 1.0 + 0.18 * np.cos(2.0 * math.pi * (doy + 10.0) / 365.25)
    elif use == "public":
        load *= np.where((month == 7) | (month == 8), 0.6, 1.0)
    elif use in ("office", "commercial"):
        open_hours = (hour >= 8.0) & (hour < 19.0) & (day_type < 2)
        load *= 1.0 + np.where(open_hours, 0.04 * np.maximum(temp - 21.0, 0.0), 0.0)
    return read_only(_unit(load))


def _unit(values: FloatArray) -> FloatArray:
    total = float(values.sum())
    out: FloatArray = values / total if total > 0 else np.full(values.size, 1.0 / values.size)
    return out
