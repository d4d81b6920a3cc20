"""A synthetic hourly weather year for Lumen, deterministic per seed and year.

A temperate maritime climate like Brussels: a seasonal temperature cycle (about 3 °C in
January, 18 °C in July), a daily cycle damped by clouds, and multi-day weather swings from
autoregressive daily anomalies interpolated to hours. Solar radiation is a clear-sky model
from the sun's elevation times a cloud factor (Kasten-Czeplak); humidity, wind and pressure
follow the same synoptic weather. Meters and stations all read from this one year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from civictwin.samplecity.clock import FloatArray, TimeArray, read_only, year_stamps
from civictwin.samplecity.geometry import CENTRE_LAT, CENTRE_LON

HEATING_BASE = 15.5  # °C; heating degree days are counted below this daily mean


@dataclass(frozen=True)
class WeatherYear:
    """Hourly city-wide weather of one year (arrays are read-only)."""

    year: int
    time: TimeArray  # UTC hour starts
    temperature: FloatArray  # °C
    relative_humidity: FloatArray  # 0..1
    wind_speed: FloatArray  # m/s
    solar_radiation: FloatArray  # W/m², global horizontal
    atmospheric_pressure: FloatArray  # hPa
    cloudiness: FloatArray  # 0..1

    def daily_mean_temperature(self) -> FloatArray:
        """Return the mean temperature of each UTC day."""
        means: FloatArray = self.temperature.reshape(-1, 24).mean(axis=1)
        return means


def climatology(day_of_year: FloatArray) -> FloatArray:
    """Return the long-term mean daily temperature for (fractional) days of the year."""
    clim: FloatArray = 10.6 - 7.6 * np.cos(2.0 * math.pi * (day_of_year - 18.0) / 365.25)
    return clim


@lru_cache(maxsize=8)
def weather_year(seed: int, year: int) -> WeatherYear:
    """Generate the weather of one year (cached; the same seed and year give the same weather)."""
    rng = np.random.default_rng([seed, year, 0x57])
    time = year_stamps(year, 3600)
    hours = np.arange(time.size, dtype=np.float64)
    days = time.size // 24
    doy = hours / 24.0
    cloud = daily_to_hourly(_logistic(ar1(rng, days, 0.65, 1.6) + 1.0), hours)
    anomaly = daily_to_hourly(ar1(rng, days, 0.8, 3.3), hours) + rng.normal(0.0, 0.35, time.size)
    ghi = _clear_sky(time) * (1.0 - 0.8 * cloud**2.5)
    summer = 0.5 - 0.5 * np.cos(2.0 * math.pi * (doy - 18.0) / 365.25)
    solar_hour = (hours % 24.0) + CENTRE_LON / 15.0
    diurnal = ((3.0 + 3.0 * summer) * (1.0 - 0.5 * cloud)
               * np.cos(2.0 * math.pi * (solar_hour - 15.0) / 24.0))
    temperature = climatology(doy) + anomaly + diurnal
    humidity = np.clip(0.80 + 0.12 * cloud - 0.08 * summer - 0.045 * diurnal
                       + rng.normal(0.0, 0.03, time.size), 0.25, 1.0)
    wind = np.exp(math.log(3.6) + 0.12 * np.cos(2.0 * math.pi * (doy - 15.0) / 365.25)
                  + daily_to_hourly(ar1(rng, days, 0.6, 0.38), hours)
                  + 0.12 * np.sin(2.0 * math.pi * (solar_hour - 9.0) / 24.0)
                  + rng.normal(0.0, 0.12, time.size))
    pressure = 1015.0 + daily_to_hourly(ar1(rng, days, 0.8, 8.0), hours) - 5.0 * (cloud - 0.5)
    return WeatherYear(year, read_only(time), read_only(temperature), read_only(humidity),
                       read_only(np.clip(wind, 0.2, 25.0)), read_only(ghi), read_only(pressure),
                       read_only(cloud))


def heating_degree_days(daily_mean: FloatArray) -> FloatArray:
    """Return heating degree days per day below the heating base temperature."""
    hdd: FloatArray = np.maximum(HEATING_BASE - daily_mean, 0.0)
    return hdd


def normal_heating_degree_days(year: int) -> float:
    """Return the heating degree days of a year of climatological daily means."""
    days = year_stamps(year, 86400).size
    return float(heating_degree_days(climatology(np.arange(days, dtype=np.float64) + 0.5)).sum())


def ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> FloatArray:
    """Return a stationary AR(1) series with lag-one correlation phi and std sigma."""
    shocks = rng.normal(0.0, sigma * math.sqrt(1.0 - phi * phi), n)
    out = np.empty(n)
    level = float(rng.normal(0.0, sigma))
    for i in range(n):
        level = phi * level + float(shocks[i])
        out[i] = level
    return out


def daily_to_hourly(daily: FloatArray, hours: FloatArray) -> FloatArray:
    """Interpolate daily values (at noon) to hours."""
    noon = np.arange(daily.size) * 24.0 + 12.0
    hourly: FloatArray = np.interp(hours, noon, daily)
    return hourly


def _logistic(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


def _clear_sky(time: TimeArray) -> FloatArray:
    """Return clear-sky global horizontal irradiance in W/m² at the middle of each hour."""
    seconds = (time - time[0]).astype(np.int64).astype(np.float64) + 1800.0
    doy = seconds / 86400.0
    declination = np.radians(23.44) * np.sin(2.0 * math.pi * (284.0 + doy) / 365.0)
    solar_time = (seconds / 3600.0) % 24.0 + CENTRE_LON / 15.0
    hour_angle = np.radians(15.0 * (solar_time - 12.0))
    lat = math.radians(CENTRE_LAT)
    sin_elev = (math.sin(lat) * np.sin(declination)
                + math.cos(lat) * np.cos(declination) * np.cos(hour_angle))
    sin_elev = np.clip(sin_elev, 0.0, 1.0)
    ghi: FloatArray = np.where(sin_elev > 0.01,
                               1098.0 * sin_elev * np.exp(-0.057 / np.maximum(sin_elev, 0.01)), 0.0)
    return ghi
