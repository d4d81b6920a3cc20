"""Rooftop solar yield with pvlib: kWh per kWp and year for each roof tilt and orientation.

The weather is either a year of hourly measurements from the twin (global horizontal
irradiance and air temperature of a WeatherObserved station), split into direct and diffuse
parts with the Erbs model, or, when the twin has no such year, pvlib's Ineichen clear-sky model
for the city's location with a cloudiness allowance: `clear_sky_factor` is the share of the
clear-sky irradiation that reaches the ground over a year (about 0.65 in north-western
Europe), modelled as a mixture of clear hours and overcast hours that let through 30 % of the
clear-sky irradiance, all of it diffuse. Plane-of-array
irradiance is the isotropic sky model, cell temperature the Faiman model, and DC power PVWatts
with a temperature coefficient, less system losses. Roofs are grouped on a grid of 5° tilt and
10° orientation, so a city of any size needs a few hundred pvlib evaluations at most.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

from civictwin.samplecity.clock import FloatArray

TILT_STEP = 5.0
AZIMUTH_STEP = 10.0
OVERCAST = 0.3  # share of clear-sky irradiance an overcast hour lets through


@dataclass(frozen=True)
class SolarWeather:
    """A year of hourly weather for PV yield, and where it came from."""

    times: pd.DatetimeIndex  # UTC, the middle of each hour
    zenith: FloatArray  # degrees, apparent (refraction-corrected) solar zenith
    azimuth: FloatArray  # degrees clockwise from north, the sun's
    ghi: FloatArray  # W/m², global horizontal irradiance
    dni: FloatArray  # W/m², direct normal
    dhi: FloatArray  # W/m², diffuse horizontal
    temperature: FloatArray  # °C, air
    source: str  # "measured: <entity id>" or "clear-sky (pvlib Ineichen) x factor"


def clear_sky_weather(latitude: float, longitude: float, factor: float,
                      air_temperature: float, year: int = 2023) -> SolarWeather:
    """Return a clear-sky year at a place, its irradiance scaled by `factor`."""
    times = _hours(year)
    location = pvlib.location.Location(latitude, longitude, tz="UTC")
    with _quiet_pvlib():
        position = pvlib.solarposition.get_solarposition(times, latitude, longitude)
        sky = location.get_clearsky(times, model="ineichen", solar_position=position)
    ghi, dni, dhi = (sky[k].to_numpy(dtype=np.float64) for k in ("ghi", "dni", "dhi"))
    clear = max(0.0, (factor - OVERCAST) / (1.0 - OVERCAST))  # share of clear hours
    overcast = (1.0 - clear) * OVERCAST * ghi
    source = f"clear-sky (pvlib Ineichen at {latitude:.3f}, {longitude:.3f}) x {factor:g}"
    return SolarWeather(times, *_sun(position), clear * ghi + overcast, clear * dni,
                        clear * dhi + overcast, np.full(ghi.size, air_temperature), source)


def measured_weather(times: pd.DatetimeIndex, ghi: FloatArray, temperature: FloatArray,
                     station: str, latitude: float, longitude: float) -> SolarWeather:
    """Return measured hourly weather (times in UTC), split into direct and diffuse (Erbs)."""
    ghi = np.clip(np.nan_to_num(ghi), 0.0, None)
    with _quiet_pvlib():
        position = pvlib.solarposition.get_solarposition(times, latitude, longitude)
    parts = pvlib.irradiance.erbs(ghi, position["zenith"].to_numpy(),
                                  times.day_of_year.to_numpy())
    dni = np.nan_to_num(np.asarray(parts["dni"], dtype=np.float64))
    dhi = np.nan_to_num(np.asarray(parts["dhi"], dtype=np.float64))
    return SolarWeather(times, *_sun(position), ghi, dni, dhi, temperature,
                        f"measured: {station}")


def specific_yield(weather: SolarWeather, tilt: FloatArray, azimuth: FloatArray, *,
                   losses: float = 0.14,
                   gamma: float = -0.004) -> FloatArray:
    """Return kWh per kWp and year for every roof (tilt and azimuth in degrees, arrays)."""
    tilt_step = np.clip(np.round(tilt / TILT_STEP), 0, 90 / TILT_STEP).astype(np.int64)
    azimuth_step = np.round(azimuth / AZIMUTH_STEP).astype(np.int64) % int(360 / AZIMUTH_STEP)
    azimuth_step = np.where(tilt_step == 0, int(180 / AZIMUTH_STEP), azimuth_step)  # flat
    keys, inverse = np.unique(tilt_step * 1000 + azimuth_step, return_inverse=True)
    per_pair = _pair_yields(weather, (keys // 1000) * TILT_STEP,
                            (keys % 1000) * AZIMUTH_STEP, losses, gamma)
    found: FloatArray = per_pair[inverse]
    return found


def _pair_yields(weather: SolarWeather, tilts: FloatArray, azimuths: FloatArray, losses: float,
                 gamma: float) -> FloatArray:
    """Return the yield of each (tilt, azimuth) pair: hours along axis 0, pairs along axis 1."""
    poa = pvlib.irradiance.get_total_irradiance(
        tilts[None, :], azimuths[None, :], weather.zenith[:, None],
        weather.azimuth[:, None], weather.dni[:, None],
        weather.ghi[:, None], weather.dhi[:, None], albedo=0.2, model="isotropic")["poa_global"]
    poa = np.nan_to_num(np.clip(np.asarray(poa, dtype=np.float64), 0.0, None))
    cell = pvlib.temperature.faiman(poa, weather.temperature[:, None], 1.0)
    power = poa / 1000.0 * (1.0 + gamma * (cell - 25.0))  # kW per kWp
    hours = 8760.0 / weather.ghi.size  # a leap or partial year counts as one year
    yields: FloatArray = power.sum(axis=0) * (1.0 - losses) * hours
    return yields


def _sun(position: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    return (position["apparent_zenith"].to_numpy(dtype=np.float64),
            position["azimuth"].to_numpy(dtype=np.float64))


@contextmanager
def _quiet_pvlib() -> Iterator[None]:
    """Silence pandas' deprecation notices raised inside pvlib (not our code's calls)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pvlib\.")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pandas\.")
        yield


def _hours(year: int) -> pd.DatetimeIndex:
    start = pd.Timestamp(year=year, month=1, day=1, tz="UTC")
    return pd.date_range(start, start + pd.DateOffset(years=1), freq="1h",
                         inclusive="left") + pd.Timedelta(minutes=30)
