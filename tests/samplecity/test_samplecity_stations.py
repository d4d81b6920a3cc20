"""Air-quality and weather stations: entities and plausible hourly history."""

from __future__ import annotations

import numpy as np
import pytest

from civictwin.samplecity import SampleCity, StationSeries, generate_city, station_readings


def _series(city: SampleCity, entity_type: str) -> list[StationSeries]:
    return [station_readings(city, s["id"]) for s in city.stations if s["type"] == entity_type]


def test_station_entities(city: SampleCity) -> None:
    west, south, east, north = city.bbox
    for station in city.stations:
        point = station["location"]["value"]
        assert point["type"] == "Point"
        lon, lat = point["coordinates"]
        assert west <= lon <= east and south <= lat <= north
        assert station["dateObserved"]["value"] == {"@type": "DateTime",
                                                    "@value": "2024-12-31T23:00:00Z"}
    positions = [tuple(s["location"]["value"]["coordinates"]) for s in city.stations]
    assert len(positions) == len(set(positions))


def test_entity_values_are_the_last_hour(city: SampleCity) -> None:
    for station in city.stations:
        series = station_readings(city, station["id"])
        for name, values in series.values.items():
            assert station[name]["value"] == pytest.approx(values[-1], abs=0.051)


@pytest.mark.parametrize(("year", "hours"), [(2024, 8784), (2023, 8760)])
def test_hourly_series_cover_the_year(city: SampleCity, year: int, hours: int) -> None:
    series = station_readings(city, city.stations[0]["id"], year)
    assert series.time.shape == (hours,)
    assert series.time[0] == np.datetime64(f"{year}-01-01T00:00:00")
    assert all(v.shape == (hours,) and v.dtype == np.float64 for v in series.values.values())


def test_station_series_are_deterministic(city: SampleCity) -> None:
    station = city.stations[3]["id"]
    first = station_readings(city, station)
    again = station_readings(generate_city(buildings=10), station)
    other = station_readings(generate_city(seed=9, buildings=10), station)
    for name in first.values:
        assert np.array_equal(first.values[name], again.values[name])
        assert not np.array_equal(first.values[name], other.values[name])


def test_weather_is_plausible(city: SampleCity) -> None:
    for series in _series(city, "WeatherObserved"):
        v = series.values
        temperature = v["temperature"]
        assert 8.0 < temperature.mean() < 14.0
        assert -20.0 < temperature.min() < 0.0 and 24.0 < temperature.max() < 38.0
        july, january = temperature[182 * 24:213 * 24].mean(), temperature[:31 * 24].mean()
        assert july > january + 10.0
        assert np.all((v["relativeHumidity"] > 0.0) & (v["relativeHumidity"] <= 1.0))
        assert np.all(v["windSpeed"] >= 0.0) and 2.0 < v["windSpeed"].mean() < 7.0
        solar = v["solarRadiation"]
        assert np.all(solar >= 0.0) and solar.max() < 1100.0
        assert 850.0 < solar.sum() / 1000.0 < 1300.0  # kWh/m² in a year
        assert np.all(solar.reshape(-1, 24)[:, 22] == 0.0)  # 22:00 UTC is night all year
        assert np.all((v["atmosphericPressure"] > 950.0) & (v["atmosphericPressure"] < 1060.0))


def test_air_quality_is_plausible(city: SampleCity) -> None:
    by_site: dict[str, list[StationSeries]] = {}
    for station in city.stations:
        if station["type"] == "AirQualityObserved":
            site = station["name"]["value"].rsplit(" ", 1)[1]
            by_site.setdefault(site, []).append(station_readings(city, station["id"]))
    for series_list in by_site.values():
        for series in series_list:
            v = series.values
            assert all(np.all(x > 0.0) for x in v.values())
            assert np.all(v["pm10"] >= v["pm25"])
            assert 5.0 < v["pm25"].mean() < 25.0
            assert 10.0 < v["pm10"].mean() < 40.0
            assert 10.0 < v["no2"].mean() < 60.0
            assert 25.0 < v["o3"].mean() < 75.0
            summer, winter = v["o3"][152 * 24:244 * 24].mean(), v["o3"][:59 * 24].mean()
            assert summer > winter
    traffic = np.mean([s.values["no2"].mean() for s in by_site["traffic"]])
    background = np.mean([s.values["no2"].mean() for s in by_site["urbanBackground"]])
    assert traffic > 1.3 * background
