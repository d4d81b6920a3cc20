"""Generate Lumen, a fictional mid-size European city, from a seed.

Everything is computed, nothing is downloaded: the same seed and building count give the same
city, entity for entity and reading for reading. Entities are NGSI-LD normalized dicts with
short attribute names and no ``@context``; the caller adds ``CONTEXT`` (the bundled civictwin
context, which maps every term used here) and the NGSI-LD core context.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from civictwin.samplecity.buildings import BuildingSpec, building_entity, building_spec
from civictwin.samplecity.districts import PROFILES, apportion, district_entity
from civictwin.samplecity.geometry import (
    DistrictLayout,
    StreetGrid,
    partition,
    street_grid,
    to_lonlat,
)
from civictwin.samplecity.lots import Lot, block_lots
from civictwin.samplecity.meters import (
    MeterSeries,
    MeterSpec,
    meter_entity,
    meter_series,
    meter_spec,
)
from civictwin.samplecity.names import house_numbers, street_names
from civictwin.samplecity.stations import (
    StationSeries,
    StationSpec,
    place_stations,
    station_entity,
    station_series,
)

CONTEXT = "https://civictwin.org/ns/civictwin-context.jsonld"
REFERENCE_YEAR = 2024
INHABITANTS_PER_BUILDING = 40  # 120,000 inhabitants for the default 3,000 buildings
_LOTS_PER_BLOCK = 19.0  # a first guess, to size the street grid
_SPARE_LOTS = 1.12  # lay out this many lots per building; the rest stay vacant


@dataclass(frozen=True)
class SampleCity:
    """A generated city: entity lists in load order, metadata, and the means to replay history."""

    name: str
    seed: int
    centre: tuple[float, float]  # lon, lat
    bbox: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat
    reference_year: int
    observed_at: str  # when the meters were last read: the end of the reference year
    districts: list[dict[str, Any]]
    buildings: list[dict[str, Any]]
    meters: list[dict[str, Any]]
    stations: list[dict[str, Any]]
    meter_specs: dict[str, MeterSpec] = field(repr=False, compare=False)
    station_specs: dict[str, StationSpec] = field(repr=False, compare=False)

    def meter_readings(self, meter_id: str, year: int | None = None) -> MeterSeries:
        """Return a year of readings of one meter (the reference year by default)."""
        return meter_series(self.meter_specs[meter_id], self._year(year))

    def station_readings(self, station_id: str, year: int | None = None) -> StationSeries:
        """Return a year of hourly observations of one station (the reference year by default)."""
        return station_series(self.station_specs[station_id], self._year(year))

    def _year(self, year: int | None) -> int:
        return self.reference_year if year is None else year


def generate_city(seed: int = 7, buildings: int = 3000) -> SampleCity:
    """Generate the sample city with a given number of buildings."""
    if buildings < 1:
        raise ValueError("a city needs at least one building")
    grid, layout, lots = _layout(seed, buildings)
    rng = np.random.default_rng([seed, 0xB1])
    chosen = sorted(int(i) for i in rng.choice(len(lots), buildings, replace=False))
    lots = [lots[i] for i in chosen]
    names = street_names(rng, grid.rows, grid.columns)
    numbers = house_numbers(lots)
    specs = [building_spec(rng, n, lot, names[lot.street], number)
             for n, (lot, number) in enumerate(zip(lots, numbers, strict=True), start=1)]
    meters = [meter_spec(rng, seed, spec) for spec in specs]
    stations = place_stations(rng, seed, grid, layout)
    end = f"{REFERENCE_YEAR + 1}-01-01T00:00:00Z"
    return SampleCity(
        name="Lumen",
        seed=seed,
        centre=(to_lonlat(0.0, 0.0)[0], to_lonlat(0.0, 0.0)[1]),
        bbox=_bbox(grid),
        reference_year=REFERENCE_YEAR,
        observed_at=end,
        districts=_district_entities(layout, specs, buildings),
        buildings=[building_entity(spec) for spec in specs],
        meters=[meter_entity(m, b, REFERENCE_YEAR, end)
                for m, b in zip(meters, specs, strict=True)],
        stations=[station_entity(s, station_series(s, REFERENCE_YEAR)) for s in stations],
        meter_specs={m.meter_id: m for m in meters},
        station_specs={s.station_id: s for s in stations},
    )


def iter_entities(city: SampleCity) -> Iterator[dict[str, Any]]:
    """Yield every entity so that a relationship's target comes before the relationship."""
    yield from city.districts
    yield from city.buildings
    yield from city.meters
    yield from city.stations


def meter_readings(city: SampleCity, meter_id: str, year: int | None = None) -> MeterSeries:
    """Return a year of quarter-hour electricity and daily heat readings of one meter."""
    return city.meter_readings(meter_id, year)


def station_readings(city: SampleCity, station_id: str, year: int | None = None) -> StationSeries:
    """Return a year of hourly observations of one station."""
    return city.station_readings(station_id, year)


def _layout(seed: int, buildings: int) -> tuple[StreetGrid, DistrictLayout, list[Lot]]:
    """Lay out streets, districts and lots, growing the grid until there are enough lots."""
    blocks = max(12, math.ceil(buildings * _SPARE_LOTS / _LOTS_PER_BLOCK))
    columns = max(4, round(math.sqrt(blocks * 1.25)))
    rows = max(3, math.ceil(blocks / columns))
    while True:
        rng = np.random.default_rng([seed, columns, rows])
        grid = street_grid(rng, columns, rows)
        layout = partition(rng, grid)
        lots = block_lots(rng, grid, layout)
        if len(lots) >= buildings:
            return grid, layout, lots
        if columns <= rows * 1.25:
            columns += 1
        else:
            rows += 1


def _district_entities(
    layout: DistrictLayout, specs: list[BuildingSpec], buildings: int
) -> list[dict[str, Any]]:
    """Build district entities, sharing the population out by residential floor area."""
    dwelling_area = [0.0] * len(PROFILES)
    for spec in specs:
        dwelling_area[spec.district] += spec.residential_area
    population = apportion(INHABITANTS_PER_BUILDING * buildings, dwelling_area)
    return [district_entity(i, ring, population[i]) for i, ring in enumerate(layout.rings)]


def _bbox(grid: StreetGrid) -> tuple[float, float, float, float]:
    west, south = to_lonlat(grid.xs[0], grid.ys[0])
    east, north = to_lonlat(grid.xs[-1], grid.ys[-1])
    return west, south, east, north
