"""City indicators (ISO 37120 / 37122 / 37123) from the lake, per city and district, graded.

Every figure comes from lake jobs (``engine.JOBS``) run by either engine; this module only does
arithmetic on their rows. Each value carries a data-quality grade in the spirit of ISO 37114:
coverage (how much of the city the data covers), timeliness (how much of the period has data)
and method (measured, partial, or not computable), each scored 0-2; 6 is A, 5 B, 3-4 C, else D.
Where the data cannot support an indicator the value is None with the reason, never a guess.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from civictwin.analytics.engine import JOBS, AnalyticsEngine, Row
from civictwin.analytics.ghg import BILLING, FactorTable, build_inventory
from civictwin.errors import BadRequestData

CITY = ""  # the area id of the whole city
KWH_PER_GJ = 277.777_777_8
WHO_24H = {"pm25": 15.0, "no2": 25.0}  # WHO global air quality guidelines 2021, 24-hour
HOT_DAY = 30.0  # °C daily maximum
TROPICAL_NIGHT = 20.0  # °C daily minimum
VALID_DAY_HOURS = 18  # 75 % of the hours, as air-quality day means usually require
KOPAVOGUR = ("Kópavogur municipality's public ISO indicator portal, "
             "https://kopavogur.nightingale.is/Measurements/Reports/")
EDITIONS = {"ISO 37120": "ISO 37120:2018", "ISO 37122": "ISO 37122:2019",
            "ISO 37123": "ISO 37123:2019"}


@dataclass(frozen=True)
class Indicator:
    """What an indicator is: standard, clause (when confirmed), name, unit, formula, data."""

    key: str
    standard: str
    clause: str | None  # confirmed clause number; None when we could not confirm it
    name: str
    unit: str
    unit_code: str
    formula: str
    datasets: tuple[str, ...]
    iso_source: str = ""  # the public source that confirms the clause number

    @property
    def confirmed(self) -> bool:
        """Tell whether a public source confirmed the clause number."""
        return self.clause is not None and bool(self.iso_source)

    @property
    def iso(self) -> str | None:
        """Return the standard, edition and clause (e.g. "ISO 37120:2018 7.1"), if known."""
        code = self.standard.split(" (")[0]
        if self.clause is None or code not in EDITIONS:
            return None
        return f"{EDITIONS[code]} {self.clause}"


REGISTER: dict[str, Indicator] = {i.key: i for i in (
    Indicator("energy-per-capita", "ISO 37120 (energy)", None,
              "Total end-use energy consumption per capita", "GJ per person", "GV",
              "sum(billed electricity + heat kWh) / 277.78 / population",
              ("SmartMeteringObservation.electricityConsumption[billing]",
               "SmartMeteringObservation.heatConsumption[billing]", "CityDistrict.population")),
    Indicator("electricity-per-capita", "ISO 37120 (energy)", None,
              "Electrical energy use per capita", "kWh per person", "KWH",
              "sum(billed electricity kWh) / population",
              ("SmartMeteringObservation.electricityConsumption[billing]",
               "CityDistrict.population")),
    Indicator("residential-energy-per-m2", "civictwin (supports ISO 37120 energy)", None,
              "Residential end-use energy per m² of residential floor area", "kWh per m²",
              "KWH", "sum(billed kWh of residential and mixed buildings) / their floorArea",
              ("SmartMeteringObservation.*Consumption[billing]", "Building.category",
               "Building.floorArea")),
    Indicator("renewable-share", "ISO 37120 (energy)", "7.2",
              "Share of total end-use energy from renewable sources", "%", "P1",
              "(sum of carriers x their renewable share + heat-pump ambient heat) / "
              "(total end-use energy + ambient heat)",
              ("SmartMeteringObservation.electricityConsumption[billing]",
               "SmartMeteringObservation.heatConsumption[billing]",
               "SmartMeteringObservation.heatMeterType", "Building.heatingType",
               "Building.floorArea", "emission factor table renewable shares and SPF"),
              KOPAVOGUR + "d777de1e-a409-47b5-897c-5091c47af3a0 lists this indicator as 7.2 "
              "in its ISO 37120:2018 series (measurement codes iso37120-2018:__7.x)"),
    Indicator("ghg-per-capita", "ISO 37120 (environment and climate change)", "8.3",
              "Greenhouse gas emissions per capita", "t CO2e per person", "TNE",
              "GPC BASIC total (estimated sub-sectors) / population",
              ("GHG inventory (civictwin.analytics.ghg)", "CityDistrict.population"),
              KOPAVOGUR + "45bce2ad-3609-46b7-8917-7151cc00c636 gives the measurement code "
              "iso37120-2018:__8.3_greenhouse_gas_emissions_measured_in_tonnes_per_capita"),
    Indicator("pm25-annual-mean", "ISO 37120 (environment and climate change)", "8.1",
              "Fine particulate matter (PM2.5) concentration", "µg/m³", "GQ",
              "mean of valid daily means (>= 18 h) over the area's stations",
              ("AirQualityObserved.pm25",),
              KOPAVOGUR + "630dccbf-3cb8-4d08-97fb-1451f1d01a39 lists PM2.5 as 8.1 in its "
              "ISO 37120:2018 series (8.2 PM10 has code iso37120-2018:__8.2_...)"),
    Indicator("no2-annual-mean", "ISO 37120 (environment and climate change)", None,
              "Nitrogen dioxide (NO2) concentration", "µg/m³", "GQ",
              "mean of valid daily means (>= 18 h) over the area's stations",
              ("AirQualityObserved.no2",)),
    Indicator("pm25-days-above-who", "civictwin (supports ISO 37120 air quality)", None,
              "Days with PM2.5 daily mean above the WHO 2021 guideline (15 µg/m³)", "days",
              "DAY", "count of days on which a station's valid daily mean > 15",
              ("AirQualityObserved.pm25",)),
    Indicator("no2-days-above-who", "civictwin (supports ISO 37120 air quality)", None,
              "Days with NO2 daily mean above the WHO 2021 guideline (25 µg/m³)", "days",
              "DAY", "count of days on which a station's valid daily mean > 25",
              ("AirQualityObserved.no2",)),
    Indicator("smart-meter-share", "ISO 37122 (energy)", "7.9",
              "Share of buildings with smart energy meters", "%", "P1",
              "buildings whose meter sends hourly-or-finer readings / buildings",
              ("SmartMeteringObservation.electricityConsumption", "Building"),
              KOPAVOGUR + "7fe445ab-2cbf-4e1d-9b23-3a93f47267ec lists 'Percentage of "
              "buildings in the city with smart energy meters' as 7.9 (the standard counts "
              "public, commercial and industrial buildings, not households, which its 12.1 "
              "covers; civictwin counts every building)"),
    Indicator("hot-days", "ISO 37123 (resilience, heat exposure)", None,
              "Days with a maximum temperature above 30 °C", "days", "DAY",
              "count of days on which a station's highest hourly temperature > 30 °C",
              ("WeatherObserved.temperature",)),
    Indicator("tropical-nights", "ISO 37123 (resilience, heat exposure)", None,
              "Days with a minimum temperature of 20 °C or more", "days", "DAY",
              "count of days on which a station's lowest hourly temperature >= 20 °C",
              ("WeatherObserved.temperature",)),
)}


@dataclass(frozen=True)
class Grade:
    """A data-quality grade and the three scores behind it."""

    letter: str
    coverage: float
    timeliness: float
    method: str
    explanation: str


@dataclass(frozen=True)
class IndicatorValue:
    """One indicator for one area and period, graded; value None means not computable."""

    key: str
    area_id: str
    area_name: str
    period: str
    value: float | None
    grade: Grade | None
    note: str = ""

    @property
    def indicator(self) -> Indicator:
        """Return the register entry."""
        return REGISTER[self.key]


def grade(coverage: float, timeliness: float, method: str) -> Grade:
    """Grade coverage and timeliness (shares 0..1) and method (measured|partial|modelled)."""
    def score(share: float) -> int:
        return 2 if share >= 0.95 else 1 if share >= 0.5 else 0

    points = score(coverage) + score(timeliness) + {"measured": 2, "partial": 1}.get(method, 0)
    letter = "A" if points == 6 else "B" if points == 5 else "C" if points >= 3 else "D"
    return Grade(letter, round(coverage, 4), round(timeliness, 4), method,
                 f"coverage {coverage:.0%}, period covered {timeliness:.0%}, method {method}")


@dataclass
class _Context:
    """Job results for one run, indexed the way the indicators need them."""

    by: str
    start: str
    end: str
    names: dict[str, str]
    population: dict[str, float]
    energy: list[Row]
    heat_pumps: list[Row]
    stock: list[Row]
    air: list[Row]
    weather: list[Row]
    periods: list[str] = field(default_factory=list)


def compute(engine: AnalyticsEngine, factors: FactorTable, start: str, end: str,
            by: str = "year") -> list[IndicatorValue]:
    """Compute every indicator per city and district for each year or month in [start, end)."""
    if by not in ("year", "month"):
        raise BadRequestData("indicators are computed by year or by month")
    _check_range(start, end)
    days = {"start": start, "end": end}
    people = engine.run(JOBS["district_population"])
    ctx = _Context(
        by, start, end, {r["district_id"]: r["district_name"] for r in people},
        {r["district_id"]: float(r["population"]) for r in people},
        engine.run(JOBS["energy_use"], {"period": "month", "dataset": BILLING, **days}),
        engine.run(JOBS["heat_pump_electricity"], {"dataset": BILLING, **days}),
        engine.run(JOBS["building_stock"], days), engine.run(JOBS["air_quality_daily"], days),
        engine.run(JOBS["weather_daily"], days))
    ctx.periods = _periods(start, end, by)
    out: list[IndicatorValue] = []
    inventory = build_inventory(engine, factors, start, end) if by == "year" else None
    for period in ctx.periods:
        for area in [CITY, *sorted(ctx.names)]:
            out += _energy(ctx, factors, period, area)
            out += _air(ctx, period, area) + _heat(ctx, period, area)
            out.append(_smart(ctx, period, area))
            if inventory is not None:
                total = inventory.total(period, None if area == CITY else area)
                out.append(_per_capita(ctx, "ghg-per-capita", period, area, total,
                                       _energy_grade(ctx, period, area)))
    return out


def _check_range(start: str, end: str) -> None:
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise BadRequestData(f"period bounds must be dates: {exc}") from exc
    if first >= last:
        raise BadRequestData("the period must end after it starts")


def _periods(start: str, end: str, by: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    out: list[str] = []
    year, month = first.year, first.month
    while date(year, month, 1) < last:
        out.append(f"{year:04d}-{month:02d}" if by == "month" else f"{year:04d}")
        if by == "month":
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        else:
            year, month = year + 1, 1
    return sorted(set(out))


def _in(period: str, day_or_month: str) -> bool:
    return day_or_month.startswith(period)


def _area(row: Row, area: str) -> bool:
    return area == CITY or row["district_id"] == area


def _months_in(period: str) -> int:
    return 1 if len(period) == 7 else 12


def _days_in(period: str) -> int:
    year = int(period[:4])
    if len(period) == 7:
        return calendar.monthrange(year, int(period[5:7]))[1]
    return 366 if calendar.isleap(year) else 365


def _name(ctx: _Context, area: str) -> str:
    return "city" if area == CITY else ctx.names.get(area, area)


def _energy_grade(ctx: _Context, period: str, area: str) -> Grade | None:
    rows = [r for r in ctx.energy if _in(period, r["period"]) and _area(r, area)]
    buildings = sum(r["buildings"] for r in ctx.stock if _area(r, area))
    if not rows or not buildings:
        return None
    metered: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["carrier"] == "electricity":
            metered[r["period"]] += int(r["meters"])
    coverage = min(max(metered.values(), default=0) / buildings, 1.0)
    months = len({r["period"] for r in rows}) / _months_in(period)
    return grade(coverage, months, "measured")


def _per_capita(ctx: _Context, key: str, period: str, area: str, amount: float | None,
                quality: Grade | None) -> IndicatorValue:
    people = sum(ctx.population.values()) if area == CITY else ctx.population.get(area, 0.0)
    name = _name(ctx, area)
    if quality is None or amount is None:
        return IndicatorValue(key, area, name, period, None, None, "no metered energy bills")
    if not people:
        return IndicatorValue(key, area, name, period, None, None, "no population figure")
    return IndicatorValue(key, area, name, period, amount / people, quality)


def _energy(ctx: _Context, factors: FactorTable, period: str,
            area: str) -> list[IndicatorValue]:
    rows = [r for r in ctx.energy if _in(period, r["period"]) and _area(r, area)]
    quality = _energy_grade(ctx, period, area)
    total = sum(r["kwh"] for r in rows)
    electricity = sum(r["kwh"] for r in rows if r["carrier"] == "electricity")
    name = _name(ctx, area)
    out = [_per_capita(ctx, "energy-per-capita", period, area, total / KWH_PER_GJ, quality),
           _per_capita(ctx, "electricity-per-capita", period, area, electricity, quality)]
    area_m2 = sum(r["floor_area"] for r in ctx.stock
                  if _area(r, area) and r["use_class"] == "residential")
    residential = sum(r["kwh"] for r in rows if r["use_class"] == "residential")
    if quality is None or not area_m2:
        out.append(IndicatorValue("residential-energy-per-m2", area, name, period, None, None,
                                  "no residential floor area or no metered bills"))
    else:
        out.append(IndicatorValue("residential-energy-per-m2", area, name, period,
                                  residential / area_m2, quality))
    ambient = ambient_heat(ctx.heat_pumps, factors, period, area)
    out.append(_renewable(rows, total, ambient, factors, quality, period, area, name))
    return out


def ambient_heat(rows: list[Row], factors: FactorTable, period: str, area: str) -> float:
    """Estimate heat pumps' ambient heat (kWh) by the RED method Q x (1 - 1/SPF).

    A heat-pump building's heat-pump electricity is its billed electricity less the benchmark
    appliance electricity of its use (the scenario model's intensity x floor area, per month),
    never below zero; the useful heat it delivers is that times the SPF, so the ambient heat is
    that electricity x (SPF - 1).
    """
    from civictwin.analytics.scenario import Baseline

    spf = factors.heat_pump_spf
    if not spf:
        return 0.0
    intensity = Baseline().electricity
    total = 0.0
    for r in rows:
        if _in(period, r["month"]) and _area(r, area):
            appliances = float(r["floor_area"]) * intensity.get(r["use_class"], 0.0) / 12.0
            total += max(float(r["kwh"]) - appliances, 0.0) * (spf - 1.0)
    return total


def _renewable(rows: list[Row], total: float, ambient: float, factors: FactorTable,
               quality: Grade | None, period: str, area: str, name: str) -> IndicatorValue:
    """Share renewable = (carriers x their renewable share + ambient heat) / (total + ambient).

    Carriers: biomass (1), grid electricity (the table's grid share), district heat (its
    renewable fraction), fossil fuels (0). Ambient heat enters numerator and denominator, as in
    the Renewable Energy Directive's gross final consumption. Rooftop PV consumed on site is
    not in the bills, so it is in neither (the twin has no PV generation data).
    """
    key = "renewable-share"
    if quality is None or not total:
        return IndicatorValue(key, area, name, period, None, None, "no metered energy bills")
    by_carrier: dict[str, float] = defaultdict(float)
    for r in rows:
        by_carrier[r["carrier"]] += r["kwh"]
    parts = {c: kwh * factors.renewable_share(c) for c, kwh in by_carrier.items()}
    renewable = sum(parts.values()) + ambient
    if not renewable and factors.grid_renewable_share is None:
        return IndicatorValue(key, area, name, period, None, None,
                              "not computable: no renewable supply in the data and no grid "
                              "renewable share in the factor table")
    counted = [f"{c} {v / 1000:.1f} MWh" for c, v in sorted(parts.items()) if v]
    if ambient:
        counted.append(f"heat-pump ambient heat {ambient / 1000:.1f} MWh (SPF "
                       f"{factors.heat_pump_spf})")
    notes = ["renewable: " + (", ".join(counted) or "none")]
    if factors.grid_renewable_share is None:
        notes.append("grid renewable share not set (grid counted as non-renewable)")
    elif factors.grid.get("default"):
        notes.append("grid share is the table's default, not the city's")
    notes.append("no rooftop PV generation data")
    partial = grade(quality.coverage, quality.timeliness, "partial")
    return IndicatorValue(key, area, name, period, 100.0 * renewable / (total + ambient),
                          partial, "; ".join(notes))


def _air(ctx: _Context, period: str, area: str) -> list[IndicatorValue]:
    name, out = _name(ctx, area), []
    stations = {r["station_id"] for r in ctx.air if _area(r, area)}
    for pollutant in ("pm25", "no2"):
        days = [r for r in ctx.air if r["pollutant"] == pollutant and _in(period, r["day"])
                and _area(r, area) and r["hours"] >= VALID_DAY_HOURS]
        if not days:
            reason = "no air-quality station in the area" if not stations else (
                f"no valid daily {pollutant} means (>= {VALID_DAY_HOURS} h) in the period")
            out += [IndicatorValue(f"{pollutant}-annual-mean", area, name, period, None, None,
                                   reason),
                    IndicatorValue(f"{pollutant}-days-above-who", area, name, period, None,
                                   None, reason)]
            continue
        per_station = defaultdict(set)
        for r in days:
            per_station[r["station_id"]].add(r["day"])
        timeliness = max(len(d) for d in per_station.values()) / _days_in(period)
        covered = {r["district_id"] for r in days if r["district_id"]}
        coverage = 1.0 if area != CITY else len(covered) / max(len(ctx.names), 1)
        quality = grade(coverage, timeliness, "measured")
        mean = sum(r["mean"] for r in days) / len(days)
        above = {r["day"] for r in days if r["mean"] > WHO_24H[pollutant]}
        out += [IndicatorValue(f"{pollutant}-annual-mean", area, name, period, mean, quality),
                IndicatorValue(f"{pollutant}-days-above-who", area, name, period,
                               float(len(above)), quality)]
    return out


def _heat(ctx: _Context, period: str, area: str) -> list[IndicatorValue]:
    name = _name(ctx, area)
    days = [r for r in ctx.weather if _in(period, r["day"]) and _area(r, area)
            and r["hours"] >= VALID_DAY_HOURS]
    if not days:
        reason = "no weather station with valid days in the area"
        return [IndicatorValue(k, area, name, period, None, None, reason)
                for k in ("hot-days", "tropical-nights")]
    per_station = defaultdict(set)
    for r in days:
        per_station[r["station_id"]].add(r["day"])
    timeliness = max(len(d) for d in per_station.values()) / _days_in(period)
    method = "measured" if area != CITY else "partial"  # a few stations stand for the city
    quality = grade(1.0, timeliness, method)
    hot = {r["day"] for r in days if r["highest"] > HOT_DAY}
    nights = {r["day"] for r in days if r["lowest"] >= TROPICAL_NIGHT}
    return [IndicatorValue("hot-days", area, name, period, float(len(hot)), quality),
            IndicatorValue("tropical-nights", area, name, period, float(len(nights)), quality)]


def _smart(ctx: _Context, period: str, area: str) -> IndicatorValue:
    rows = [r for r in ctx.stock if _area(r, area)]
    buildings = sum(r["buildings"] for r in rows)
    name = _name(ctx, area)
    if not buildings:
        return IndicatorValue("smart-meter-share", area, name, period, None, None,
                              "no buildings in the area")
    smart = sum(r["smart_metered"] for r in rows)
    quality = grade(1.0, 1.0, "measured")
    return IndicatorValue("smart-meter-share", area, name, period, 100.0 * smart / buildings,
                          quality, "smart = hourly-or-finer readings in the whole range")


def data_range(engine: AnalyticsEngine) -> tuple[str, str] | None:
    """Return the first and last day of billed energy in the lake, if any."""
    days = [r for r in engine.run(JOBS["history_summary"])
            if r["dataset_id"] == BILLING]
    if not days:
        return None
    return min(r["first_day"] for r in days), max(r["last_day"] for r in days)


def rows_for_csv(values: Iterable[IndicatorValue]) -> list[dict[str, Any]]:
    """Return one flat row per value, for CSV."""
    return [{"indicator": v.key, "standard": v.indicator.standard,
             "clause": v.indicator.clause or "not confirmed",
             "clause_source": v.indicator.iso_source or "", "name": v.indicator.name,
             "area_id": v.area_id or "city", "area": v.area_name, "period": v.period,
             "value": "" if v.value is None else f"{v.value:.4f}", "unit": v.indicator.unit,
             "grade": v.grade.letter if v.grade else "", "coverage": (
                 f"{v.grade.coverage:.3f}" if v.grade else ""),
             "timeliness": f"{v.grade.timeliness:.3f}" if v.grade else "",
             "method": v.grade.method if v.grade else "", "note": v.note,
             "formula": v.indicator.formula, "datasets": "; ".join(v.indicator.datasets)}
            for v in values]


def kpi_id(value: IndicatorValue, city: str) -> str:
    """Return the KeyPerformanceIndicator entity id of one value."""
    area = "city" if value.area_id == CITY else value.area_id.removeprefix("urn:ngsi-ld:")
    return (f"urn:ngsi-ld:KeyPerformanceIndicator:{city}:{value.key}:"
            f"{area.replace(':', '-')}:{value.period}")


def kpi_entity(value: IndicatorValue, city: str, modified: str) -> dict[str, Any]:
    """Return one value as a Smart Data Models KeyPerformanceIndicator (normalized)."""
    spec = value.indicator
    first, last = _period_dates(value.period)
    entity: dict[str, Any] = {
        "id": kpi_id(value, city), "type": "KeyPerformanceIndicator",
        "name": _p(spec.name), "description": _p(f"{spec.name} ({spec.unit}), "
                                                 f"{value.area_name}, {value.period}"),
        "process": _p(spec.standard), "calculationFormula": _p(spec.formula),
        "calculationMethod": _p("automatic"),
        "calculationFrequency": _p("monthly" if len(value.period) == 7 else "yearly"),
        "calculationPeriod": _p({"from": first, "to": last}),
        "aggregatedData": _p([{"entityType": d.split(".")[0], "attrs": [d.split(".", 1)[-1]]}
                              for d in spec.datasets]),
        "area": _p(value.area_name),
        "isoIndicator": _p({"indicator": spec.key, "standard": spec.standard,
                            "clause": spec.clause or "not confirmed",
                            "confirmedBy": spec.iso_source or "not confirmed"}),
        "dataQuality": _p({"grade": value.grade.letter, "coverage": value.grade.coverage,
                           "timeliness": value.grade.timeliness, "method": value.grade.method,
                           "explanation": value.grade.explanation, "note": value.note}
                          if value.grade else {"grade": "none", "note": value.note}),
        "dateModified": _p({"@type": "DateTime", "@value": modified}),
    }
    if value.value is not None:
        entity["kpiValue"] = {"type": "Property", "value": round(value.value, 6),
                              "unitCode": spec.unit_code, "observedAt": f"{last}T00:00:00Z"}
    if value.area_id != CITY:
        entity["refCityDistrict"] = {"type": "Relationship", "object": value.area_id}
    return entity


def _p(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _period_dates(period: str) -> tuple[str, str]:
    """Return the first day of a period and the first day after it."""
    year = int(period[:4])
    if len(period) == 7:
        month = int(period[5:7])
        after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return date(year, month, 1).isoformat(), after.isoformat()
    return date(year, 1, 1).isoformat(), date(year + 1, 1, 1).isoformat()


def plot(values: list[IndicatorValue], path: Any, keys: tuple[str, ...] = (
        "energy-per-capita", "ghg-per-capita", "pm25-annual-mean", "no2-annual-mean")) -> Any:
    """Draw the city's values of a few indicators by period as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), dpi=100)
    for ax, key in zip(axes.flat, keys, strict=True):
        spec = REGISTER[key]
        city = [v for v in values if v.key == key and v.area_id == CITY and v.value is not None]
        districts = [v for v in values if v.key == key and v.area_id != CITY
                     and v.value is not None and v.period == (city[-1].period if city else "")]
        if len(city) > 1:
            ax.plot([v.period for v in city], [v.value for v in city], "o-", label="city")
            ax.tick_params(axis="x", labelrotation=60)
        elif districts:
            ax.bar([v.area_name for v in districts], [v.value or 0.0 for v in districts])
            ax.axhline(city[0].value if city else 0.0, color="tab:red", label="city")
            ax.tick_params(axis="x", labelrotation=60)
        else:
            ax.text(0.5, 0.5, "not computable", ha="center", transform=ax.transAxes)
        ax.set_title(f"{spec.name[:48]}", fontsize=9)
        ax.set_ylabel(spec.unit)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def period_range(period: str | None, billed: tuple[str, str] | None) -> tuple[str, str]:
    """Return [start, end) days of a period given as YYYY or YYYY-MM (default: last billed year)."""
    if period is None:
        if billed is None:
            raise BadRequestData("the lake holds no billed energy: give --period YYYY")
        period = billed[1][:4]
    try:
        if len(period) == 4:
            return _period_dates(f"{int(period):04d}")
        if len(period) == 7 and period[4] == "-":
            return _period_dates(f"{int(period[:4]):04d}-{int(period[5:]):02d}")
    except ValueError:
        pass
    raise BadRequestData(f"period {period!r}: use YYYY or YYYY-MM")


def publish(broker: Any, tenant: str, values: list[IndicatorValue], city: str,
            modified: str) -> int:
    """Upsert the values as KeyPerformanceIndicator entities into the twin; return how many."""
    from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL

    ctx = broker.context(CIVICTWIN_CONTEXT_URL)
    entities = [kpi_entity(v, city, modified) for v in values]
    for start in range(0, len(entities), 500):
        result = broker.batch_upsert(tenant, entities[start: start + 500], ctx)
        if result.errors:
            entity_id, error = result.errors[0]
            raise BadRequestData(f"indicator {entity_id}: {error.detail}")
    return len(entities)
