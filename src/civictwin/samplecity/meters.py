"""One energy meter per building: its NGSI-LD entity and its synthetic reading history.

The meter is a Smart Data Models ``SmartMeteringObservation`` (dataModel.Device) with
``meterType`` "Electricity" and ``totalConsumption`` (cumulative kWh since installation, unit
KWH, ``observedAt`` the reading time), linked to its building by ``refBuilding`` (the SDM
Building-subject relationship). SDM's meter carries one supply, so the heat side is civictwin
vocabulary: ``heatMeterType`` ("NaturalGas", "HeatingOil", "DistrictHeat" or "Biomass") and
``totalHeatConsumption`` (cumulative kWh of fuel or delivered heat). Buildings heated by
electricity (heat pumps, resistive heating) have no heat meter; their heating is in the
electricity readings.

Annual energy follows the building: electricity per m² by use, space heat per m² by
construction epoch scaled by the year's heating degree days, hot water per m² by use, and the
heating system's efficiency or a heat pump's weather-dependent COP. The history of a year is
quarter-hour electricity and daily heat in kWh, shaped by ``profiles`` and noisy, and sums
exactly to the annual totals the entity reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from civictwin.samplecity.buildings import BuildingSpec
from civictwin.samplecity.clock import FloatArray, TimeArray
from civictwin.samplecity.entities import geo_property, prop, rel, urn
from civictwin.samplecity.geometry import point_geometry, ring_centroid
from civictwin.samplecity.profiles import HEAT_PUMP_HOT_WATER_COP, LoadShapes, load_shapes

_ELECTRICITY = {"residential": 28.0, "commercial": 110.0, "office": 85.0, "industrial": 140.0,
                "public": 55.0}  # kWh per m² and year, without electric heating
_SPACE_HEAT_BY_EPOCH = (190.0, 175.0, 160.0, 130.0, 85.0, 40.0)  # useful kWh/m², normal year
_SPACE_HEAT_USE = {"residential": 1.0, "mixed": 1.0, "office": 0.85, "commercial": 0.9,
                   "industrial": 0.55, "public": 0.95}
_HOT_WATER = {"residential": 18.0, "mixed": 14.0, "office": 4.0, "commercial": 5.0,
              "industrial": 3.0, "public": 6.0}  # useful kWh per m² and year
HEAT_METERS = {"gasBoiler": "NaturalGas", "oilBoiler": "HeatingOil",
               "districtHeating": "DistrictHeat", "biomass": "Biomass"}
_EFFICIENCY = {"gasBoiler": 0.88, "oilBoiler": 0.84, "districtHeating": 1.0, "biomass": 0.78}
_EPOCH_STARTS = (1919, 1946, 1971, 1991, 2011)


@dataclass(frozen=True)
class MeterSpec:
    """The parameters behind one meter's readings."""

    number: int
    seed: int
    use: str
    heating: str
    electricity_base: float  # kWh per year without electric heating
    residential_share: float  # share of electricity_base that follows the dwelling profile
    space_heat: float  # useful kWh in a normal year
    hot_water: float  # useful kWh per year
    efficiency: float  # fuel or delivered heat per useful heat; 0 for electric heating
    installed_years: float  # age of the meter at the start of the reference year

    @property
    def meter_id(self) -> str:
        """Return the URN of this meter."""
        return urn("SmartMeteringObservation", self.number)


@dataclass(frozen=True)
class MeterSeries:
    """A year of readings of one meter: energy per interval, stamped at interval start (UTC)."""

    meter_id: str
    year: int
    electricity_time: TimeArray  # quarter hours, datetime64[s]
    electricity_kwh: FloatArray
    heat_time: TimeArray  # days, datetime64[s]
    heat_kwh: FloatArray  # zero throughout when the building has no heat meter


def meter_spec(rng: np.random.Generator, seed: int, building: BuildingSpec) -> MeterSpec:
    """Derive a building's meter parameters from the building."""
    other = building.floor_area - building.residential_area
    other_use = "commercial" if building.use == "mixed" else building.use
    other_rate = _ELECTRICITY[other_use] if other > 0 else 0.0
    residential = building.residential_area * _ELECTRICITY["residential"]
    variation = float(np.clip(rng.lognormal(0.0, 0.25), 0.6, 1.8))
    electricity = (residential + other * other_rate) * variation
    epoch = sum(building.year_built >= start for start in _EPOCH_STARTS)
    space = (_SPACE_HEAT_BY_EPOCH[epoch] * _SPACE_HEAT_USE[building.use] * building.floor_area
             * float(np.clip(rng.lognormal(0.0, 0.2), 0.6, 1.6)))
    efficiency = _EFFICIENCY.get(building.heating, 0.0)
    if building.heating == "gasBoiler" and building.year_built >= 1991:
        efficiency = 0.95
    return MeterSpec(building.number, seed, building.use, building.heating, electricity,
                     residential * variation / electricity if electricity else 1.0, space,
                     _HOT_WATER[building.use] * building.floor_area, efficiency,
                     float(rng.uniform(0.5, 12.0)))


def annual_totals(spec: MeterSpec, year: int) -> tuple[float, float]:
    """Return the year's electricity and heat (fuel or delivered heat) in kWh."""
    base, space_el, water_el = _electricity_parts(spec, load_shapes(spec.seed, year), year)
    heat = 0.0
    if spec.efficiency:
        ratio = load_shapes(spec.seed, year).degree_day_ratio
        heat = (spec.space_heat * ratio + spec.hot_water) / spec.efficiency
    return base + space_el + water_el, heat


def meter_series(spec: MeterSpec, year: int) -> MeterSeries:
    """Generate a year of quarter-hour electricity and daily heat readings of one meter."""
    shapes = load_shapes(spec.seed, year)
    rng = np.random.default_rng([spec.seed, spec.number, year])
    base, space_el, water_el = _electricity_parts(spec, shapes, year)
    residential = shapes.shapes["residential"]
    if spec.use in shapes.shapes and spec.use != "residential":
        own = shapes.shapes[spec.use]
    else:
        own = shapes.shapes["commercial"]
    load = base * (spec.residential_share * residential + (1.0 - spec.residential_share) * own)
    if space_el:
        heating = shapes.heat_pump if spec.heating == "heatPump" else shapes.direct_electric
        load = load + space_el * heating + water_el * residential
    sigma = 0.35 if spec.residential_share > 0.5 else 0.12
    days = shapes.days.size
    day_noise = np.repeat(rng.lognormal(0.0, 0.1, days), 96)
    load = load * rng.lognormal(0.0, sigma, load.size) * day_noise
    load *= (base + space_el + water_el) / load.sum()
    heat = np.zeros(days)
    total_heat = annual_totals(spec, year)[1]
    if total_heat:
        ratio = shapes.degree_day_ratio
        heat = (spec.space_heat * ratio * shapes.space_heat_days
                + spec.hot_water * shapes.hot_water_days) * rng.lognormal(0.0, 0.06, days)
        heat *= total_heat / heat.sum()
    return MeterSeries(spec.meter_id, year, shapes.time, load, shapes.days, heat)


def meter_entity(
    spec: MeterSpec, building: BuildingSpec, year: int, observed_at: str
) -> dict[str, Any]:
    """Build the NGSI-LD meter entity with the cumulative readings at the end of a year."""
    electricity, heat = annual_totals(spec, year)
    entity: dict[str, Any] = {
        "id": spec.meter_id,
        "type": "SmartMeteringObservation",
        "name": prop(f"Meter {building.street} {building.house_number}"),
        "meterType": prop("Electricity"),
        "totalConsumption": prop(round(electricity * (1.0 + spec.installed_years), 1), "KWH",
                                 observed_at),
        "refBuilding": rel(building.entity_id),
        "location": geo_property(point_geometry(*ring_centroid(building.ring))),
    }
    if heat:
        entity["heatMeterType"] = prop(HEAT_METERS[spec.heating])
        entity["totalHeatConsumption"] = prop(round(heat * (1.0 + spec.installed_years), 1),
                                              "KWH", observed_at)
    return entity


def _electricity_parts(
    spec: MeterSpec, shapes: LoadShapes, year: int
) -> tuple[float, float, float]:
    """Return the year's base electricity, space-heating and hot-water electricity in kWh."""
    drift = np.random.default_rng([spec.seed, spec.number, year, 1]).uniform(-1.0, 1.0)
    base = spec.electricity_base * (1.0 + 0.03 * float(drift))
    if spec.heating == "heatPump":
        space = spec.space_heat * shapes.degree_day_ratio * shapes.heat_pump_factor
        return base, space, spec.hot_water / HEAT_PUMP_HOT_WATER_COP
    if spec.heating == "electric":
        return base, spec.space_heat * shapes.degree_day_ratio, spec.hot_water
    return base, 0.0, 0.0
