"""Buildings of the sample city and their NGSI-LD ``Building`` entities.

The entity follows the Smart Data Models ``Building`` (dataModel.Building): ``category``,
``address`` (SDM common PostalAddress terms), ``floorsAboveGround`` and ``location`` (the
footprint polygon). Mixed-use buildings carry two categories, ``["residential",
"commercial"]``, since SDM's category list has no "mixed". What SDM does not define is
civictwin vocabulary under https://civictwin.org/ns/: ``floorArea`` (gross floor area, m²),
``yearBuilt`` (named after schema.org's term of that name), ``heatingType``, ``roofArea`` (m²),
``roofTilt`` and ``roofOrientation`` (degrees; orientation is the azimuth, clockwise from north,
of the roof plane that gets the most sun, 180 for flat roofs) and the Relationship
``refCityDistrict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from civictwin.samplecity.districts import EPOCHS, LOCALITY, PROFILES, USES, district_id
from civictwin.samplecity.entities import geo_property, prop, rel, urn
from civictwin.samplecity.geometry import Ring, polygon_geometry, ring_area
from civictwin.samplecity.lots import Lot

HEATING_TYPES = ("gasBoiler", "oilBoiler", "districtHeating", "heatPump", "electric", "biomass")
# Share of each heating type by construction epoch (rows follow EPOCHS).
_HEATING_BY_EPOCH = (
    (0.62, 0.22, 0.05, 0.04, 0.04, 0.03),
    (0.60, 0.24, 0.04, 0.04, 0.05, 0.03),
    (0.55, 0.20, 0.12, 0.04, 0.07, 0.02),
    (0.52, 0.14, 0.10, 0.06, 0.16, 0.02),
    (0.66, 0.06, 0.08, 0.10, 0.08, 0.02),
    (0.25, 0.00, 0.12, 0.55, 0.05, 0.03),
)
CATEGORIES = {
    "residential": ["residential"], "commercial": ["commercial"], "office": ["office"],
    "industrial": ["industrial"], "public": ["public"], "mixed": ["residential", "commercial"],
}
_FLOORS = {"commercial": (1, 3), "office": (3, 8), "industrial": (1, 2), "public": (2, 4),
           "mixed": (3, 6)}


@dataclass(frozen=True)
class BuildingSpec:
    """Everything the generator decided about one building."""

    number: int  # 1-based, as in the entity id
    district: int
    ring: Ring
    use: str
    year_built: int
    floors: int
    heating: str
    footprint: float  # m²
    floor_area: float  # gross, m²
    residential_area: float  # the part of floor_area that is dwellings, m²
    roof_tilt: float  # degrees
    roof_orientation: float  # degrees clockwise from north
    street: str
    house_number: int

    @property
    def entity_id(self) -> str:
        """Return the URN of this building."""
        return urn("Building", self.number)

    @property
    def roof_area(self) -> float:
        """Return the roof surface area in m²."""
        return self.footprint / math.cos(math.radians(self.roof_tilt))


def building_spec(
    rng: np.random.Generator, number: int, lot: Lot, street: str, house_number: int
) -> BuildingSpec:
    """Decide use, age, height, heating and roof of the building on a lot."""
    profile = PROFILES[lot.district]
    use = lot.use or USES[int(rng.choice(len(USES), p=_norm(profile.use_weights)))]
    epoch = int(rng.choice(len(EPOCHS), p=_norm(profile.epoch_weights)))
    year = int(rng.integers(EPOCHS[epoch][0], EPOCHS[epoch][1] + 1))
    floors = _floors(rng, use, epoch, lot)
    heating = HEATING_TYPES[int(rng.choice(len(HEATING_TYPES), p=_norm(_HEATING_BY_EPOCH[epoch])))]
    footprint = round(ring_area(lot.ring), 1)
    floor_area = round(footprint * floors, 1)
    dwelling_share = {"residential": 1.0, "mixed": max(0.5, (floors - 1) / floors)}.get(use, 0.0)
    tilt, orientation = _roof(rng, use, year, floors, lot)
    return BuildingSpec(number, lot.district, lot.ring, use, year, floors, heating, footprint,
                        floor_area, round(floor_area * dwelling_share, 1), tilt, orientation,
                        street, house_number)


def building_entity(spec: BuildingSpec) -> dict[str, Any]:
    """Build the NGSI-LD Building entity of one building."""
    profile = PROFILES[spec.district]
    address = {
        "streetAddress": f"{spec.street} {spec.house_number}",
        "streetNr": str(spec.house_number),
        "postalCode": profile.postal_code,
        "addressLocality": LOCALITY,
        "district": profile.name,
    }
    return {
        "id": spec.entity_id,
        "type": "Building",
        "category": prop(list(CATEGORIES[spec.use])),
        "address": prop(address),
        "location": geo_property(polygon_geometry(spec.ring)),
        "floorsAboveGround": prop(spec.floors),
        "floorArea": prop(spec.floor_area, "MTK"),
        "yearBuilt": prop(spec.year_built),
        "heatingType": prop(spec.heating),
        "roofArea": prop(round(spec.roof_area, 1), "MTK"),
        "roofTilt": prop(spec.roof_tilt, "DD"),
        "roofOrientation": prop(spec.roof_orientation, "DD"),
        "refCityDistrict": rel(district_id(spec.district)),
    }


def _floors(rng: np.random.Generator, use: str, epoch: int, lot: Lot) -> int:
    profile = PROFILES[lot.district]
    if use == "residential":
        if epoch in (2, 3) and rng.random() < profile.tower_share:
            return int(rng.integers(8, 15))
        low, high = profile.residential_floors
    else:
        low, high = _FLOORS[use]
        if use == "office" and lot.use == "office":
            low, high = 6, 14
    return int(rng.integers(low, high + 1))


def _roof(
    rng: np.random.Generator, use: str, year: int, floors: int, lot: Lot
) -> tuple[float, float]:
    """Return roof tilt and orientation: pitched roofs face the street or the back."""
    if use in ("residential", "mixed") and floors < 8:
        pitched = 0.85 if year < 1971 else 0.55
    else:
        pitched = 0.08
    if rng.random() >= pitched:
        return 0.0, 180.0
    tilt = float(round(rng.uniform(28.0, 48.0)))
    if lot.front in ("N", "S"):
        return tilt, 180.0
    return tilt, (90.0, 270.0)[int(rng.integers(0, 2))]


def _norm(weights: tuple[float, ...]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]
