"""Entities as values: build them from request bodies and apply NGSI-LD updates to them.

Every function here is pure: it takes an `Entity` and returns a new one (or raises a typed
error); the broker runs them inside the store's per-entity transaction.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.attributes import NULL, Instance, check_uri, expand_attributes
from civictwin.ngsild.jsonld import Context
from civictwin.store.base import Entity


@dataclass
class UpdateResult:
    """Which attributes an update changed and which it left, with the reason (5.2.18)."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self, ctx: Context) -> dict[str, Any]:
        """Return the UpdateResult body with names compacted."""
        return {
            "updated": [ctx.compact(n) for n in self.updated],
            "notUpdated": [{"attributeName": ctx.compact(n), "reason": r}
                           for n, r in self.not_updated],
        }


def build_entity(body: Any, ctx: Context, now: str, *, entity_id: str | None = None) -> Entity:
    """Validate a complete entity body and return it expanded."""
    if not isinstance(body, dict):
        raise BadRequestData("an entity must be a JSON object")
    raw_id = body.get("id", entity_id)
    if raw_id is None:
        raise BadRequestData("entity: 'id' is required")
    if entity_id is not None and raw_id != entity_id:
        raise BadRequestData(f"entity id {raw_id!r} in the body differs from the URL's")
    types = entity_types(body.get("type"), ctx)
    return Entity(
        id=check_uri(raw_id, "entity id"),
        types=types,
        attrs=expand_attributes(body, ctx, now),
        scope=scopes(body.get("scope")),
        created_at=now,
        modified_at=now,
    )


def entity_types(raw: Any, ctx: Context) -> list[str]:
    """Return the expanded, de-duplicated entity types of a body's `type` member."""
    names = raw if isinstance(raw, list) else [raw]
    if raw is None or not names or not all(isinstance(n, str) and n for n in names):
        raise BadRequestData("entity: 'type' must be a non-empty string or list of strings")
    expanded: list[str] = []
    for name in names:
        iri = ctx.expand(name)
        if iri not in expanded:
            expanded.append(iri)
    return expanded


def scopes(raw: Any) -> list[str]:
    """Return validated scope paths (4.18)."""
    if raw is None:
        return []
    items = raw.get("value") if isinstance(raw, dict) else raw
    items = items if isinstance(items, list) else [items]
    for item in items:
        if not isinstance(item, str) or not item.startswith("/") or (item.endswith("/") \
                and item != "/") or "#" in item or "+" in item:
            raise BadRequestData(f"scope {item!r} must be a path like /Madrid/Gardens")
    return list(items)


def _key(inst: Instance) -> str:
    return str(inst.get("datasetId", ""))


def _merge_instance(old: Instance, new: Instance) -> Instance:
    merged = copy.deepcopy(new)
    merged["createdAt"] = old.get("createdAt", new["createdAt"])
    return merged


def append_attributes(
    entity: Entity, attrs: dict[str, list[Instance]], now: str, *, overwrite: bool = True
) -> tuple[Entity, UpdateResult]:
    """Add attributes; existing instances are replaced unless `overwrite` is False (5.6.3)."""
    result = UpdateResult()
    new_attrs = copy.deepcopy(entity.attrs)
    for name, instances in attrs.items():
        current = {_key(i): i for i in new_attrs.get(name, [])}
        for inst in instances:
            key = _key(inst)
            if key in current and not overwrite:
                result.not_updated.append((name, "attribute exists and noOverwrite was asked"))
                continue
            current[key] = _merge_instance(current[key], inst) if key in current else inst
            if name not in result.updated:
                result.updated.append(name)
        new_attrs[name] = list(current.values())
    return _touched(entity, new_attrs, now, bool(result.updated)), result


def update_attributes(
    entity: Entity, attrs: dict[str, list[Instance]], now: str
) -> tuple[Entity, UpdateResult]:
    """Replace existing attribute instances only; others are reported as not updated (5.6.2)."""
    result = UpdateResult()
    new_attrs = copy.deepcopy(entity.attrs)
    for name, instances in attrs.items():
        current = {_key(i): i for i in new_attrs.get(name, [])}
        for inst in instances:
            key = _key(inst)
            if key not in current:
                result.not_updated.append((name, "attribute (or datasetId) does not exist"))
                continue
            current[key] = _merge_instance(current[key], inst)
            if name not in result.updated:
                result.updated.append(name)
        if name in new_attrs:
            new_attrs[name] = list(current.values())
    return _touched(entity, new_attrs, now, bool(result.updated)), result


def partial_update_attribute(
    entity: Entity, name: str, fragment: list[Instance], now: str
) -> Entity:
    """Merge the given members into an existing attribute instance (5.6.4)."""
    if name not in entity.attrs:
        raise ResourceNotFound(f"entity {entity.id} has no attribute {name}")
    new_attrs = copy.deepcopy(entity.attrs)
    current = {_key(i): i for i in new_attrs[name]}
    for inst in fragment:
        key = _key(inst)
        if key not in current:
            raise ResourceNotFound(f"attribute {name} has no instance with datasetId {key!r}")
        merged = dict(current[key])
        merged.update({k: v for k, v in inst.items() if k not in ("createdAt", "type")})
        current[key] = merged
    new_attrs[name] = list(current.values())
    return _touched(entity, new_attrs, now, True)


def delete_attribute(
    entity: Entity, name: str, dataset_id: str | None, delete_all: bool, now: str
) -> Entity:
    """Remove an attribute, one of its datasetId instances, or all of them (5.6.5)."""
    instances = entity.attrs.get(name)
    if not instances:
        raise ResourceNotFound(f"entity {entity.id} has no attribute {name}")
    new_attrs = copy.deepcopy(entity.attrs)
    if delete_all:
        del new_attrs[name]
    else:
        key = dataset_id or ""
        kept = [i for i in instances if _key(i) != key]
        if len(kept) == len(instances):
            raise ResourceNotFound(f"attribute {name} has no instance with datasetId {key!r}")
        if kept:
            new_attrs[name] = kept
        else:
            del new_attrs[name]
    return _touched(entity, new_attrs, now, True)


def replace_attribute(
    entity: Entity, name: str, instances: list[Instance], now: str
) -> Entity:
    """Replace an existing attribute whole (PUT /entities/{id}/attrs/{attr})."""
    if name not in entity.attrs:
        raise ResourceNotFound(f"entity {entity.id} has no attribute {name}")
    new_attrs = copy.deepcopy(entity.attrs)
    new_attrs[name] = instances
    return _touched(entity, new_attrs, now, True)


def replace_entity(entity: Entity, new: Entity, now: str) -> Entity:
    """Replace all attributes and types of an entity, keeping its id and createdAt (5.6.18)."""
    return replace(new, id=entity.id, created_at=entity.created_at, modified_at=now)


def merge_entity(
    entity: Entity, body: dict[str, Any], ctx: Context, now: str
) -> Entity:
    """Apply a JSON merge-patch to an entity; the value urn:ngsi-ld:null deletes (5.6.17)."""
    attrs = expand_attributes(body, ctx, now, allow_null=True)
    new_attrs = copy.deepcopy(entity.attrs)
    for name, instances in attrs.items():
        current = {_key(i): i for i in new_attrs.get(name, [])}
        for inst in instances:
            key = _key(inst)
            if _is_null(inst):
                current.pop(key, None)
            elif key in current:
                current[key] = _merge_patch(current[key], inst)
            else:
                current[key] = inst
        if current:
            new_attrs[name] = list(current.values())
        else:
            new_attrs.pop(name, None)
    merged = _touched(entity, new_attrs, now, True)
    if body.get("type") is not None:
        extra = [t for t in entity_types(body["type"], ctx) if t not in merged.types]
        merged.types = [*merged.types, *extra]
    if "scope" in body:
        merged.scope = scopes(body["scope"])
    return merged


def _is_null(inst: Instance) -> bool:
    return any(inst.get(k) == NULL for k in ("value", "object", "languageMap", "vocab",
                                               "valueList", "objectList", "json"))


def _merge_patch(old: Instance, new: Instance) -> Instance:
    merged = copy.deepcopy(old)
    for key, value in new.items():
        if key == "createdAt":
            continue
        if isinstance(value, dict) and _is_null(value):
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict) and "type" in value:
            merged[key] = _merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


def _touched(entity: Entity, attrs: dict[str, list[Instance]], now: str, changed: bool) -> Entity:
    return replace(entity, attrs=attrs, modified_at=now if changed else entity.modified_at)
