"""Entities on the way out: normalized, concise or keyValues, GeoJSON, with projections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from civictwin.ngsild.attributes import VALUE_KEYS, Instance
from civictwin.ngsild.jsonld import Context
from civictwin.store.base import Entity

Format = Literal["normalized", "concise", "keyValues"]
SYS = ("createdAt", "modifiedAt")


@dataclass(frozen=True)
class RenderOptions:
    """How to present entities: format, system attributes, projection and language."""

    format: Format = "normalized"
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None
    pick: frozenset[str] | None = None
    omit: frozenset[str] = frozenset()
    lang: str | None = None


def render_entity(entity: Entity, ctx: Context, opts: RenderOptions) -> dict[str, Any]:
    """Return an entity compacted with `ctx` in the requested format."""
    out: dict[str, Any] = {}
    if _keep("id", opts):
        out["id"] = entity.id
    if _keep("type", opts):
        types = [ctx.compact(t) for t in entity.types]
        out["type"] = types[0] if len(types) == 1 else types
    if entity.scope and _keep("scope", opts):
        out["scope"] = entity.scope[0] if len(entity.scope) == 1 else entity.scope
    for name, instances in entity.attrs.items():
        if opts.attrs is not None and name not in opts.attrs:
            continue
        short = ctx.compact(name)
        if not _keep(short, opts, name):
            continue
        rendered = [_instance(i, ctx, opts) for i in instances]
        if opts.format == "keyValues":
            out[short] = rendered[0]
        else:
            out[short] = rendered[0] if len(rendered) == 1 else rendered
    if opts.sys_attrs and opts.format != "keyValues":
        out["createdAt"] = entity.created_at
        out["modifiedAt"] = entity.modified_at
    return out


def _keep(short: str, opts: RenderOptions, iri: str | None = None) -> bool:
    if short in opts.omit or (iri is not None and iri in opts.omit):
        return False
    if opts.pick is None:
        return True
    return short in opts.pick or (iri is not None and iri in opts.pick)


def _instance(inst: Instance, ctx: Context, opts: RenderOptions, depth: int = 0) -> Any:
    kind = inst["type"]
    key = VALUE_KEYS[kind]
    value = inst[key]
    if kind == "VocabProperty":
        value = [ctx.compact(v) for v in value] if isinstance(value, list) else ctx.compact(value)
    if kind == "LanguageProperty" and opts.lang is not None:
        return _language(inst, value, ctx, opts, depth)
    if opts.format == "keyValues":
        return value
    out: dict[str, Any] = {"type": kind, key: value}
    for meta, item in inst.items():
        if meta in ("type", key) or (meta in SYS and not opts.sys_attrs):
            continue
        if isinstance(item, dict) and ":" in meta and "type" in item:
            out[ctx.compact(meta)] = _instance(item, ctx, opts, depth + 1)
        else:
            out[meta] = item
    if opts.format == "concise":
        return _concise(out, kind, key)
    return out


def _language(inst: Instance, value: dict[str, Any], ctx: Context, opts: RenderOptions,
              depth: int) -> Any:
    tag, text = pick_language(value, opts.lang or "*")
    if opts.format == "keyValues":
        return text
    synthetic = {k: v for k, v in inst.items() if k not in ("type", "languageMap")}
    rendered = _instance({"type": "Property", "value": text, **synthetic}, ctx,
                         RenderOptions(opts.format, opts.sys_attrs), depth)
    if isinstance(rendered, dict):
        rendered["lang"] = tag
    return rendered


def pick_language(language_map: dict[str, Any], wanted: str) -> tuple[str, Any]:
    """Return (tag, text) best matching an Accept-Language style list (4.15)."""
    ranked = []
    for position, part in enumerate(wanted.split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            quality = 0.0
        ranked.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        if tag == "*":
            break
        for candidate in (tag, tag.split("-")[0]):
            if candidate in language_map:
                return candidate, language_map[candidate]
    first = "@none" if "@none" in language_map else next(iter(language_map))
    return first, language_map[first]


def _concise(out: dict[str, Any], kind: str, key: str) -> Any:
    del out["type"]
    if kind == "Property" and set(out) == {"value"} and not isinstance(out["value"], dict):
        return out["value"]
    if kind == "GeoProperty" and set(out) == {"value"}:
        return out["value"]
    return out


def render_geojson(
    entities: list[Entity], ctx: Context, opts: RenderOptions, geoproperty: str
) -> dict[str, Any]:
    """Return entities as a GeoJSON FeatureCollection (ETSI GS CIM 009 4.5.16)."""
    return {"type": "FeatureCollection",
            "features": [render_feature(e, ctx, opts, geoproperty) for e in entities]}


def render_feature(entity: Entity, ctx: Context, opts: RenderOptions,
                   geoproperty: str) -> dict[str, Any]:
    """Return one entity as a GeoJSON Feature."""
    body = render_entity(entity, ctx, opts)
    geometry = None
    for inst in entity.attrs.get(geoproperty, []):
        if inst["type"] == "GeoProperty" and "datasetId" not in inst:
            geometry = inst["value"]
    feature_props = {k: v for k, v in body.items() if k != "id"}
    return {"id": entity.id, "type": "Feature", "geometry": geometry,
            "properties": feature_props}
