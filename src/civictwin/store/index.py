"""Derive the query-index rows (types, attribute values, geometries) of an entity.

The rows are tuples in the column order below, ready for a driver's executemany or COPY: an
entity write rebuilds them all, so building them is on the hot path of every ingest.
"""

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
# A UTC date-time that only needs its fraction padded to be in the sortable form.
_UTC_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?Z", re.ASCII)
VALUE_KEYS = ("value", "object", "languageMap", "vocab", "valueList", "objectList", "json")

TYPE_COLUMNS = ("entity_pk", "type", "tenant")
VALUE_COLUMNS = ("entity_pk", "tenant", "name", "sub", "dataset_id", "kind", "num", "text",
                 "flag", "json")
GEOMETRY_COLUMNS = ("entity_pk", "tenant", "name", "dataset_id", "geojson", "minx", "miny",
                    "maxx", "maxy")
Row = tuple[Any, ...]
_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one per json.dumps call


@dataclass(frozen=True)
class IndexRows:
    """The rows that index one entity, as tuples in the *_COLUMNS order (json as text)."""

    types: list[Row]
    values: list[Row]
    geometries: list[Row]


def index_rows(entity: Entity, tenant: str, pk: int) -> IndexRows:
    """Return the index rows of the entity stored under primary key `pk`."""
    types = [(pk, t, tenant) for t in entity.types]
    values: list[Row] = []
    geoms: list[Row] = []
    for scope in entity.scope:
        values.append(_row(pk, tenant, SCOPE, "", "", "Property", scope))
    for name, instances in entity.attrs.items():
        for inst in instances:
            dataset = str(inst.get("datasetId", ""))
            kind = str(inst["type"])
            values += [_row(pk, tenant, name, "", dataset, kind, value)
                       for value in _members(inst)]
            if "observedAt" in inst:
                values.append(_row(pk, tenant, name, OBSERVED_AT, dataset, kind,
                                   inst["observedAt"]))
            if "unitCode" in inst:
                values.append(_row(pk, tenant, name, UNIT_CODE, dataset, kind, inst["unitCode"]))
            for sub, value in inst.items():  # sub-attributes: their names are expanded IRIs
                if ":" in sub and isinstance(value, dict) and "type" in value:
                    values += [_row(pk, tenant, name, sub, dataset, kind, member)
                               for member in _members(value)]
            if kind == "GeoProperty" and isinstance(inst.get("value"), dict):
                geoms.append(_geometry(pk, tenant, name, dataset, inst["value"]))
    return IndexRows(types, values, geoms)


def _members(inst: Instance) -> Iterator[Any] | list[Any]:
    kind = inst["type"]
    if kind == "Property":
        value = inst["value"]
        return _flatten(value) if isinstance(value, list) else [value]
    if kind == "GeoProperty":
        return [None]
    if kind == "LanguageProperty":
        texts = inst.get("languageMap", {}).values()
        flat = [t for v in texts for t in (v if isinstance(v, list) else [v])]
        return flat or [None]
    if kind == "ListRelationship":
        objects = [o.get("object") if isinstance(o, dict) else o for o in inst["objectList"]]
        return objects or [None]
    if kind == "JsonProperty":
        return [inst["json"] if isinstance(inst["json"], dict) else None]
    key = next(k for k in VALUE_KEYS if k in inst)
    return _flatten(inst[key])


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        if not value:
            yield None
        for item in value:
            yield json.dumps(item) if isinstance(item, list) else item
    else:
        yield value


def _row(pk: int, tenant: str, name: str, sub: str, dataset: str, kind: str, value: Any) -> Row:
    kind_of = type(value)
    if kind_of is str:
        return (pk, tenant, name, sub, dataset, kind, None, _sortable(value), None, None)
    if kind_of is float or kind_of is int:
        return (pk, tenant, name, sub, dataset, kind, float(value), None, None, None)
    if value is None:
        return (pk, tenant, name, sub, dataset, kind, None, None, None, None)
    if isinstance(value, bool):
        return (pk, tenant, name, sub, dataset, kind, None, None, value, None)
    if isinstance(value, int | float):
        return (pk, tenant, name, sub, dataset, kind, float(value), None, None, None)
    if isinstance(value, str):
        return (pk, tenant, name, sub, dataset, kind, None, _sortable(value), None, None)
    if isinstance(value, dict):
        text = _JSON.encode(value)
        return (pk, tenant, name, sub, dataset, kind, None, None, None, text)
    return (pk, tenant, name, sub, dataset, kind, None, None, None, None)


def _geometry(pk: int, tenant: str, name: str, dataset: str, geometry: dict[str, Any]) -> Row:
    minx, miny, maxx, maxy = bbox(geometry)
    return (pk, tenant, name, dataset, _JSON.encode(geometry),
            minx, miny, maxx, maxy)


def _sortable(text: str) -> str:
    """Store date-times in one sortable form so that q can order them as text."""
    if len(text) < 16 or text[10] != "T" or not _DATETIME.match(text):
        return text
    utc = _UTC_SECONDS.fullmatch(text)
    if utc is not None:  # the common case, without a round trip through strftime
        try:
            datetime.fromisoformat(text[:19])
        except ValueError:
            return text
        return f"{text[:19]}.{(utc.group(1) or '').ljust(6, '0')}Z"
    try:
        return sortable_datetime(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text
