"""What-if pathways of the building stock to 2030 / 2050: energy, emissions and cost per year.

The model is a deterministic stock model over buildings x years, in numpy. Each lever is a
share that grows linearly from the base year and is applied to every building it concerns as
an expected value (a building "is" 30 % retrofitted when 30 % of its age band is):

- retrofit: per age band, a share of the band's floor area per year, saving a share of its
  space heat (hot water is not affected);
- heat pumps: a share per year of the gas- and oil-heated buildings switch, at a COP that
  follows a path over the years;
- rooftop solar: a share of roofs per year up to a ceiling, each with usable roof x kWp/m² and
  the pvlib yield of its tilt and orientation (civictwin.analytics.solar);
- electric cars: a share of the cars of the building's dwellings, growing per year;
- grid decarbonisation: the electricity emission factor follows a path (kg CO2e per kWh).

Values between the years of a path are interpolated linearly and held beyond its ends. Every
stored result is additive (sums over buildings), so districts add up to the city; shares are
ratios of two results. Each lever and result carries a DPSIR tag (driver, pressure, state,
impact, response).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from civictwin.analytics.algorithms import Algorithm, register
from civictwin.errors import BadRequestData
from civictwin.samplecity.clock import FloatArray, IntArray

MODEL_VERSION = "1.0"
BAND_STARTS = (1919, 1946, 1971, 1991, 2011)  # a building is in band i if built before start i
BANDS = ("before 1919", "1919-1945", "1946-1970", "1971-1990", "1991-2010", "2011 and later")
USES = ("residential", "commercial", "office", "industrial", "public", "mixed")
HEATING = ("gasBoiler", "oilBoiler", "districtHeating", "heatPump", "electric", "biomass")
GAS, OIL, DISTRICT, HEAT_PUMP, ELECTRIC, BIOMASS = range(len(HEATING))
DPSIR = ("driver", "pressure", "state", "impact", "response")
CHUNK = 1024  # buildings per block

LEVERS: dict[str, tuple[str, str]] = {
    "retrofit": ("response", "insulation and glazing retrofits by age band"),
    "heat_pumps": ("response", "heat pumps replacing gas and oil boilers"),
    "solar": ("response", "rooftop photovoltaics"),
    "mobility": ("response", "electric cars replacing petrol and diesel cars"),
    "grid": ("response", "decarbonisation of grid electricity"),
}
# name: (unit, DPSIR tag, meaning); every metric is a sum over buildings.
METRICS: dict[str, tuple[str, str, str]] = {
    "buildings": ("count", "driver", "buildings in the stock"),
    "floor_area": ("m2", "driver", "gross floor area"),
    "cars": ("count", "driver", "cars of the dwellings"),
    "retrofitted_area": ("m2", "state", "floor area retrofitted"),
    "heat_pump_buildings": ("count", "state", "buildings heated by a heat pump"),
    "electric_cars": ("count", "state", "electric cars"),
    "heat_demand": ("kWh", "pressure", "useful heat for space heating and hot water"),
    "gas": ("kWh", "pressure", "natural gas burnt"),
    "oil": ("kWh", "pressure", "heating oil burnt"),
    "district_heat": ("kWh", "pressure", "district heat delivered"),
    "biomass": ("kWh", "pressure", "biomass burnt"),
    "electricity_demand": ("kWh", "pressure", "electricity used, heat pumps and cars included"),
    "pv_generation": ("kWh", "response", "rooftop solar generation"),
    "grid_import": ("kWh", "pressure", "electricity drawn from the grid"),
    "grid_export": ("kWh", "response", "solar electricity fed into the grid"),
    "emissions_heating": ("tCO2e", "pressure", "emissions of fuels and district heat"),
    "emissions_electricity": ("tCO2e", "pressure", "emissions of grid electricity drawn"),
    "emissions_transport": ("tCO2e", "pressure", "tailpipe emissions of combustion cars"),
    "emissions": ("tCO2e", "pressure", "all emissions in scope"),
    "energy_cost": ("EUR", "impact", "energy bills: grid electricity less feed-in, fuels, heat"),
    "investment": ("EUR", "response", "retrofit, heat-pump and solar investment in the year"),
}
ALGORITHM = register(Algorithm(
    id="climate-scenario-model",
    name="Climate-neutrality scenario model of the building stock",
    description_short="Projects energy, emissions and cost per district and year to 2050 "
                      "under retrofit, heat-pump, solar, EV and grid assumptions.",
    purpose="Let the city compare pathways to climate neutrality before it decides on "
            "programmes and budgets; results inform policy, never decisions about a single "
            "household.",
    kind="simulation model",
    module="civictwin.analytics.scenario",
    owner="The city's climate and energy department.",
    data_used=("Building entities of the twin: year built, floor area, use, heating type, roof "
               "area, tilt and orientation, district",
               "hourly irradiance and temperature of a WeatherObserved station when the twin "
               "has a year of it, else a clear-sky model for the city's location",
               "the assumptions of the scenario file (rates, savings, COP, prices, emission "
               "factors)"),
    method="Deterministic stock model (numpy, buildings x years): each lever is a share "
           "growing linearly from the base year, applied as an expected value; baseline demand "
           "from benchmark intensities per age band and use; solar yield with pvlib (Erbs, "
           "isotropic sky, Faiman, PVWatts).",
    limits_risks="Baseline demand comes from benchmark intensities, not each building's meter; "
                 "adoption is an average, so one building's pathway is not a prediction for "
                 "it; no rebound effect, no grid limits, no price feedback; results are only as "
                 "good as the assumptions.",
    risk_management="Every scenario is stored with all its assumptions and the weather source, "
                    "so it can be reproduced and challenged; assumptions are shown next to "
                    "results.",
    human_oversight="Climate officers write and review scenario assumptions; results are "
                    "discussed in council reports with their assumptions, not used "
                    "automatically.",
    legal_basis="The city's climate plan (public task).",
    contact="the twin's operator; issues at the civictwin project",
    version=MODEL_VERSION,
))


def _share(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{value} is not a share between 0 and 1")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Baseline(_Section):
    """Benchmark demand before any lever: useful heat by age band, electricity by use."""

    space_heat: tuple[float, ...] = (190.0, 175.0, 160.0, 130.0, 85.0, 40.0)  # kWh/m²·a
    hot_water: float = Field(15.0, ge=0)  # useful kWh/m²·a
    electricity: dict[str, float] = Field(default_factory=lambda: {
        "residential": 28.0, "commercial": 110.0, "office": 85.0, "industrial": 140.0,
        "public": 55.0, "mixed": 48.0})  # kWh/m²·a, without electric heating

    @field_validator("space_heat")
    @classmethod
    def _bands(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return _per_band(value, "space_heat", share=False)

    @field_validator("electricity")
    @classmethod
    def _uses(cls, value: dict[str, float]) -> dict[str, float]:
        missing = set(USES) - set(value)
        if missing or set(value) - set(USES):
            raise ValueError(f"needs exactly the uses {', '.join(USES)}")
        return value


class Retrofit(_Section):
    """Retrofit rate (share of the band's floor area per year) and saving, by age band."""

    rate: tuple[float, ...] = (0.02, 0.02, 0.025, 0.02, 0.01, 0.0)
    saving: tuple[float, ...] = (0.6, 0.6, 0.55, 0.5, 0.35, 0.0)
    cost_per_m2: float = Field(250.0, ge=0)

    @field_validator("rate", "saving")
    @classmethod
    def _bands(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return _per_band(value, "rate and saving", share=True)


class HeatPumps(_Section):
    """Share of gas- and oil-heated buildings switching per year, and the COP path."""

    rate: float = Field(0.03, ge=0, le=1)
    cop: dict[int, float] = Field(default_factory=lambda: {2025: 3.0, 2050: 3.6})
    cost_per_kw: float = Field(1400.0, ge=0)
    full_load_hours: float = Field(2000.0, gt=0)  # sizes the heat pump from annual heat


class Solar(_Section):
    """Rooftop PV: share of roofs per year up to a ceiling, sizing, cost and weather."""

    rate: float = Field(0.02, ge=0, le=1)
    max_share: float = Field(0.7, ge=0, le=1)
    usable_roof: float = Field(0.6, ge=0, le=1)
    kwp_per_m2: float = Field(0.2, gt=0)
    cost_per_kwp: float = Field(1300.0, ge=0)
    losses: float = Field(0.14, ge=0, lt=1)
    weather: Literal["auto", "clear-sky"] = "auto"
    clear_sky_factor: float = Field(0.65, gt=0, le=1)
    air_temperature: float = 11.0  # °C, used with the clear-sky model


class Mobility(_Section):
    """Cars of the dwellings and their electrification."""

    start_share: float = Field(0.05, ge=0, le=1)
    rate: float = Field(0.03, ge=0, le=1)
    cars_per_dwelling: float = Field(0.9, ge=0)
    dwelling_m2: float = Field(85.0, gt=0)
    km_per_car: float = Field(12000.0, ge=0)
    kwh_per_km: float = Field(0.18, ge=0)
    combustion_kg_per_km: float = Field(0.17, ge=0)


class Grid(_Section):
    """Grid electricity emission factor path, kg CO2e per kWh."""

    emission_factor: dict[int, float] = Field(default_factory=lambda: {
        2025: 0.16, 2030: 0.11, 2050: 0.02})


class Fuels(_Section):
    """Boiler efficiencies and emission factors (kg CO2e per kWh of fuel or heat)."""

    gas_efficiency: float = Field(0.9, gt=0, le=1.2)
    oil_efficiency: float = Field(0.85, gt=0, le=1.2)
    biomass_efficiency: float = Field(0.78, gt=0, le=1.2)
    gas_factor: float = Field(0.202, ge=0)
    oil_factor: float = Field(0.267, ge=0)
    biomass_factor: float = Field(0.02, ge=0)
    district_heat_factor: dict[int, float] = Field(default_factory=lambda: {
        2025: 0.18, 2050: 0.05})


class Prices(_Section):
    """Energy prices in EUR per kWh."""

    electricity: float = Field(0.30, ge=0)
    feed_in: float = Field(0.05, ge=0)
    gas: float = Field(0.10, ge=0)
    oil: float = Field(0.11, ge=0)
    district_heat: float = Field(0.12, ge=0)
    biomass: float = Field(0.08, ge=0)


class Assumptions(_Section):
    """Everything a scenario assumes; a TOML scenario file is this, section by section."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    base_year: int = Field(2025, ge=1990, le=2100)
    end_year: int = Field(2050, ge=1991, le=2150)
    baseline: Baseline = Field(default_factory=Baseline)
    retrofit: Retrofit = Field(default_factory=Retrofit)
    heat_pumps: HeatPumps = Field(default_factory=HeatPumps)
    solar: Solar = Field(default_factory=Solar)
    mobility: Mobility = Field(default_factory=Mobility)
    grid: Grid = Field(default_factory=Grid)
    fuels: Fuels = Field(default_factory=Fuels)
    prices: Prices = Field(default_factory=Prices)

    @model_validator(mode="after")
    def _years(self) -> Assumptions:
        if not self.base_year < self.end_year <= self.base_year + 100:
            raise ValueError("end_year must be after base_year, at most 100 years later")
        for label, path in (("heat_pumps.cop", self.heat_pumps.cop),
                            ("grid.emission_factor", self.grid.emission_factor),
                            ("fuels.district_heat_factor", self.fuels.district_heat_factor)):
            if not path or min(path.values()) < 0:
                raise ValueError(f"{label} needs at least one year and no negative value")
        if min(self.heat_pumps.cop.values()) <= 0:
            raise ValueError("heat_pumps.cop must be above 0")
        return self

    @property
    def years(self) -> IntArray:
        """Return the years of the pathway, base year first."""
        return np.arange(self.base_year, self.end_year + 1)

    def levers(self) -> list[dict[str, Any]]:
        """Return each lever with its DPSIR tag and its settings."""
        return [{"lever": name, "dpsir": tag, "description": text,
                 "settings": getattr(self, name).model_dump()}
                for name, (tag, text) in LEVERS.items()]


def _per_band(value: tuple[float, ...], what: str, share: bool) -> tuple[float, ...]:
    if len(value) != len(BANDS):
        raise ValueError(f"{what} needs one value per age band ({'; '.join(BANDS)})")
    for item in value:
        if item < 0 or (share and item > 1):
            raise ValueError(f"{what}: {item} is out of range")
    return value


def parse_assumptions(doc: dict[str, Any]) -> Assumptions:
    """Validate a scenario document; BadRequestData names the first thing wrong."""
    try:
        return Assumptions.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "scenario"
        raise BadRequestData(f"scenario {where}: {first['msg']}") from exc


def load_assumptions(path: Path) -> Assumptions:
    """Read and validate a TOML scenario file."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise BadRequestData(f"scenario file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadRequestData(f"scenario file {path}: {exc}") from exc
    doc.setdefault("name", path.stem)
    return parse_assumptions(doc)


@dataclass(frozen=True)
class BuildingStock:
    """The buildings a scenario runs over, as parallel arrays (one entry per building)."""

    ids: list[str]
    district: IntArray  # index into district_ids
    district_ids: list[str]
    year_built: IntArray
    use: IntArray  # index into USES
    heating: IntArray  # index into HEATING
    floor_area: FloatArray  # m²
    roof_area: FloatArray  # m²
    roof_tilt: FloatArray  # degrees
    roof_orientation: FloatArray  # degrees clockwise from north
    latitude: float
    longitude: float
    district_names: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: IntArray) -> BuildingStock:
        """Return the stock of the buildings at the positions `keep`, same districts."""
        return BuildingStock(
            [self.ids[i] for i in keep.tolist()], self.district[keep], self.district_ids,
            self.year_built[keep], self.use[keep], self.heating[keep], self.floor_area[keep],
            self.roof_area[keep], self.roof_tilt[keep], self.roof_orientation[keep],
            self.latitude, self.longitude, self.district_names)


@dataclass(frozen=True)
class ScenarioResult:
    """Results per metric, district and year: values[m, d, t] for METRICS order."""

    assumptions: Assumptions
    years: IntArray
    district_ids: list[str]
    values: FloatArray  # (metrics, districts, years)
    weather_source: str
    buildings: int

    def series(self, metric: str, district: str | None = None) -> FloatArray:
        """Return one metric by year, for a district or (None) the whole city."""
        m = list(METRICS).index(metric)
        if district is None:
            total: FloatArray = self.values[m].sum(axis=0)
            return total
        one: FloatArray = self.values[m, self.district_ids.index(district)]
        return one


def path_values(path: dict[int, float], years: IntArray) -> FloatArray:
    """Interpolate a {year: value} path linearly over `years`, holding its end values."""
    keys = sorted(path)
    found: FloatArray = np.interp(years, keys, [path[k] for k in keys])
    return found


def run(stock: BuildingStock, assume: Assumptions, pv_yield: FloatArray,
        weather_source: str) -> ScenarioResult:
    """Run a scenario over a building stock; pv_yield is kWh/kWp·a per building."""
    order = np.argsort(stock.district, kind="stable")
    values = np.zeros((len(METRICS), len(stock.district_ids), assume.years.size))
    # Blocks of buildings keep every buildings x years temporary in the CPU cache.
    for low in range(0, order.size, CHUNK):
        rows = order[low:low + CHUNK]
        district = stock.district[rows]
        present, starts = np.unique(district, return_index=True)
        metrics = _building_metrics(stock, rows, pv_yield[rows], assume)
        for m, name in enumerate(METRICS):
            block = metrics[name]
            if block.ndim == 1:
                values[m, present] += np.add.reduceat(block, starts)[:, None]
            else:
                values[m, present] += np.add.reduceat(block, starts, axis=0)
    return ScenarioResult(assume, assume.years, stock.district_ids, values, weather_source,
                          len(stock))


def _building_metrics(stock: BuildingStock, order: IntArray, pv_yield: FloatArray,
                      a: Assumptions) -> dict[str, FloatArray]:
    """Return every metric per building (rows) and year (columns), buildings in `order`."""
    k = (a.years - a.base_year).astype(np.float64)[None, :]
    area = stock.floor_area[order]
    heating = stock.heating[order]
    use = stock.use[order]
    band = np.searchsorted(BAND_STARTS, stock.year_built[order], side="right")
    done = np.minimum(1.0, np.asarray(a.retrofit.rate)[band][:, None] * k)
    space = area * np.asarray(a.baseline.space_heat)[band]
    heat = space[:, None] * (1.0 - np.asarray(a.retrofit.saving)[band][:, None] * done) \
        + (area * a.baseline.hot_water)[:, None]
    fossil = ((heating == GAS) | (heating == OIL)).astype(np.float64)[:, None]
    switched = np.minimum(1.0, a.heat_pumps.rate * k) * fossil
    pumps = switched + (heating == HEAT_PUMP)[:, None]
    cop = path_values(a.heat_pumps.cop, a.years)[None, :]
    gas = heat * (1.0 - switched) * (heating == GAS)[:, None] / a.fuels.gas_efficiency
    oil = heat * (1.0 - switched) * (heating == OIL)[:, None] / a.fuels.oil_efficiency
    district_heat = heat * (heating == DISTRICT)[:, None]
    biomass = heat * (heating == BIOMASS)[:, None] / a.fuels.biomass_efficiency
    intensity = np.asarray([a.baseline.electricity[u] for u in USES])[use]
    dwellings = np.where(use == 0, area, np.where(use == 5, 0.75 * area, 0.0))
    cars = dwellings / a.mobility.dwelling_m2 * a.mobility.cars_per_dwelling
    ev = np.minimum(1.0, a.mobility.start_share + a.mobility.rate * k)
    electric_cars = cars[:, None] * ev
    electricity = ((area * intensity)[:, None] + heat * pumps / cop
                   + heat * (heating == ELECTRIC)[:, None]
                   + electric_cars * a.mobility.km_per_car * a.mobility.kwh_per_km)
    kwp = stock.roof_area[order] * a.solar.usable_roof * a.solar.kwp_per_m2
    pv_share = np.minimum(a.solar.max_share, a.solar.rate * k)
    pv = (kwp * pv_yield)[:, None] * pv_share
    net = electricity - pv
    grid_import, grid_export = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    heat_factor = path_values(a.fuels.district_heat_factor, a.years)[None, :]
    emissions_heating = (gas * a.fuels.gas_factor + oil * a.fuels.oil_factor
                         + biomass * a.fuels.biomass_factor + district_heat * heat_factor) / 1e3
    emissions_electricity = grid_import * path_values(a.grid.emission_factor, a.years) / 1e3
    emissions_transport = (cars[:, None] - electric_cars) * (
        a.mobility.km_per_car * a.mobility.combustion_kg_per_km / 1e3)
    p = a.prices
    cost = (grid_import * p.electricity - grid_export * p.feed_in + gas * p.gas + oil * p.oil
            + district_heat * p.district_heat + biomass * p.biomass)
    investment = (_added(done) * (area * a.retrofit.cost_per_m2)[:, None]
                  + _added(switched) * (heat[:, :1] / a.heat_pumps.full_load_hours
                                        * a.heat_pumps.cost_per_kw)
                  + _added(pv_share) * (kwp * a.solar.cost_per_kwp)[:, None])
    found: dict[str, FloatArray] = {
        "buildings": np.ones(area.size), "floor_area": area, "cars": cars,
        "retrofitted_area": area[:, None] * done, "heat_pump_buildings": pumps,
        "electric_cars": electric_cars, "heat_demand": heat, "gas": gas, "oil": oil,
        "district_heat": district_heat, "biomass": biomass, "electricity_demand": electricity,
        "pv_generation": pv, "grid_import": grid_import, "grid_export": grid_export,
        "emissions_heating": emissions_heating, "emissions_electricity": emissions_electricity,
        "emissions_transport": emissions_transport,
        "emissions": emissions_heating + emissions_electricity + emissions_transport,
        "energy_cost": cost, "investment": investment,
    }
    return found


def _added(share: FloatArray) -> FloatArray:
    """Return the increase of a share over the year before (0 in the base year)."""
    found: FloatArray = np.diff(share, axis=-1, prepend=share[..., :1])
    return found
