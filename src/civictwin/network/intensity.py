"""A city's own answer to "energy per m² by building age band": aggregates only, its own rules.

Energy is electricity + heat + gas, each released by the privacy module (`privacy.aggregate`)
under the city's disclosure rules and recorded in its release ledger. The floor area that
divides it is that of the buildings whose electricity meters contributed to the band; it is
given only beside a band whose every energy cell was released. A band with a suppressed or
merged cell is answered without a value, saying why. Nothing per meter or per building leaves
this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from civictwin.store import Store

if TYPE_CHECKING:
    from civictwin.privacy import DisclosureRules, Release

QUANTITIES = ("electricity", "heat", "gas")
DIMENSIONS = ("construction_period", "building_use", "heating_type")
FLOOR_AREA = "https://civictwin.org/ns/floorArea"


@dataclass(frozen=True)
class Band:
    """One band of a city's answer: energy, floor area and their ratio, or why there is none."""

    key: str
    energy_kwh: float | None
    floor_area_m2: float | None
    contributors: int
    status: str  # released or withheld
    reason: str

    @property
    def kwh_per_m2(self) -> float | None:
        """Return energy per m² where both are known."""
        if self.energy_kwh is None or not self.floor_area_m2:
            return None
        return self.energy_kwh / self.floor_area_m2

    def to_json(self) -> dict[str, Any]:
        """Return the band as plain JSON."""
        return {"key": self.key, "kwhPerM2": self.kwh_per_m2, "energyKwh": self.energy_kwh,
                "floorAreaM2": self.floor_area_m2, "contributors": self.contributors,
                "status": self.status, "reason": self.reason}


def city_bands(store: Store, tenant: str, by: str, start: str, end: str,
               rules: DisclosureRules, consumer: str,
               agreement: str | None) -> tuple[list[Band], list[str]]:
    """Compute this city's bands under `rules`; return them and the release ids behind them."""
    from civictwin.privacy import AggregateRequest, aggregate

    releases = {q: aggregate(store, AggregateRequest(tenant, q, (by,), None, start, end), rules,
                             consumer, agreement) for q in QUANTITIES}
    areas = _floor_areas(store, tenant, by, start, end)
    keys = sorted({c.keys.get(by, "") for r in releases.values() for c in r.cells})
    return [_band(k, by, releases, areas) for k in keys], [r.id for r in releases.values()]


def _band(key: str, by: str, releases: dict[str, Release],
          areas: dict[str, float]) -> Band:
    energy, contributors, why = 0.0, 0, []
    for quantity, release in releases.items():
        cells = [c for c in release.cells if c.keys.get(by, "") == key]
        for cell in cells:
            if cell.status != "released" or cell.value is None:
                why.append(f"{quantity}: {cell.status} ({cell.reason})")
            else:
                energy += cell.value
        if quantity == "electricity":
            contributors = sum(c.contributors for c in cells)
    if why or contributors == 0:
        return Band(key, None, None, contributors, "withheld",
                    "; ".join(why) or "no electricity meter contributed")
    return Band(key, energy, areas.get(key), contributors, "released", "")


def _floor_areas(store: Store, tenant: str, by: str, start: str, end: str) -> dict[str, float]:
    """Return per band the floor area of buildings whose electricity meters contributed."""
    from civictwin.privacy import AggregateRequest
    from civictwin.privacy.sources import StoreSource, eligible

    source = StoreSource(store)
    request = AggregateRequest(tenant, "electricity", (by,), None, start, end)
    meters = eligible(source.profiles(tenant), request)
    contributed = {c.meter for c in source.contributions(request) if c.meter in meters}
    buildings: dict[str, str] = {}
    for meter in contributed:
        profile = meters[meter]
        buildings[profile.building] = profile.key(by)
    areas: dict[str, float] = defaultdict(float)
    for building, key in buildings.items():
        entity = store.get_entity(tenant, building)
        instances = entity.attrs.get(FLOOR_AREA, []) if entity is not None else []
        value = instances[0].get("value") if instances else None
        if isinstance(value, int | float):
            areas[key] += float(value)
    return dict(areas)
