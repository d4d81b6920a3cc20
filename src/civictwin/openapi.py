"""What the OpenAPI document says about parameters and bodies the routes read themselves.

Most routes read their query parameters from `request.query_params` and their JSON body with
`read_body` (so NGSI-LD's own errors, not FastAPI's, answer bad input); FastAPI cannot see
either. `described(...)` returns the `openapi_extra` that declares them, so the document (and
schemathesis, which generates requests from it) knows them. It changes no behaviour.
"""

from __future__ import annotations

from typing import Any

MAX_OFFSET = 1_000_000_000
"""Largest page number, limit or offset a route takes: beyond it the databases' integers end."""

_TEXT: dict[str, Any] = {"type": "string"}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
_FLAG: dict[str, Any] = {"type": "boolean"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}

PARAMETERS: dict[str, tuple[dict[str, Any], str]] = {
    "id": (_TEXT, "Entity ids (URIs), comma separated"),
    "idPattern": (_TEXT, "Regular expression the entity id must match"),
    "type": (_TEXT, "Type selection: names joined by , (or) | (or) ; (and), parentheses"),
    "attrs": (_TEXT, "Attribute names, comma separated"),
    "pick": (_TEXT, "Members to keep, comma separated"),
    "omit": (_TEXT, "Members to drop, comma separated"),
    "q": (_TEXT, "NGSI-LD query (clause 4.9), e.g. temperature>20;name~=\"^A\""),
    "scopeQ": (_TEXT, "Scope query, e.g. /city/#"),
    "georel": (_TEXT, "near;maxDistance==N, within, contains, intersects, equals, disjoint, "
                      "overlaps"),
    "geometry": ({"type": "string", "enum": ["Point", "MultiPoint", "LineString",
                                             "MultiLineString", "Polygon", "MultiPolygon"]},
                 "Geometry of the geo-query"),
    "coordinates": (_TEXT, "Coordinates of the geo-query, as a JSON array"),
    "geoproperty": (_TEXT, "GeoProperty the geo-query applies to (default location)"),
    "geometryProperty": (_TEXT, "GeoProperty a GeoJSON answer uses as geometry"),
    "lang": (_TEXT, "Language (BCP 47) for LanguageProperties"),
    "limit": (_COUNT, "Page size"),
    "offset": (_COUNT, "Items to skip"),
    "count": (_FLAG, "Return the total in NGSILD-Results-Count"),
    "options": (_TEXT, "Flags, comma separated: keyValues, concise, normalized, sysAttrs, "
                       "noOverwrite, replace, update, temporalValues"),
    "format": ({"type": "string", "enum": ["normalized", "concise", "keyValues",
                                           "simplified"]}, "Representation"),
    "local": (_FLAG, "Answer from this broker only (no context sources)"),
    "datasetId": (_TEXT, "The attribute instance's datasetId"),
    "deleteAll": (_FLAG, "Delete every instance of the attribute"),
    "timerel": ({"type": "string", "enum": ["before", "after", "between"]},
                "Temporal relation"),
    "timeAt": (_TIME, "Moment of the temporal query"),
    "endTimeAt": (_TIME, "End of a `between` temporal query"),
    "timeproperty": (_TEXT, "observedAt (default), createdAt, modifiedAt or deletedAt"),
    "lastN": (_COUNT, "Only the last N instances of each attribute"),
    "aggrMethods": (_TEXT, "Aggregation methods, comma separated (totalCount, sum, avg, min, "
                           "max, ...)"),
    "aggrPeriodDuration": (_TEXT, "Aggregation period, ISO 8601 duration (e.g. PT1H)"),
    "details": (_FLAG, "Describe every type or attribute in full"),
    "subject": (_TEXT, "Data subject"),
    "purpose": (_TEXT, "Purpose"),
    "tenant": (_TEXT, "Tenant"),
    "since": (_TIME, "Only entries after this moment"),
    "fq": (_TEXT, "CKAN filter query, e.g. tags:heat"),
    "rows": (_COUNT, "CKAN page size"),
    "start": (_COUNT, "CKAN results to skip"),
    "sort": (_TEXT, "CKAN sort, e.g. metadata_modified desc"),
    "facet.field": (_TEXT, "CKAN facet fields, as a JSON array"),
}
"""Every query parameter the routes read themselves, with its schema and a description."""

CKAN_QUERY = ("id", "q", "fq", "rows", "start", "sort", "facet.field", "limit", "offset")
ENTITY_QUERY = ("id", "idPattern", "type", "attrs", "pick", "omit", "q", "scopeQ", "georel",
                "geometry", "coordinates", "geoproperty", "geometryProperty", "lang", "limit",
                "offset", "count", "options", "format", "local")
ENTITY_READ = ("type", "attrs", "pick", "omit", "geometryProperty", "lang", "options",
               "format", "local")
TEMPORAL_QUERY = ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods",
                  "aggrPeriodDuration")

_ANY: dict[str, Any] = {}
_ATTRIBUTE: dict[str, Any] = {
    "type": "object",
    "properties": {"type": {"type": "string", "enum": ["Property", "Relationship",
                                                       "GeoProperty", "LanguageProperty",
                                                       "ListProperty", "VocabProperty"]},
                   "value": _ANY, "object": {"type": "string"}, "observedAt": _TIME,
                   "unitCode": {"type": "string"}, "datasetId": {"type": "string"},
                   "languageMap": {"type": "object"}},
}
ENTITY: dict[str, Any] = {
    "type": "object", "required": ["id", "type"],
    "properties": {"id": {"type": "string", "example": "urn:ngsi-ld:Sensor:s1"},
                   "type": {"type": "string", "example": "Sensor"},
                   "scope": {"type": "string"}, "location": _ATTRIBUTE,
                   "name": _ATTRIBUTE, "temperature": _ATTRIBUTE},
    "additionalProperties": _ATTRIBUTE,
}
FRAGMENT: dict[str, Any] = {"type": "object", "additionalProperties": _ATTRIBUTE,
                            "properties": {"temperature": _ATTRIBUTE, "name": _ATTRIBUTE}}
ENTITIES: dict[str, Any] = {"type": "array", "items": ENTITY, "maxItems": 5}
IDS: dict[str, Any] = {"type": "array", "items": {"type": "string"}, "maxItems": 5}
_SELECTOR: dict[str, Any] = {"type": "object", "properties": {
    "id": _TEXT, "idPattern": _TEXT, "type": _TEXT}}
_GEO_Q: dict[str, Any] = {"type": "object", "properties": {
    "georel": _TEXT, "geometry": PARAMETERS["geometry"][0], "coordinates": _ANY,
    "geoproperty": _TEXT}}
QUERY: dict[str, Any] = {
    "type": "object", "required": ["type"],
    "properties": {"type": {"type": "string", "enum": ["Query"]},
                   "entities": {"type": "array", "items": _SELECTOR, "maxItems": 2},
                   "attrs": {"type": "array", "items": _TEXT}, "q": _TEXT, "scopeQ": _TEXT,
                   "geoQ": _GEO_Q, "lang": _TEXT},
}
SUBSCRIPTION: dict[str, Any] = {
    "type": "object", "required": ["type", "notification"],
    "properties": {
        "id": _TEXT, "type": {"type": "string", "enum": ["Subscription"]},
        "entities": {"type": "array", "items": _SELECTOR, "maxItems": 2},
        "watchedAttributes": {"type": "array", "items": _TEXT}, "q": _TEXT, "geoQ": _GEO_Q,
        "timeInterval": {"type": "number"}, "expiresAt": _TIME, "isActive": _FLAG,
        "throttling": {"type": "number"},
        "notificationTrigger": {"type": "array", "items": _TEXT},
        "notification": {"type": "object", "properties": {
            "attributes": {"type": "array", "items": _TEXT}, "format": _TEXT,
            "endpoint": {"type": "object", "properties": {
                "uri": {"type": "string", "example": "http://203.0.113.7/notify"},
                "accept": _TEXT}}}}},
}
REGISTRATION: dict[str, Any] = {
    "type": "object", "required": ["type", "information", "endpoint"],
    "properties": {
        "id": _TEXT, "type": {"type": "string", "enum": ["ContextSourceRegistration"]},
        "information": {"type": "array", "maxItems": 2, "items": {"type": "object",
                        "properties": {"entities": {"type": "array", "items": _SELECTOR},
                                       "propertyNames": {"type": "array", "items": _TEXT},
                                       "relationshipNames": {"type": "array",
                                                             "items": _TEXT}}}},
        "endpoint": {"type": "string", "example": "http://203.0.113.7/ngsi-ld"},
        "mode": {"type": "string", "enum": ["inclusive", "exclusive", "redirect",
                                            "auxiliary"]},
        "operations": {"type": "array", "items": _TEXT}, "tenant": _TEXT},
}
CONTEXT: dict[str, Any] = {"type": "object", "required": ["@context"],
                           "properties": {"@context": {"type": "object"}}}
OBJECT: dict[str, Any] = {"type": "object"}
HARVEST: dict[str, Any] = {"type": "object", "required": ["url"], "properties": {
    "url": {"type": "string", "example": "https://data.example.org/catalog.ttl"}}}
DSP_MESSAGE: dict[str, Any] = {"type": "object", "required": ["@type"], "properties": {
    "@context": _ANY, "@type": _TEXT, "consumerPid": _TEXT, "providerPid": _TEXT,
    "callbackAddress": _TEXT, "offer": OBJECT, "agreementId": _TEXT, "format": _TEXT}}


def described(*names: str, body: dict[str, Any] | None = None,
              required: bool = True) -> dict[str, Any]:
    """Return `openapi_extra` declaring these query parameters and, if given, a JSON body."""
    extra: dict[str, Any] = {}
    if names:
        extra["parameters"] = [
            {"name": name, "in": "query", "required": False,
             "description": PARAMETERS[name][1], "schema": PARAMETERS[name][0]}
            for name in names]
    if body is not None:
        extra["requestBody"] = {"required": required, "content": {
            "application/json": {"schema": body}}}
    return extra
