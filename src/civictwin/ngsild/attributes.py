"""Attributes on the way in: infer concise forms, validate, expand names (ETSI GS CIM 009 4.5)."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

from civictwin.errors import BadRequestData
from civictwin.ngsild.geo import validate_geojson_geometry
from civictwin.ngsild.jsonld import Context

Instance = dict[str, Any]

VALUE_KEYS = {
    "Property": "value",
    "Relationship": "object",
    "GeoProperty": "value",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
    "JsonProperty": "json",
}
KIND_BY_KEY = {key: kind for kind, key in VALUE_KEYS.items() if kind != "GeoProperty"}
META_KEYS = {"type", "datasetId", "observedAt", "unitCode", "createdAt", "modifiedAt",
             "instanceId", "deletedAt", "lang"}
GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "GeometryCollection"}
RESERVED_NAMES = {"id", "type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt"}
NULL = "urn:ngsi-ld:null"
_NAME = re.compile(r"^[^<>\"'=;()\s\\]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
# What normalize_datetime returns.
_NORMAL_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z", re.ASCII)


def now_iso() -> str:
    """Return the current UTC time as NGSI-LD stores it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize_datetime(value: Any, where: str) -> str:
    """Return an ISO 8601 date-time in UTC with a Z, or raise BadRequestData."""
    if not isinstance(value, str):
        raise BadRequestData(f"{where}: expected an ISO 8601 date-time string")
    if _NORMAL_UTC.fullmatch(value) and not value.endswith(".000000Z"):
        try:  # already in the normal form: only check that it is a real moment
            datetime.fromisoformat(value[:-1])
            return value
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequestData(f"{where}: {value!r} is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return text.removesuffix(".000000") + "Z"


def check_uri(value: Any, where: str) -> str:
    """Return `value` if it is an absolute URI, else raise BadRequestData."""
    if not isinstance(value, str) or not _URI.match(value) or len(value) > 2048:
        raise BadRequestData(f"{where}: {value!r} is not an absolute URI")
    return value


def check_name(name: str, where: str = "attribute name") -> None:
    """Raise BadRequestData unless `name` may name an attribute."""
    if not _good_name(name):
        raise BadRequestData(f"{where} {name!r} contains characters NGSI-LD forbids")


@functools.lru_cache(maxsize=4096)  # a twin sees the same few hundred names over and over
def _good_name(name: str) -> bool:
    return bool(name) and len(name) <= 512 and _NAME.match(name) is not None


def infer(raw: Any) -> Instance:
    """Turn one concise or normalized attribute into the normalized form (not yet validated)."""
    if not isinstance(raw, dict):
        return {"type": "Property", "value": raw}
    kind = raw.get("type")
    if kind in VALUE_KEYS:
        return dict(raw)
    if (kind in GEOMETRY_TYPES and "coordinates" in raw) or kind == "GeometryCollection":
        return {"type": "GeoProperty", "value": raw}
    for key, inferred in KIND_BY_KEY.items():
        if key in raw:
            return {"type": inferred, **raw}
    if isinstance(raw.get("value"), dict) and raw["value"].get("type") in GEOMETRY_TYPES:
        return {"type": "GeoProperty", **raw}
    return {"type": "Property", "value": raw}


def expand_attribute(
    name: str, raw: Any, ctx: Context, now: str, *, allow_null: bool = False
) -> list[Instance]:
    """Return the validated, expanded instances of one attribute given in a request body."""
    items = raw if isinstance(raw, list) and raw and all(_is_instance(i) for i in raw) else [raw]
    instances = [expand_instance(name, item, ctx, now, allow_null=allow_null) for item in items]
    if len(instances) == 1:
        return instances
    seen: set[str] = set()
    for inst in instances:
        key = inst.get("datasetId", "")
        if key in seen:
            raise BadRequestData(f"attribute {name!r}: datasetId {key or '(default)'} repeated")
        seen.add(key)
    return instances


def _is_instance(item: Any) -> bool:
    return isinstance(item, dict) and (item.get("type") in VALUE_KEYS or "datasetId" in item)


def expand_instance(
    name: str, raw: Any, ctx: Context, now: str, *, allow_null: bool = False, depth: int = 0
) -> Instance:
    """Validate one attribute instance and expand its sub-attribute names."""
    if depth > 4:
        raise BadRequestData(f"attribute {name!r}: sub-attributes nest too deeply")
    inst = infer(raw)
    kind = inst["type"]
    key = VALUE_KEYS[kind]
    if key not in inst:
        raise BadRequestData(f"attribute {name!r}: a {kind} needs a {key!r} member")
    out: Instance = {"type": kind, key: _value(name, kind, inst[key], ctx, allow_null)}
    for meta, value in inst.items():
        if meta in ("type", key):
            continue
        if meta == "datasetId":
            out["datasetId"] = check_uri(value, f"attribute {name!r} datasetId")
        elif meta == "observedAt":
            out["observedAt"] = normalize_datetime(value, f"attribute {name!r} observedAt")
        elif meta == "unitCode":
            if not isinstance(value, str) or not value:
                raise BadRequestData(f"attribute {name!r}: unitCode must be a non-empty string")
            out["unitCode"] = value
        elif meta in META_KEYS or meta in VALUE_KEYS.values():
            continue
        else:
            check_name(meta, f"sub-attribute of {name!r}")
            out[ctx.expand(meta)] = expand_instance(
                meta, value, ctx, now, allow_null=allow_null, depth=depth + 1)
    out["createdAt"] = now
    out["modifiedAt"] = now
    return out


def _value(name: str, kind: str, value: Any, ctx: Context, allow_null: bool) -> Any:
    if kind == "Property" and value is not None and not (allow_null and value == NULL):
        return value  # any JSON value; the common case, decided before building messages
    where = f"attribute {name!r}"
    if value is None or (value == NULL and allow_null):
        if allow_null:
            return NULL
        raise BadRequestData(f"{where}: value must not be null")
    if kind == "GeoProperty":
        return validate_geojson_geometry(value)
    if kind == "Relationship":
        objects = value if isinstance(value, list) else [value]
        if not objects:
            raise BadRequestData(f"{where}: object must not be empty")
        for obj in objects:
            check_uri(obj, f"{where} object")
        return value
    if kind == "ListRelationship":
        return _object_list(where, value)
    if kind == "LanguageProperty":
        return _language_map(where, value)
    if kind == "VocabProperty":
        terms = value if isinstance(value, list) else [value]
        if not terms or not all(isinstance(t, str) and t for t in terms):
            raise BadRequestData(f"{where}: vocab must be a string or a list of strings")
        expanded = [ctx.expand(t) for t in terms]
        return expanded if isinstance(value, list) else expanded[0]
    if kind == "ListProperty" and not isinstance(value, list):
        raise BadRequestData(f"{where}: valueList must be an array")
    if kind == "JsonProperty" and not isinstance(value, dict | list):
        raise BadRequestData(f"{where}: json must be a JSON object or array")
    return value


def _object_list(where: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequestData(f"{where}: objectList must be an array")
    for item in value:
        target = item.get("object") if isinstance(item, dict) else item
        check_uri(target, f"{where} objectList member")
    return value


def _language_map(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise BadRequestData(f"{where}: languageMap must be a non-empty object")
    for tag, text in value.items():
        texts = text if isinstance(text, list) else [text]
        if not isinstance(tag, str) or not all(isinstance(t, str) for t in texts):
            raise BadRequestData(f"{where}: languageMap maps language tags to strings")
    return value


def expand_attributes(
    body: dict[str, Any], ctx: Context, now: str, *, allow_null: bool = False
) -> dict[str, list[Instance]]:
    """Expand every attribute of a request fragment (entity body without id/type/@context)."""
    out: dict[str, list[Instance]] = {}
    for name, raw in body.items():
        if name in ("id", "type", "@context", "scope", "createdAt", "modifiedAt"):
            continue
        check_name(name)
        out[ctx.expand(name)] = expand_attribute(name, raw, ctx, now, allow_null=allow_null)
    return out
