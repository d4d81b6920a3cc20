"""The eight districts of Lumen: their character, and their NGSI-LD entities.

Smart Data Models has no entity type for a city district, so districts are the civictwin type
``CityDistrict`` (https://civictwin.org/ns/CityDistrict) with ``name`` (NGSI-LD core),
``location`` (the district polygon), ``address`` (SDM common: postal code and locality) and
``population`` (https://civictwin.org/ns/population).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civictwin.samplecity.entities import geo_property, prop, urn
from civictwin.samplecity.geometry import Ring, polygon_geometry

LOCALITY = "Lumen"
USES = ("residential", "commercial", "office", "industrial", "public", "mixed")
EPOCHS = ((1850, 1918), (1919, 1945), (1946, 1970), (1971, 1990), (1991, 2010), (2011, 2024))


@dataclass(frozen=True)
class DistrictProfile:
    """The character of a district: what gets built there, when and how high."""

    name: str
    postal_code: str
    use_weights: tuple[float, ...]  # over USES, for lots along the street
    epoch_weights: tuple[float, ...]  # over EPOCHS
    residential_floors: tuple[int, int]
    tower_share: float  # share of 1946-1990 dwellings that are high-rise blocks
    frontage: tuple[float, float]  # street frontage of a lot, metres
    large_block: tuple[float, str]  # chance that a block holds a few large buildings, and of what
    park_share: float  # chance that a block is a park without buildings


# Listed south band west to east, then the middle band, then the north band (see geometry).
PROFILES: tuple[DistrictProfile, ...] = (
    DistrictProfile("Lindenhof", "4130", (0.82, 0.04, 0.02, 0.01, 0.05, 0.06),
                    (0.05, 0.25, 0.30, 0.25, 0.10, 0.05), (2, 3), 0.05, (12.0, 26.0),
                    (0.05, "public"), 0.06),
    DistrictProfile("Sint-Anna", "4120", (0.62, 0.08, 0.04, 0.01, 0.05, 0.20),
                    (0.35, 0.25, 0.15, 0.12, 0.08, 0.05), (3, 5), 0.05, (9.0, 20.0),
                    (0.06, "public"), 0.03),
    DistrictProfile("Zuidpark", "4140", (0.78, 0.05, 0.05, 0.00, 0.07, 0.05),
                    (0.02, 0.05, 0.13, 0.25, 0.35, 0.20), (2, 4), 0.10, (14.0, 28.0),
                    (0.08, "public"), 0.15),
    DistrictProfile("Westervaart", "4110", (0.75, 0.06, 0.03, 0.01, 0.05, 0.10),
                    (0.12, 0.30, 0.30, 0.15, 0.08, 0.05), (2, 5), 0.10, (11.0, 24.0),
                    (0.05, "public"), 0.04),
    DistrictProfile("Centrum", "4100", (0.22, 0.25, 0.15, 0.00, 0.06, 0.32),
                    (0.45, 0.15, 0.12, 0.12, 0.10, 0.06), (3, 6), 0.05, (9.0, 20.0),
                    (0.08, "public"), 0.05),
    DistrictProfile("Zakenkwartier", "4150", (0.20, 0.15, 0.45, 0.01, 0.04, 0.15),
                    (0.05, 0.05, 0.15, 0.30, 0.30, 0.15), (4, 8), 0.20, (16.0, 30.0),
                    (0.30, "office"), 0.03),
    DistrictProfile("Noordrand", "4160", (0.76, 0.06, 0.04, 0.02, 0.05, 0.07),
                    (0.03, 0.07, 0.30, 0.30, 0.20, 0.10), (3, 5), 0.25, (14.0, 28.0),
                    (0.06, "public"), 0.05),
    DistrictProfile("Havenwijk", "4170", (0.40, 0.12, 0.10, 0.25, 0.03, 0.10),
                    (0.15, 0.15, 0.25, 0.25, 0.12, 0.08), (2, 4), 0.05, (14.0, 28.0),
                    (0.50, "industrial"), 0.02),
)


def district_id(index: int) -> str:
    """Return the URN of the district with this 0-based index."""
    return urn("CityDistrict", index + 1)


def district_entity(index: int, ring: Ring, population: int) -> dict[str, Any]:
    """Build the NGSI-LD CityDistrict entity of one district."""
    profile = PROFILES[index]
    return {
        "id": district_id(index),
        "type": "CityDistrict",
        "name": prop(profile.name),
        "address": prop({"postalCode": profile.postal_code, "addressLocality": LOCALITY}),
        "population": prop(population),
        "location": geo_property(polygon_geometry(ring)),
    }


def apportion(total: int, weights: list[float]) -> list[int]:
    """Split an integer total in proportion to weights (largest remainder), summing exactly."""
    mass = sum(weights)
    if total <= 0 or mass <= 0:
        return [0] * len(weights)
    shares = [total * w / mass for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts
