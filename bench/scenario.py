"""Scenario model throughput: 100,000 buildings x 30 years, against plain numpy.

stock     100,000 synthetic buildings (fixed seed) in 20 districts: year built, use, heating,
          floor area, roof area, tilt and orientation drawn like the sample city's.
ours      what `civictwin scenario run` computes after reading the buildings: the clear-sky
          weather year (pvlib), the rooftop yield of every building (pvlib, binned roofs), and
          `scenario.run` (numpy over buildings x years, summed per district).
baseline  the same arithmetic written out as straight numpy in this file (the same formulas,
          the same yields, np.bincount per district), measured in the same run; both results
          are compared, so the baseline proves the model does what it says.

Target: ours below 2 s for 100,000 buildings x 30 years (2021-2050). The ratio printed is
ours (model only) over the baseline; the pvlib part is printed beside it.
Run:  .venv/bin/python bench/scenario.py [--buildings N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.workload import console, quiet_heap, verdict
from civictwin.analytics import scenario as model
from civictwin.analytics.scenario import METRICS, Assumptions, BuildingStock, path_values
from civictwin.analytics.solar import clear_sky_weather, specific_yield

TARGET_S = 2.0


def synthetic_stock(count: int, seed: int = 7, districts: int = 20) -> BuildingStock:
    """Return `count` buildings drawn like the sample city's, in `districts` districts."""
    rng = np.random.default_rng(seed)
    use = rng.choice(6, count, p=[0.62, 0.1, 0.08, 0.05, 0.05, 0.1])
    floors = np.where(use == 0, rng.integers(1, 6, count), rng.integers(1, 9, count))
    footprint = rng.uniform(60.0, 600.0, count)
    pitched = rng.random(count) < 0.6
    tilt = np.where(pitched, rng.integers(25, 50, count), 0).astype(np.float64)
    orientation = np.where(pitched, rng.choice([90.0, 180.0, 270.0, 0.0], count), 180.0)
    return BuildingStock(
        [f"urn:ngsi-ld:Building:bench:{i}" for i in range(count)],
        rng.integers(0, districts, count), [f"urn:ngsi-ld:CityDistrict:bench:{d}"
                                            for d in range(districts)],
        rng.integers(1850, 2025, count), use, rng.choice(6, count, p=[.6, .2, .06, .06, .05, .03]),
        footprint * floors, footprint / np.cos(np.radians(tilt)), tilt, orientation,
        50.85, 4.35)


def ours(stock: BuildingStock, assume: Assumptions) -> tuple[Any, float]:
    """Run what the CLI runs after reading the twin; return the result and the pvlib time."""
    start = time.perf_counter()
    weather = clear_sky_weather(stock.latitude, stock.longitude, assume.solar.clear_sky_factor,
                                assume.solar.air_temperature)
    yields = specific_yield(weather, stock.roof_tilt, stock.roof_orientation,
                            losses=assume.solar.losses)
    solar = time.perf_counter() - start
    return model.run(stock, assume, yields, weather.source), solar


def baseline(s: BuildingStock, a: Assumptions, pv_yield: np.ndarray) -> dict[str, np.ndarray]:
    """Compute emissions, electricity, heat and cost per district and year in plain numpy."""
    years = a.years
    k = (years - a.base_year)[None, :].astype(float)
    band = np.digitize(s.year_built, model.BAND_STARTS)
    rate, saving = np.array(a.retrofit.rate)[band], np.array(a.retrofit.saving)[band]
    heat = (s.floor_area * np.array(a.baseline.space_heat)[band])[:, None] \
        * (1 - saving[:, None] * np.clip(rate[:, None] * k, 0, 1)) \
        + (s.floor_area * a.baseline.hot_water)[:, None]
    h = s.heating[:, None]
    conv = np.clip(a.heat_pumps.rate * k, 0, 1) * ((h == 0) | (h == 1))
    cop = path_values(a.heat_pumps.cop, years)
    gas = heat * (1 - conv) * (h == 0) / a.fuels.gas_efficiency
    oil = heat * (1 - conv) * (h == 1) / a.fuels.oil_efficiency
    dh, bio = heat * (h == 2), heat * (h == 5) / a.fuels.biomass_efficiency
    el_use = np.array([a.baseline.electricity[u] for u in model.USES])[s.use]
    homes = s.floor_area * np.select([s.use == 0, s.use == 5], [1.0, 0.75], 0.0)
    cars = homes / a.mobility.dwelling_m2 * a.mobility.cars_per_dwelling
    evs = cars[:, None] * np.clip(a.mobility.start_share + a.mobility.rate * k, 0, 1)
    el = (s.floor_area * el_use)[:, None] + heat * (conv + (h == 3)) / cop + heat * (h == 4) \
        + evs * a.mobility.km_per_car * a.mobility.kwh_per_km
    pv = (s.roof_area * a.solar.usable_roof * a.solar.kwp_per_m2 * pv_yield)[:, None] \
        * np.clip(a.solar.rate * k, 0, a.solar.max_share)
    imp, exp = np.clip(el - pv, 0, None), np.clip(pv - el, 0, None)
    f = a.fuels
    em = (gas * f.gas_factor + oil * f.oil_factor + bio * f.biomass_factor
          + dh * path_values(f.district_heat_factor, years)
          + imp * path_values(a.grid.emission_factor, years)
          + (cars[:, None] - evs) * a.mobility.km_per_car * a.mobility.combustion_kg_per_km) / 1e3
    p = a.prices
    cost = imp * p.electricity - exp * p.feed_in + gas * p.gas + oil * p.oil \
        + dh * p.district_heat + bio * p.biomass
    d, n = s.district, len(s.district_ids)

    def per_district(values: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(d, values[:, t], n) for t in range(values.shape[1])], 1)

    return {"emissions": per_district(em), "electricity_demand": per_district(el),
            "heat_demand": per_district(heat), "energy_cost": per_district(cost)}


def timings(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Return `repeat` durations of `fn` in seconds, after one warm-up run."""
    fn()
    out = []
    with quiet_heap():
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return out


def run(buildings: int = 100_000, repeat: int = 3) -> dict[str, float]:
    """Measure both sides, check they agree, print the table; return the figures."""
    stock = synthetic_stock(buildings)
    assume = Assumptions(name="bench", base_year=2021, end_year=2050)
    result, _ = ours(stock, assume)
    yields = specific_yield(clear_sky_weather(50.85, 4.35, 0.65, 11.0), stock.roof_tilt,
                            stock.roof_orientation)
    expected = baseline(stock, assume, yields)
    for metric, values in expected.items():
        got = result.values[list(METRICS).index(metric)]
        assert np.allclose(got, values, rtol=1e-9, atol=1e-6), f"{metric} differs"
    solar_times: list[float] = []

    def full() -> None:
        solar_times.append(ours(stock, assume)[1])

    total = statistics.median(timings(full, repeat))
    solar = statistics.median(solar_times)
    model_only = statistics.median(timings(lambda: model.run(stock, assume, yields, "x"),
                                           repeat))
    plain = statistics.median(timings(lambda: baseline(stock, assume, yields), repeat))
    console.print(f"{buildings:,} buildings x {assume.years.size} years, median of {repeat}:")
    console.print(f"  ours, total      {total:7.3f} s  (pvlib weather + yields {solar:.3f} s)")
    console.print(f"  ours, model      {model_only:7.3f} s")
    console.print(f"  baseline numpy   {plain:7.3f} s")
    console.print(f"  ratio model / baseline = {model_only / plain:.2f} "
                  f"(results agree to 1e-9)")
    verdict(f"scenario run < {TARGET_S:g} s", total < TARGET_S, f"{total:.3f} s")
    return {"total": total, "solar": solar, "model": model_only, "baseline": plain}


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures = run(args.buildings, args.repeat)
    sys.exit(0 if figures["total"] < TARGET_S else 1)


if __name__ == "__main__":
    main()
