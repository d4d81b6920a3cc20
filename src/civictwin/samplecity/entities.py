"""Small builders for NGSI-LD normalized attributes (ETSI GS CIM 009, clause 4.5)."""

from __future__ import annotations

from typing import Any

CITY_SLUG = "lumen"

Entity = dict[str, Any]


def urn(entity_type: str, number: int) -> str:
    """Return the entity id ``urn:ngsi-ld:<Type>:lumen:<n>``."""
    return f"urn:ngsi-ld:{entity_type}:{CITY_SLUG}:{number}"


def prop(value: Any, unit: str | None = None, observed_at: str | None = None) -> dict[str, Any]:
    """Return a Property, with a UN/CEFACT unitCode and observedAt when given."""
    attribute: dict[str, Any] = {"type": "Property", "value": value}
    if unit is not None:
        attribute["unitCode"] = unit
    if observed_at is not None:
        attribute["observedAt"] = observed_at
    return attribute


def rel(target: str) -> dict[str, Any]:
    """Return a Relationship pointing at one entity id."""
    return {"type": "Relationship", "object": target}


def geo_property(geometry: dict[str, Any]) -> dict[str, Any]:
    """Return a GeoProperty holding a GeoJSON geometry."""
    return {"type": "GeoProperty", "value": geometry}


def date_time(iso: str) -> dict[str, str]:
    """Return an NGSI-LD DateTime value (a typed JSON-LD literal)."""
    return {"@type": "DateTime", "@value": iso}
