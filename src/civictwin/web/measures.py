"""Building figures the map computes from other parts of civictwin: emissions and solar potential.

Emissions are last year's metered energy of each building by carrier (electricity readings,
and heat readings under the fuel the heat meter names) times the shipped emission factor
table of `civictwin.analytics.ghg`, per m² of floor area. Solar potential is the roof's usable
area times the scenario model's kWp per m² times the specific yield of `civictwin.analytics.
solar` for the roof's tilt and orientation, under pvlib's clear-sky year at the centre of the
city; the yield of each tilt and orientation is computed once per place and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np

from civictwin.analytics.ghg import FactorTable, default_factors
from civictwin.analytics.scenario import Solar
from civictwin.analytics.solar import AZIMUTH_STEP, TILT_STEP, clear_sky_weather, specific_yield
from civictwin.ngsild.jsonld import Context
from civictwin.store import Store
from civictwin.store.tiles import CarrierLink, energy_by_carrier, entity_numbers, extent

SOLAR = Solar()
"""Roof share, kWp per m², losses and clear-sky weather: the scenario model's defaults."""
_YIELDS: dict[tuple[float, float, float, float], float] = {}
_YIELDS_LOCK = threading.Lock()


def emissions_per_area(store: Store, tenant: str, ctx: Context,
                       factors: FactorTable | None = None) -> Mapping[str, float]:
    """Return kg CO2e per m² over the last year of metered energy, by building id.

    A building with energy of a carrier the table has no factor for gets no figure, rather
    than one that leaves that carrier out.
    """
    table = factors if factors is not None else default_factors()
    link = CarrierLink(relationship=ctx.expand("refBuilding"),
                       carriers={ctx.expand("electricityConsumption"): "electricity",
                                 ctx.expand("heatConsumption"): ""},
                       meter_carrier=ctx.expand("heatMeterType"))
    energy = energy_by_carrier(store, tenant, link)
    area = ctx.expand("floorArea")
    areas = entity_numbers(store, tenant, ctx.expand("Building"), [area])
    found: dict[str, float] = {}
    for building, by_carrier in energy.items():
        floor = areas.get(building, {}).get(area)
        if not floor or any(c not in table.carriers for c in by_carrier):
            continue
        kg = sum(kwh * table.carriers[c].factor for c, kwh in by_carrier.items())  # t/MWh
        found[building] = round(kg / floor, 1)
    return found


def solar_potential(store: Store, tenant: str, ctx: Context) -> Mapping[str, float]:
    """Return the rooftop PV yield in kWh per year each building's roof could give."""
    names = {n: ctx.expand(n) for n in ("roofArea", "roofTilt", "roofOrientation")}
    roofs = {b: v for b, v in entity_numbers(store, tenant, ctx.expand("Building"),
                                             list(names.values())).items()
             if v.get(names["roofArea"], 0.0) > 0}
    bounds = extent(store, tenant, ctx.expand("location"))
    if not roofs or bounds is None:
        return {}
    lon, lat = round((bounds[0] + bounds[2]) / 2, 2), round((bounds[1] + bounds[3]) / 2, 2)
    ids = sorted(roofs)
    tilts = [roofs[b].get(names["roofTilt"], 0.0) for b in ids]
    azimuths = [roofs[b].get(names["roofOrientation"], 180.0) for b in ids]
    yields = roof_yields(lat, lon, tilts, azimuths)
    kwp_per_roof_m2 = SOLAR.usable_roof * SOLAR.kwp_per_m2
    return {b: round(roofs[b][names["roofArea"]] * kwp_per_roof_m2 * y)
            for b, y in zip(ids, yields, strict=True)}


def roof_yields(lat: float, lon: float, tilts: list[float],
                azimuths: list[float]) -> list[float]:
    """Return kWh per kWp and year for each roof, computing each grid orientation only once."""
    keys = [_grid_key(lat, lon, t, a) for t, a in zip(tilts, azimuths, strict=True)]
    with _YIELDS_LOCK:
        missing = sorted({k for k in keys if k not in _YIELDS})
        if missing:
            weather = clear_sky_weather(lat, lon, SOLAR.clear_sky_factor, SOLAR.air_temperature)
            computed = specific_yield(weather, np.asarray([k[2] for k in missing]),
                                      np.asarray([k[3] for k in missing]), losses=SOLAR.losses)
            _YIELDS.update(zip(missing, (float(y) for y in computed), strict=True))
        return [_YIELDS[k] for k in keys]


def _grid_key(lat: float, lon: float, tilt: float,
              azimuth: float) -> tuple[float, float, float, float]:
    """Snap a roof to the solar module's grid of tilts and orientations (flat: due south)."""
    snapped = min(max(round(tilt / TILT_STEP), 0), round(90 / TILT_STEP)) * TILT_STEP
    facing = (round(azimuth / AZIMUTH_STEP) * AZIMUTH_STEP) % 360.0 if snapped else 180.0
    return lat, lon, float(snapped), float(facing)
