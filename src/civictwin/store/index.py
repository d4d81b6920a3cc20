"""Derive the query-index rows (types, attribute values, geometries) of an entity."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from civictwin.ngsild.geo import bbox
from civictwin.ngsild.qlang import sortable_datetime
from civictwin.store.base import Entity, Instance

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
SCOPE = NGSI_LD + "scope"
OBSERVED_AT = NGSI_LD + "observedAt"
UNIT_CODE = NGSI_LD + "unitCode"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
VALUE_KEYS = ("value", "object", "languageMap", "vocab", "valueList", "objectList", "json")


@dataclass(frozen=True)
class IndexRows:
    """The rows that index one entity, without its primary key filled in."""

    types: list[dict[str, Any]]
    values: list[dict[str, Any]]
    geometries: list[dict[str, Any]]


def index_rows(entity: Entity, tenant: str) -> IndexRows:
    """Return the index rows of an entity."""
    types = [{"type": t, "tenant": tenant} for t in entity.types]
    values: list[dict[str, Any]] = []
    geoms: list[dict[str, Any]] = []
    for scope in entity.scope:
        values.append(_row(tenant, SCOPE, "", "", "Property", scope))
    for name, instances in entity.attrs.items():
        for inst in instances:
            dataset = str(inst.get("datasetId", ""))
            kind = str(inst["type"])
            for value in _members(inst):
                values.append(_row(tenant, name, "", dataset, kind, value))
            for sub, value in _sub_values(inst):
                values.append(_row(tenant, name, sub, dataset, kind, value))
            if kind == "GeoProperty" and isinstance(inst.get("value"), dict):
                geoms.append(_geometry(tenant, name, dataset, inst["value"]))
    return IndexRows(types, values, geoms)


def _members(inst: Instance) -> Iterator[Any]:
    kind = inst["type"]
    if kind == "GeoProperty":
        yield None
        return
    if kind == "LanguageProperty":
        texts = inst.get("languageMap", {}).values()
        flat = [t for v in texts for t in (v if isinstance(v, list) else [v])]
        yield from flat or [None]
        return
    if kind == "ListRelationship":
        objects = [o.get("object") if isinstance(o, dict) else o for o in inst["objectList"]]
        yield from objects or [None]
        return
    if kind == "JsonProperty":
        yield inst["json"] if isinstance(inst["json"], dict) else None
        return
    key = next(k for k in VALUE_KEYS if k in inst)
    yield from _flatten(inst[key])


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        if not value:
            yield None
        for item in value:
            yield json.dumps(item) if isinstance(item, list) else item
    else:
        yield value


def _sub_values(inst: Instance) -> Iterator[tuple[str, Any]]:
    if "observedAt" in inst:
        yield OBSERVED_AT, inst["observedAt"]
    if "unitCode" in inst:
        yield UNIT_CODE, inst["unitCode"]
    for key, sub in inst.items():
        if ":" in key and isinstance(sub, dict) and "type" in sub:
            for value in _members(sub):
                yield key, value


def _row(tenant: str, name: str, sub: str, dataset: str, kind: str, value: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"tenant": tenant, "name": name, "sub": sub, "dataset_id": dataset,
                           "kind": kind, "num": None, "text": None, "flag": None, "json": None}
    if isinstance(value, bool):
        row["flag"] = value
    elif isinstance(value, int | float):
        row["num"] = float(value)
    elif isinstance(value, str):
        row["text"] = _sortable(value)
    elif isinstance(value, dict):
        row["json"] = value
    return row


def _geometry(tenant: str, name: str, dataset: str, geometry: dict[str, Any]) -> dict[str, Any]:
    minx, miny, maxx, maxy = bbox(geometry)
    return {"tenant": tenant, "name": name, "dataset_id": dataset,
            "geojson": json.dumps(geometry, separators=(",", ":")),
            "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def _sortable(text: str) -> str:
    """Store date-times in one sortable form so that q can order them as text."""
    if not _DATETIME.match(text):
        return text
    try:
        return sortable_datetime(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text
