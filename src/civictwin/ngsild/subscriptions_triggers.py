"""What a write means to a subscription: its notificationTrigger, and the data it notifies.

ETSI GS CIM 009 v1.8 (5.2.12): `notificationTrigger` lists which changes notify —
entityCreated, entityUpdated, entityDeleted, attributeCreated, attributeUpdated,
attributeDeleted — by default attributeCreated and attributeUpdated. entityUpdated stands for
any attribute of an existing entity being created, updated or deleted. `showChanges` adds each
changed attribute's previous value (previousValue, previousObject, ...). A deleted entity is
notified as its id, type and `deletedAt`; a deleted attribute as the NGSI-LD Null with
`deletedAt`.
"""

from __future__ import annotations

from typing import Any

from civictwin.errors import BadRequestData
from civictwin.ngsild.attributes import VALUE_KEYS
from civictwin.ngsild.jsonld import Context
from civictwin.store.base import Entity, EntityWrite, Instance

TRIGGERS = ("entityCreated", "entityUpdated", "entityDeleted", "attributeCreated",
            "attributeUpdated", "attributeDeleted")
DEFAULT_TRIGGERS = frozenset({"attributeCreated", "attributeUpdated"})
NGSI_LD_NULL = "urn:ngsi-ld:null"
PREVIOUS = {"Property": "previousValue", "GeoProperty": "previousValue",
            "Relationship": "previousObject", "LanguageProperty": "previousLanguageMap",
            "VocabProperty": "previousVocab", "ListProperty": "previousValueList",
            "ListRelationship": "previousObjectList", "JsonProperty": "previousJson"}


def parse_triggers(doc: dict[str, Any]) -> frozenset[str]:
    """Return the subscription's notificationTrigger, validated (the default when absent)."""
    if "notificationTrigger" not in doc:
        return DEFAULT_TRIGGERS
    raw = doc["notificationTrigger"]
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise BadRequestData("notificationTrigger must be a non-empty array of strings")
    unknown = [t for t in raw if t not in TRIGGERS]
    if unknown:
        raise BadRequestData(f"notificationTrigger: {', '.join(unknown)} not one of "
                             + ", ".join(TRIGGERS))
    return frozenset(raw)


def trigger_reason(write: EntityWrite, triggers: frozenset[str],
                   watched: frozenset[str] | None) -> str | None:
    """Return which notificationTrigger the write fires, or None."""
    before, after = write.before, write.after
    if after is None:
        if before is None or "entityDeleted" not in triggers:
            return None
        return "entityDeleted" if _watches(before, watched) else None
    if before is None:
        if "entityCreated" in triggers and _watches(after, watched):
            return "entityCreated"
        if "attributeCreated" in triggers and _names(after, watched):
            return "attributeCreated"
        return None
    created, updated, deleted = attribute_changes(before, after, watched)
    if "entityUpdated" in triggers and (created or updated or deleted or (
            watched is None and before.document() != after.document())):
        return "entityUpdated"
    for reason, names in (("attributeCreated", created), ("attributeUpdated", updated),
                          ("attributeDeleted", deleted)):
        if reason in triggers and names:
            return reason
    return None


def attribute_changes(before: Entity, after: Entity, watched: frozenset[str] | None
                      ) -> tuple[set[str], set[str], set[str]]:
    """Return the (watched) attribute names created, updated and deleted from before to after."""
    old, new = _names(before, watched), _names(after, watched)
    updated = {n for n in old & new if before.attrs[n] != after.attrs[n]}
    return new - old, updated, old - new


def notified_entity(write: EntityWrite, reason: str, show_changes: bool, now: str,
                    ctx: Context) -> Entity:
    """Return the entity a notification shows: deleted attributes as Null, previous values."""
    if write.after is None:
        assert write.before is not None
        return Entity(write.before.id, write.before.types)
    after = write.after
    before = write.before
    if before is None or (not show_changes and reason not in (
            "attributeDeleted", "entityUpdated")):
        return after
    attrs = {name: list(instances) for name, instances in after.attrs.items()}
    for name in before.attrs.keys() - after.attrs.keys():
        attrs[name] = [{"type": i.get("type", "Property"), **_null(i), "deletedAt": now,
                        **({"datasetId": i["datasetId"]} if "datasetId" in i else {})}
                       for i in before.attrs[name]]
    if show_changes:
        for name in before.attrs.keys() & after.attrs.keys():
            attrs[name] = _with_previous(before.attrs[name], after.attrs[name], ctx)
    return Entity(after.id, after.types, attrs, after.scope, after.created_at,
                  after.modified_at)


def deletion_body(entity: Entity, now: str, ctx: Context) -> dict[str, Any]:
    """Return how a deleted entity is notified: id, type and deletedAt."""
    types = [ctx.compact(t) for t in entity.types]
    return {"id": entity.id, "type": types[0] if len(types) == 1 else types, "deletedAt": now}


def _null(inst: Instance) -> dict[str, Any]:
    key = VALUE_KEYS.get(str(inst.get("type")), "value")
    return {key: NGSI_LD_NULL}


def _with_previous(old: list[Instance], new: list[Instance], ctx: Context) -> list[Instance]:
    previous = {str(i.get("datasetId", "")): i for i in old}
    out: list[Instance] = []
    for inst in new:
        prior = previous.get(str(inst.get("datasetId", "")))
        kind = str(inst.get("type"))
        key = VALUE_KEYS.get(kind, "value")
        if prior is None or prior.get("type") != kind or prior.get(key) == inst.get(key):
            out.append(inst)
            continue
        value = prior.get(key)
        if kind == "VocabProperty":
            value = ([ctx.compact(v) for v in value] if isinstance(value, list)
                     else ctx.compact(str(value)))
        out.append({**inst, PREVIOUS.get(kind, "previousValue"): value})
    return out


def _watches(entity: Entity, watched: frozenset[str] | None) -> bool:
    return watched is None or bool(watched & entity.attrs.keys())


def _names(entity: Entity, watched: frozenset[str] | None) -> set[str]:
    names = set(entity.attrs)
    return names if watched is None else names & watched
