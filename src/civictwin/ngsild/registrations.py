"""Context source registrations (ETSI GS CIM 009 5.2.9, 5.9): validation, matching, storage.

A registration says which entities (by type, id or id pattern) and which attributes another
NGSI-LD broker holds, and how its answers combine with ours (`mode`). Types and attribute names
are kept expanded to IRIs, so matching never depends on the @context a later request speaks.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, insert, select, update

from civictwin.errors import (
    AlreadyExists,
    BadRequestData,
    OperationNotSupported,
    ResourceNotFound,
)
from civictwin.ngsild.attributes import check_uri, normalize_datetime, now_iso
from civictwin.ngsild.jsonld import Context
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.store.base import Entity, Store
from civictwin.store.schema import csource_registrations as table

Mode = Literal["inclusive", "exclusive", "redirect", "auxiliary"]
MODES: tuple[Mode, ...] = ("inclusive", "exclusive", "redirect", "auxiliary")
REGISTRATION = "ContextSourceRegistration"
# Operations (5.2.9 `operations`, Table 4.20-1) under which a source answers queries.
QUERY_OPERATIONS = {"federationOps", "retrieveOps", "queryEntity", "retrieveEntity"}
# Members kept as given (not interpreted beyond a type check).
KEPT: dict[str, type | tuple[type, ...]] = {
    "registrationName": str, "description": str, "observationInterval": dict,
    "managementInterval": dict, "location": dict, "observationSpace": dict,
    "operationSpace": dict, "scope": (str, list), "refreshRate": str, "management": dict,
    "operations": list}
SYSTEM = {"@context", "createdAt", "modifiedAt", "status", "timesSent", "timesFailed",
          "lastSuccess", "lastFailure"}
_TENANT = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")


@dataclass(frozen=True)
class EntityInfo:
    """Which entities a source holds: a type, and optionally an id or an id pattern."""

    type: str
    id: str | None = None
    id_pattern: str | None = None

    def matches(self, types: set[str] | None, entity_id: str | None = None) -> bool:
        """Return whether entities of `types` (None: any) and `entity_id` may be here."""
        if types is not None and self.type not in types:
            return False
        if entity_id is None:
            return True
        if self.id is not None:
            return self.id == entity_id
        if self.id_pattern is not None:
            return re.fullmatch(self.id_pattern, entity_id) is not None
        return True


@dataclass(frozen=True)
class RegistrationInfo:
    """One RegistrationInfo (5.2.10): entities and the attributes held for them."""

    entities: tuple[EntityInfo, ...] = ()
    property_names: tuple[str, ...] = ()
    relationship_names: tuple[str, ...] = ()

    @property
    def names(self) -> frozenset[str]:
        """Return every attribute IRI registered (empty: all attributes)."""
        return frozenset(self.property_names) | frozenset(self.relationship_names)

    def matches(self, types: set[str] | None, attrs: set[str], entity_id: str | None) -> bool:
        """Return whether a request for these types, attributes and id concerns this info."""
        if attrs and self.names and not attrs & self.names:
            return False
        if not self.entities:
            return True
        return any(e.matches(types, entity_id) for e in self.entities)

    def covers(self, entity: Entity) -> bool:
        """Return whether a stored entity is one this info registers."""
        return not self.entities or any(
            e.matches(set(entity.types), entity.id) for e in self.entities)


@dataclass(frozen=True)
class Registration:
    """A CSourceRegistration, names expanded to IRIs."""

    id: str
    endpoint: str
    information: tuple[RegistrationInfo, ...]
    mode: Mode = "inclusive"
    tenant: str | None = None
    context_source_info: tuple[tuple[str, str], ...] = ()
    expires_at: str | None = None
    kept: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    modified_at: str = ""

    def answers_queries(self, now: str) -> bool:
        """Return whether this source is asked when entities are queried or retrieved."""
        if self.expires_at is not None and self.expires_at <= now:
            return False
        operations = self.kept.get("operations")
        return operations is None or bool(QUERY_OPERATIONS & set(operations))

    def matches(self, types: set[str] | None, attrs: set[str],
                entity_id: str | None = None) -> bool:
        """Return whether a request for these types, attributes and id concerns this source."""
        return any(i.matches(types, attrs, entity_id) for i in self.information)

    def document(self) -> dict[str, Any]:
        """Return the JSON document kept in `csource_registrations.doc`."""
        return {"endpoint": self.endpoint, "mode": self.mode, "tenant": self.tenant,
                "contextSourceInfo": [list(p) for p in self.context_source_info],
                "expiresAt": self.expires_at, "kept": self.kept,
                "information": [{"entities": [[e.type, e.id, e.id_pattern] for e in i.entities],
                                 "propertyNames": list(i.property_names),
                                 "relationshipNames": list(i.relationship_names)}
                                for i in self.information]}

    def to_json(self, ctx: Context, sys_attrs: bool = False) -> dict[str, Any]:
        """Return the registration as an API body, names compacted with `ctx`."""
        out: dict[str, Any] = {"id": self.id, "type": REGISTRATION}
        out.update({k: v for k, v in self.kept.items() if k != "operations"})
        out["information"] = [_info_json(i, ctx) for i in self.information]
        out["endpoint"] = self.endpoint
        out["mode"] = self.mode
        if "operations" in self.kept:
            out["operations"] = self.kept["operations"]
        if self.tenant is not None:
            out["tenant"] = self.tenant
        if self.context_source_info:
            out["contextSourceInfo"] = [{"key": k, "value": v}
                                        for k, v in self.context_source_info]
        if self.expires_at is not None:
            out["expiresAt"] = self.expires_at
        out["status"] = "ok"
        if sys_attrs:
            out["createdAt"] = self.created_at
            out["modifiedAt"] = self.modified_at
        return out


def _info_json(info: RegistrationInfo, ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if info.entities:
        out["entities"] = [{"type": ctx.compact(e.type),
                            **({"id": e.id} if e.id else {}),
                            **({"idPattern": e.id_pattern} if e.id_pattern else {})}
                           for e in info.entities]
    if info.property_names:
        out["propertyNames"] = [ctx.compact(n) for n in info.property_names]
    if info.relationship_names:
        out["relationshipNames"] = [ctx.compact(n) for n in info.relationship_names]
    return out


def parse_registration(body: Any, ctx: Context, registration_id: str | None = None,
                       now: str | None = None) -> Registration:
    """Validate a CSourceRegistration body and return it expanded."""
    if not isinstance(body, dict):
        raise BadRequestData("a context source registration must be a JSON object")
    if body.get("type") != REGISTRATION:
        raise BadRequestData(f"registration: 'type' must be {REGISTRATION!r}")
    unknown = set(body) - set(KEPT) - SYSTEM - {
        "id", "type", "information", "endpoint", "mode", "tenant", "contextSourceInfo",
        "expiresAt"}
    if unknown:
        raise BadRequestData(f"registration: unknown member(s) {', '.join(sorted(unknown))}")
    raw_id = body.get("id", registration_id) or f"urn:ngsi-ld:ContextSourceRegistration:" \
        f"{uuid.uuid4()}"
    if registration_id is not None and raw_id != registration_id:
        raise BadRequestData("registration: 'id' in the body differs from the URL's")
    mode = body.get("mode", "inclusive")
    if mode not in MODES:
        raise BadRequestData(f"registration: mode {mode!r} is not one of {', '.join(MODES)}")
    information = _information(body.get("information"), ctx)
    if mode == "exclusive" and any(not i.names for i in information):
        raise BadRequestData("registration: an exclusive registration must name its "
                             "propertyNames or relationshipNames in every information item")
    kept = {}
    for key, kind in KEPT.items():
        if key in body:
            if not isinstance(body[key], kind):
                raise BadRequestData(f"registration: {key!r} has the wrong JSON type")
            kept[key] = body[key]
    stamp = now or now_iso()
    return Registration(
        id=check_uri(raw_id, "registration id"),
        endpoint=_endpoint(body.get("endpoint")),
        information=information,
        mode=mode,
        tenant=_tenant(body.get("tenant")),
        context_source_info=_source_info(body.get("contextSourceInfo")),
        expires_at=normalize_datetime(body["expiresAt"], "registration expiresAt")
        if body.get("expiresAt") is not None else None,
        kept=kept,
        created_at=stamp,
        modified_at=stamp,
    )


def _endpoint(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise BadRequestData("registration: 'endpoint' is required and must be a URL string")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequestData(f"registration: endpoint {raw!r} must be an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise BadRequestData(f"registration: endpoint {raw!r} must not carry a query or fragment")
    return raw.rstrip("/")


def _tenant(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _TENANT.match(raw):
        raise BadRequestData(f"registration: tenant {raw!r} is not a valid tenant name")
    return raw


def _source_info(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequestData("registration: contextSourceInfo must be an array of KeyValuePairs")
    pairs = []
    for item in raw:
        if not (isinstance(item, dict) and set(item) == {"key", "value"}
                and isinstance(item["key"], str) and isinstance(item["value"], str)
                and re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", item["key"])):
            raise BadRequestData("registration: each contextSourceInfo item must be "
                                 "{\"key\": <header name>, \"value\": <string>}")
        if any(c in item["value"] for c in "\r\n"):
            raise BadRequestData("registration: a contextSourceInfo value may not hold newlines")
        pairs.append((item["key"], item["value"]))
    return tuple(pairs)


def _information(raw: Any, ctx: Context) -> tuple[RegistrationInfo, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequestData("registration: 'information' must be a non-empty array")
    infos = []
    for n, item in enumerate(raw):
        where = f"registration information[{n}]"
        if not isinstance(item, dict):
            raise BadRequestData(f"{where} must be an object")
        extra = set(item) - {"entities", "propertyNames", "relationshipNames"}
        if extra:
            raise BadRequestData(f"{where}: unknown member(s) {', '.join(sorted(extra))}")
        entities = tuple(_entity_info(e, ctx, f"{where}.entities")
                         for e in _strings_or_objects(item.get("entities"), f"{where}.entities"))
        props = _names(item.get("propertyNames"), ctx, f"{where}.propertyNames")
        rels = _names(item.get("relationshipNames"), ctx, f"{where}.relationshipNames")
        if not (entities or props or rels):
            raise BadRequestData(f"{where} needs entities, propertyNames or relationshipNames")
        infos.append(RegistrationInfo(entities, props, rels))
    return tuple(infos)


def _strings_or_objects(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        raise BadRequestData(f"{where} must be a non-empty array")
    return raw


def _entity_info(raw: Any, ctx: Context, where: str) -> EntityInfo:
    if not isinstance(raw, dict):
        raise BadRequestData(f"{where}: each item must be an object")
    if not isinstance(raw.get("type"), str) or not raw["type"]:
        raise BadRequestData(f"{where}: each item needs a 'type' string")
    if "id" in raw and "idPattern" in raw:
        raise BadRequestData(f"{where}: give 'id' or 'idPattern', not both")
    pattern = raw.get("idPattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise BadRequestData(f"{where}: idPattern is not a valid regular expression") \
                from exc
    entity_id = check_uri(raw["id"], f"{where} id") if "id" in raw else None
    return EntityInfo(ctx.expand(raw["type"]), entity_id, pattern)


def _names(raw: Any, ctx: Context, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) and n for n in raw):
        raise BadRequestData(f"{where} must be a non-empty array of attribute names")
    return tuple(dict.fromkeys(ctx.expand(n) for n in raw))


def _from_row(row: Any) -> Registration:
    doc = json.loads(row.doc)
    return Registration(
        id=row.id, endpoint=doc["endpoint"], mode=doc["mode"], tenant=doc["tenant"],
        context_source_info=tuple((k, v) for k, v in doc["contextSourceInfo"]),
        expires_at=doc["expiresAt"], kept=doc["kept"],
        information=tuple(RegistrationInfo(
            tuple(EntityInfo(*e) for e in i["entities"]), tuple(i["propertyNames"]),
            tuple(i["relationshipNames"])) for i in doc["information"]),
        created_at=row.created_at, modified_at=row.modified_at)


class Registrations:
    """The registrations of every tenant, kept in the twin's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def of(cls, store: Store) -> Registrations:
        """Return the registrations kept in a store's database."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise OperationNotSupported("this store keeps no context source registrations")
        return cls(engine)

    def matching(self, tenant: str, types: set[str] | None, attrs: set[str],
                 ids: Sequence[str] = ()) -> list[Registration]:
        """Return the registrations concerned by a request for these types, attrs and ids."""
        return [r for r in self.all(tenant)
                if (r.matches(types, attrs) if not ids else
                    any(r.matches(types, attrs, i) for i in ids))]

    def create(self, tenant: str, registration: Registration) -> Registration:
        """Store a new registration; AlreadyExists if its id is taken."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            taken = conn.execute(select(table.c.pk).where(
                table.c.tenant == tenant, table.c.id == registration.id)).first()
            if taken is not None:
                raise AlreadyExists(f"registration {registration.id} exists already")
            conn.execute(insert(table).values(
                tenant=tenant, id=registration.id, doc=json.dumps(registration.document()),
                created_at=registration.created_at, modified_at=registration.modified_at))
        return registration

    def get(self, tenant: str, registration_id: str) -> Registration:
        """Return one registration or raise ResourceNotFound."""
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(
                table.c.tenant == tenant, table.c.id == registration_id)).first()
        if row is None:
            raise ResourceNotFound(f"registration {registration_id} does not exist")
        return _from_row(row)

    def all(self, tenant: str) -> list[Registration]:
        """Return every registration of a tenant, ordered by id."""
        stmt = select(table).where(table.c.tenant == tenant).order_by(table.c.id)
        with self.engine.connect() as conn:
            return [_from_row(r) for r in conn.execute(stmt)]

    def update(self, tenant: str, registration_id: str, patch: Any, ctx: Context,
               policy: OutboundPolicy | None = None) -> Registration:
        """Replace the members a patch gives (5.9.3) and return the new registration."""
        if not isinstance(patch, dict):
            raise BadRequestData("the request body must be a JSON object")
        if patch.get("id", registration_id) != registration_id:
            raise BadRequestData("registration: 'id' may not be changed")
        current = self.get(tenant, registration_id)
        body = {**current.to_json(ctx), **patch, "id": registration_id, "type": REGISTRATION}
        now = now_iso()
        new = replace(parse_registration(body, ctx, registration_id, now),
                      created_at=current.created_at)
        if policy is not None and new.endpoint != current.endpoint:
            policy.admit(new.endpoint, "registration: endpoint")
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            changed = conn.execute(update(table).where(
                table.c.tenant == tenant, table.c.id == registration_id).values(
                doc=json.dumps(new.document()), modified_at=now))
        if not changed.rowcount:
            raise ResourceNotFound(f"registration {registration_id} does not exist")
        return new

    def delete(self, tenant: str, registration_id: str) -> None:
        """Delete a registration or raise ResourceNotFound."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            gone = conn.execute(delete(table).where(
                table.c.tenant == tenant, table.c.id == registration_id))
        if not gone.rowcount:
            raise ResourceNotFound(f"registration {registration_id} does not exist")
