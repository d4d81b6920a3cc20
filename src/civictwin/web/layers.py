"""What the web map shows: its tile layers and the building measures it can colour by.

A measure is either a property the building tiles carry (`tile_property`), or values computed
for the tenant by a function (`values`) that the page fetches once and joins by entity id, so
figures that other parts of civictwin derive (emissions, solar potential) plug in with
`register_measure` without touching the tiles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from civictwin.errors import ResourceNotFound
from civictwin.ngsild.jsonld import Context
from civictwin.store import Store
from civictwin.store.tiles import MeterLink, TileLayer, energy_per_area
from civictwin.web.measures import emissions_per_area, solar_potential

LOCATION = "location"
SENSOR_TYPES = ("AirQualityObserved", "WeatherObserved")
SENSOR_NUMBERS = ("pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity", "windSpeed")
BUILDING_NUMBERS = ("yearBuilt", "floorsAboveGround", "floorArea", "roofArea")
FLOOR_HEIGHT_M = 3.0
"""Storey height used to extrude buildings in 3D."""


def tile_layers(ctx: Context) -> dict[str, TileLayer]:
    """Return the map's tile layers by name, attribute names expanded with `ctx`."""
    def names(*types: str) -> dict[str, str]:
        return {ctx.expand(t): t for t in types}

    def numbers(*terms: str) -> dict[str, str]:
        return {t: ctx.expand(t) for t in terms}

    location = ctx.expand(LOCATION)
    return {
        "buildings": TileLayer("buildings", names("Building"), location,
                               numbers(*BUILDING_NUMBERS),
                               {"heatingType": ctx.expand("heatingType")}, min_zoom=12),
        "districts": TileLayer("districts", names("CityDistrict"), location,
                               numbers("population"), {"name": ctx.expand("name")}),
        "sensors": TileLayer("sensors", names(*SENSOR_TYPES), location,
                             numbers(*SENSOR_NUMBERS), {"name": ctx.expand("name")}),
    }


ValuesFunction = Callable[[Store, str, Context], Mapping[str, float]]


@dataclass(frozen=True)
class Measure:
    """One way to colour buildings, with what its legend needs."""

    name: str
    label: str
    kind: Literal["number", "category"]
    unit: str = ""
    tile_property: str | None = None
    values: ValuesFunction | None = field(default=None, compare=False)
    domain: tuple[float, float] = (0.0, 1.0)
    categories: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def describe(self) -> dict[str, Any]:
        """Return the measure as the page reads it."""
        return {"name": self.name, "label": self.label, "kind": self.kind, "unit": self.unit,
                "tileProperty": self.tile_property,
                "valuesUrl": None if self.values is None else f"measures/{self.name}/values",
                "domain": list(self.domain), "categories": dict(self.categories),
                "source": self.source}


def _energy(store: Store, tenant: str, ctx: Context) -> Mapping[str, float]:
    link = MeterLink(relationship=ctx.expand("refBuilding"),
                     readings=(ctx.expand("electricityConsumption"),),
                     floor_area=ctx.expand("floorArea"))
    return energy_per_area(store, tenant, link)


MEASURES: dict[str, Measure] = {}
"""The measures the map offers, in the order its selector lists them."""


def register_measure(measure: Measure) -> None:
    """Offer `measure` on the map (replacing one of the same name)."""
    MEASURES[measure.name] = measure


def measure(name: str) -> Measure:
    """Return the measure called `name`."""
    found = MEASURES.get(name)
    if found is None:
        raise ResourceNotFound(f"no map measure {name!r}; known: {', '.join(MEASURES)}")
    return found


for _measure in (
    Measure("yearBuilt", "Year built", "number", tile_property="yearBuilt",
            domain=(1850, 2025), source="Building.yearBuilt"),
    Measure("heatingType", "Heating type", "category", tile_property="heatingType",
            categories={"gasBoiler": "Gas boiler", "oilBoiler": "Oil boiler",
                        "districtHeating": "District heating", "heatPump": "Heat pump",
                        "electric": "Electric", "biomass": "Biomass"},
            source="Building.heatingType"),
    Measure("energyPerArea", "Electricity per m² (last year)", "number", unit="kWh/m²",
            values=_energy, domain=(0, 150),
            source="sum of the building's meters' electricityConsumption readings over the "
                   "year up to the newest one, divided by Building.floorArea"),
    Measure("floorsAboveGround", "Floors", "number", tile_property="floorsAboveGround",
            domain=(1, 12), source="Building.floorsAboveGround"),
    Measure("emissions", "Emissions per m² (last year)", "number", unit="kg CO2e/m²",
            values=emissions_per_area, domain=(0, 60),
            source="per building, the last year (as for energyPerArea) of its meters' "
                   "electricityConsumption and heatConsumption readings, the heat counted "
                   "under the carrier the meter's heatMeterType names, times the shipped "
                   "emission factor table (analytics/emission_factors.toml, t CO2e/MWh; the "
                   "emission_factors setting is not applied here), divided by "
                   "Building.floorArea; no figure when a carrier has no factor"),
    Measure("solarPotential", "Rooftop solar potential", "number", unit="kWh/year",
            values=solar_potential, domain=(0, 50000),
            source="Building.roofArea x 0.6 usable x 0.2 kWp/m² x the specific yield "
                   "(kWh/kWp, pvlib, analytics/solar.py) of the roof's roofTilt and "
                   "roofOrientation (flat and south when missing) on a 5°/10° grid, under "
                   "pvlib's Ineichen clear-sky year at the centre of the city x 0.65 for "
                   "cloud, 11 °C air, 14 % losses"),
):
    register_measure(_measure)
