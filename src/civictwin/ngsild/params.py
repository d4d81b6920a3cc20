"""Turn NGSI-LD query parameters (URL or Query body) into an EntityQuery and RenderOptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from civictwin.errors import BadRequestData
from civictwin.ngsild.attributes import check_uri
from civictwin.ngsild.geo import parse_geo_query
from civictwin.ngsild.jsonld import Context
from civictwin.ngsild.qlang import check_regex, parse_q, parse_scope_q, parse_type_selection
from civictwin.ngsild.render import Format, RenderOptions
from civictwin.openapi import MAX_OFFSET
from civictwin.store.base import EntityQuery

OPTIONS = {"keyValues", "simplified", "concise", "normalized", "sysAttrs", "noOverwrite",
           "replace", "update", "temporalValues"}
FORMATS: dict[str, Format] = {"keyValues": "keyValues", "simplified": "keyValues",
                              "concise": "concise", "normalized": "normalized"}


def split(value: str | None) -> list[str]:
    """Split a comma-separated parameter, dropping empty items."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def options(params: Mapping[str, str]) -> set[str]:
    """Return the `options` flags, rejecting unknown ones."""
    flags = set(split(params.get("options")))
    unknown = flags - OPTIONS
    if unknown:
        raise BadRequestData(f"options: unknown value(s) {', '.join(sorted(unknown))}")
    return flags


def render_options(params: Mapping[str, str], ctx: Context) -> RenderOptions:
    """Return how to render entities, from options/format/attrs/pick/omit/lang."""
    flags = options(params)
    fmt: Format = "normalized"
    for flag in flags:
        fmt = FORMATS.get(flag, fmt)
    if params.get("format"):
        if params["format"] not in FORMATS:
            raise BadRequestData(f"format: {params['format']!r} is not one of "
                                 "normalized, concise, keyValues, simplified")
        fmt = FORMATS[params["format"]]
    attrs = split(params.get("attrs"))
    pick = split(params.get("pick"))
    omit = split(params.get("omit"))
    if pick and omit:
        raise BadRequestData("pick and omit may not be used together")
    return RenderOptions(
        format=fmt,
        sys_attrs="sysAttrs" in flags,
        attrs=frozenset(ctx.expand(a) for a in attrs) if attrs else None,
        pick=frozenset(pick) | frozenset(ctx.expand(p) for p in pick) if pick else None,
        omit=frozenset(omit) | frozenset(ctx.expand(o) for o in omit),
        lang=params.get("lang"),
    )


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequestData(f"{name}: {raw!r} is not a whole number") from exc
    if value < 0:
        raise BadRequestData(f"{name} must not be negative")
    if value > MAX_OFFSET:
        raise BadRequestData(f"{name} must be at most {MAX_OFFSET}")
    return value


def entity_query(params: Mapping[str, Any], ctx: Context, default_limit: int,
                 require_filter: bool = True) -> EntityQuery:
    """Return the EntityQuery of GET /entities (or a Query body flattened to parameters)."""
    ids = tuple(check_uri(i, "id") for i in split(params.get("id")))
    types = params.get("type")
    geo = parse_geo_query(params.get("georel"), params.get("geometry"),
                          params.get("coordinates"), params.get("geoproperty"), ctx.expand)
    attrs = tuple(ctx.expand(a) for a in split(params.get("attrs")))
    query = EntityQuery(
        ids=ids,
        id_pattern=_pattern(params.get("idPattern")),
        types=parse_type_selection(types, ctx.expand) if types else None,
        attrs=attrs,
        q=parse_q(params["q"], ctx.expand) if params.get("q") else None,
        scope_q=parse_scope_q(params["scopeQ"]) if params.get("scopeQ") else None,
        geo=geo,
        limit=_int(params, "limit", default_limit),
        offset=_int(params, "offset", 0),
        count=str(params.get("count", "false")).lower() == "true",
    )
    if require_filter and not (ids or types or attrs or query.q or geo or query.id_pattern
                               or query.scope_q):
        raise BadRequestData("a query needs at least one of id, idPattern, type, attrs, q, "
                             "scopeQ or a geo-query")
    return query


def _pattern(raw: str | None) -> str | None:
    return check_regex(raw, "idPattern") if raw else None


def query_body_params(body: Any) -> dict[str, Any]:
    """Flatten a Query body (POST /entityOperations/query, 5.2.23) into query parameters."""
    if not isinstance(body, dict) or body.get("type", "Query") != "Query":
        raise BadRequestData("the body must be a Query object with type 'Query'")
    params: dict[str, Any] = {}
    selectors = body.get("entities") or []
    if not isinstance(selectors, list):
        raise BadRequestData("Query.entities must be an array of EntitySelectors")
    if len(selectors) > 1:
        raise BadRequestData("Query.entities: one EntitySelector at a time is supported")
    for selector in selectors:
        if not isinstance(selector, dict):
            raise BadRequestData("an EntitySelector must be an object")
        for key in ("id", "idPattern", "type"):
            if key in selector:
                params[key] = selector[key]
    for key in ("q", "scopeQ", "lang"):
        if key in body:
            params[key] = body[key]
    if "attrs" in body:
        params["attrs"] = ",".join(body["attrs"]) if isinstance(body["attrs"], list) \
            else body["attrs"]
    geo_q = body.get("geoQ")
    if isinstance(geo_q, dict):
        for key in ("georel", "geometry", "coordinates", "geoproperty"):
            if key in geo_q:
                params[key] = geo_q[key]
    return params
