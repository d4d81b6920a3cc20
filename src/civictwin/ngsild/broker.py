"""The context broker: NGSI-LD entity operations over a Store; the API and the CLI call this."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from civictwin.config import Settings
from civictwin.errors import (
    BadRequestData,
    CivicTwinError,
    InvalidRequest,
    ResourceNotFound,
)
from civictwin.models import EntityModels
from civictwin.ngsild import entities as ops
from civictwin.ngsild.attributes import (
    check_uri,
    expand_attribute,
    expand_attributes,
    now_iso,
)
from civictwin.ngsild.jsonld import Context, ContextResolver, RawContext, remote_loader
from civictwin.store.base import BatchOutcome, Entity, EntityQuery, QueryResult, Store
from civictwin.store.base import StoredContext as StoredContextRow

Change = Callable[[Entity], Entity | None]
log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """A BatchOperationResult (5.2.17): ids that succeeded, errors per entity."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, CivicTwinError]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the body of a 207 Multi-Status answer."""
        return {"success": self.success,
                "errors": [{"entityId": i, "error": e.to_problem()} for i, e in self.errors]}


class ContextBroker:
    """Entities, types, attributes and @contexts of every tenant of one twin."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        loader = remote_loader(settings.allow_remote_contexts, settings.context_allowlist,
                               settings.max_context_bytes, self._stored_context)
        self.contexts = ContextResolver(loader)
        self.models = EntityModels(self.contexts, settings.validate_models)

    def context(self, raw: RawContext) -> Context:
        """Resolve a request's @context (None means the core context)."""
        return self.contexts.resolve(raw)

    # -- single entities -----------------------------------------------------------------
    def create_entity(self, tenant: str, body: Any, ctx: Context) -> Entity:
        """Create one entity; AlreadyExists if its id is taken."""
        entity = ops.build_entity(body, ctx, now_iso())
        self.models.check(entity)
        _raise_first(self.store.create_entities(tenant, [entity]))
        return entity

    def retrieve_entity(self, tenant: str, entity_id: str) -> Entity:
        """Return one entity or raise ResourceNotFound."""
        entity = self.store.get_entity(tenant, _entity_id(entity_id))
        if entity is None:
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return entity

    def delete_entity(self, tenant: str, entity_id: str) -> None:
        """Delete one entity."""
        _raise_first(self.store.delete_entities(tenant, [_entity_id(entity_id)]))

    def append_attributes(self, tenant: str, entity_id: str, body: Any, ctx: Context,
                          overwrite: bool = True) -> ops.UpdateResult:
        """Append attributes to an entity (POST /entities/{id}/attrs)."""
        now = now_iso()
        attrs = expand_attributes(_object(body), ctx, now)
        types = ops.entity_types(body["type"], ctx) if "type" in body else []
        return self._update(tenant, entity_id, lambda e: ops.append_attributes(
            _with_types(e, types), attrs, now, overwrite=overwrite))

    def update_attributes(self, tenant: str, entity_id: str, body: Any,
                          ctx: Context) -> ops.UpdateResult:
        """Update existing attributes of an entity (PATCH /entities/{id}/attrs)."""
        now = now_iso()
        attrs = expand_attributes(_object(body), ctx, now)
        return self._update(tenant, entity_id, lambda e: ops.update_attributes(e, attrs, now))

    def partial_update(self, tenant: str, entity_id: str, name: str, body: Any,
                       ctx: Context) -> None:
        """Partially update one attribute (PATCH /entities/{id}/attrs/{attr})."""
        now, iri = now_iso(), ctx.expand(name)
        fragment = expand_attribute(name, _fragment(body), ctx, now)
        self._change(tenant, entity_id,
                     lambda e: ops.partial_update_attribute(e, iri, fragment, now))

    def replace_attribute(self, tenant: str, entity_id: str, name: str, body: Any,
                          ctx: Context) -> None:
        """Replace one attribute (PUT /entities/{id}/attrs/{attr})."""
        now, iri = now_iso(), ctx.expand(name)
        instances = expand_attribute(name, _object(body), ctx, now)
        self._change(tenant, entity_id, lambda e: ops.replace_attribute(e, iri, instances, now))

    def delete_attribute(self, tenant: str, entity_id: str, name: str, ctx: Context,
                         dataset_id: str | None = None, delete_all: bool = False) -> None:
        """Delete an attribute (DELETE /entities/{id}/attrs/{attr})."""
        now, iri = now_iso(), ctx.expand(name)
        self._change(tenant, entity_id,
                     lambda e: ops.delete_attribute(e, iri, dataset_id, delete_all, now))

    def replace_entity(self, tenant: str, entity_id: str, body: Any, ctx: Context) -> None:
        """Replace an entity whole (PUT /entities/{id})."""
        now = now_iso()
        new = ops.build_entity(body, ctx, now, entity_id=_entity_id(entity_id))
        self.models.check(new)
        self._change(tenant, entity_id, lambda e: ops.replace_entity(e, new, now), whole=True)

    def merge_entity(self, tenant: str, entity_id: str, body: Any, ctx: Context) -> None:
        """Merge-patch an entity (PATCH /entities/{id})."""
        now, patch = now_iso(), _object(body)
        if "id" in patch and patch["id"] != entity_id:
            raise BadRequestData("merge patch: 'id' in the body differs from the URL's")
        ops.merge_entity(Entity(entity_id, ["x"]), patch, ctx, now)
        self._change(tenant, entity_id, lambda e: ops.merge_entity(e, patch, ctx, now))

    def _update(self, tenant: str, entity_id: str,
                fn: Callable[[Entity], tuple[Entity, ops.UpdateResult]]) -> ops.UpdateResult:
        results: list[ops.UpdateResult] = []

        def change(entity: Entity) -> Entity:
            new, result = fn(entity)
            results.append(result)
            return new

        self._change(tenant, entity_id, change)
        return results[0]

    def _change(self, tenant: str, entity_id: str, change: Change, whole: bool = False) -> None:
        _raise_first(self.store.change_entities(tenant, [_entity_id(entity_id)],
                                                self._checked(change, whole)))

    def _checked(self, change: Change, whole: bool = False) -> Change:
        """Return `change` followed by the Smart Data Models check of its result."""
        def checked(entity: Entity) -> Entity | None:
            new = change(entity)
            if whole and new is not None:
                self.models.check(new)
            else:
                self.models.check_change(entity, new)
            return new
        return checked

    # -- batches -------------------------------------------------------------------------
    def batch_create(self, tenant: str, bodies: Any, ctx: Context) -> BatchResult:
        """Create many entities; each succeeds or fails on its own (5.6.7)."""
        built, result = self._build_all(bodies, ctx)
        outcome = self.store.create_entities(tenant, built)
        return _merge(result, outcome)

    def batch_upsert(self, tenant: str, bodies: Any, ctx: Context,
                     replace: bool = True) -> BatchResult:
        """Create or replace (or, with replace=False, update) many entities (5.6.8)."""
        built, result = self._build_all(bodies, ctx, whole=replace)
        if replace:
            return _merge(result, self.store.upsert_entities(tenant, built))
        now = now_iso()
        by_id = {e.id: e for e in built}
        updated = self.store.change_entities(tenant, list(by_id), self._checked(
            lambda e: ops.append_attributes(_with_types(e, by_id[e.id].types),
                                            by_id[e.id].attrs, now)[0]))
        missing = [by_id[i] for i, err in updated.errors.items()
                   if isinstance(err, ResourceNotFound)]
        missing, refused = self._partial_creations(missing)
        result.errors += refused
        created = self.store.create_entities(tenant, missing)
        errors = {i: e for i, e in updated.errors.items() if not isinstance(e, ResourceNotFound)}
        errors.update(created.errors)
        return _merge(result, BatchOutcome(updated.success + created.success, errors,
                                           created.success))

    def batch_update(self, tenant: str, bodies: Any, ctx: Context,
                     overwrite: bool = True) -> BatchResult:
        """Append attributes to many existing entities (5.6.9)."""
        built, result = self._build_all(bodies, ctx, require_type=False, whole=False)
        now = now_iso()
        by_id = {e.id: e for e in built}
        outcome = self.store.change_entities(tenant, list(by_id), self._checked(
            lambda e: ops.append_attributes(e, by_id[e.id].attrs, now, overwrite=overwrite)[0]))
        return _merge(result, outcome)

    def batch_merge(self, tenant: str, bodies: Any, ctx: Context) -> BatchResult:
        """Merge-patch many existing entities (5.6.20)."""
        result = BatchResult()
        patches: dict[str, dict[str, Any]] = {}
        now = now_iso()
        for body in _array(bodies):
            try:
                entity_id = _entity_id(_object(body).get("id"))
                ops.merge_entity(Entity(entity_id, ["x"]), body, ctx, now)
                patches[entity_id] = body
            except CivicTwinError as exc:
                result.errors.append((_guess_id(body), exc))
        outcome = self.store.change_entities(tenant, list(patches), self._checked(
            lambda e: ops.merge_entity(e, patches[e.id], ctx, now)))
        return _merge(result, outcome)

    def batch_delete(self, tenant: str, ids: Any) -> BatchResult:
        """Delete many entities by id (5.6.10)."""
        result = BatchResult()
        good: list[str] = []
        for item in _array(ids):
            try:
                good.append(_entity_id(item))
            except CivicTwinError as exc:
                result.errors.append((str(item), exc))
        return _merge(result, self.store.delete_entities(tenant, good))

    def _partial_creations(
            self, entities: list[Entity]) -> tuple[list[Entity], list[tuple[str, CivicTwinError]]]:
        """Split entities a partial write creates into those whose values pass and refusals."""
        good: list[Entity] = []
        refused: list[tuple[str, CivicTwinError]] = []
        for entity in entities:
            try:
                self.models.check_change(Entity(entity.id, entity.types), entity)
                good.append(entity)
            except CivicTwinError as exc:
                refused.append((entity.id, exc))
        return good, refused

    def _build_all(self, bodies: Any, ctx: Context, require_type: bool = True,
                   whole: bool = True) -> tuple[list[Entity], BatchResult]:
        result = BatchResult()
        built: dict[str, Entity] = {}
        now = now_iso()
        for body in _array(bodies):
            try:
                if not require_type and isinstance(body, dict) and "type" not in body:
                    body = {**body, "type": "urn:ngsi-ld:unknown-type"}
                entity = ops.build_entity(body, ctx, now)
                if whole:
                    self.models.check(entity)
                built[entity.id] = entity
            except CivicTwinError as exc:
                result.errors.append((_guess_id(body), exc))
        return list(built.values()), result

    # -- queries -------------------------------------------------------------------------
    def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        """Return a page of entities matching the query."""
        if query.limit > self.settings.max_limit:
            raise BadRequestData(f"limit {query.limit} is above the maximum of "
                                 f"{self.settings.max_limit}")
        return self.store.query_entities(tenant, query)

    def types(self, tenant: str) -> dict[str, int]:
        """Return the entity types of a tenant with their entity counts."""
        return self.store.type_counts(tenant)

    def attributes(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Return the attributes of a tenant with counts, types and kinds."""
        return self.store.attribute_summary(tenant)

    # -- @contexts -----------------------------------------------------------------------
    def add_context(self, body: Any, base_url: str) -> StoredContextRow:
        """Host a user @context (POST /jsonldContexts) and return it."""
        if not isinstance(body, dict) or not isinstance(body.get("@context"), dict | list):
            raise BadRequestData("a hosted @context must be a JSON object with an @context member")
        text = json.dumps(body, sort_keys=True)
        if len(text) > self.settings.max_context_bytes:
            raise BadRequestData(f"@context larger than {self.settings.max_context_bytes} bytes")
        self.contexts.resolve(body["@context"])
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        row = StoredContextRow(id=digest, url=f"{base_url}/ngsi-ld/v1/jsonldContexts/{digest}",
                               kind="Hosted", body=body, created_at=now_iso())
        self.store.put_context(row)
        self.contexts.forget(row.url)
        return row

    def get_context(self, key: str) -> StoredContextRow:
        """Return a hosted @context by id or URL."""
        row = self.store.get_context(key)
        if row is None:
            raise ResourceNotFound(f"@context {key} is not held by this broker")
        return row

    def delete_context(self, key: str) -> None:
        """Delete a hosted @context."""
        row = self.get_context(key)
        self.store.delete_context(key)
        self.contexts.forget(row.url)

    def _stored_context(self, url: str) -> dict[str, Any] | None:
        row = self.store.get_context(url)
        return row.body if row is not None else None


def _raise_first(outcome: BatchOutcome) -> None:
    for error in outcome.errors.values():
        raise error


def _merge(result: BatchResult, outcome: BatchOutcome) -> BatchResult:
    result.success += outcome.success
    result.created += outcome.created
    for entity_id, error in outcome.errors.items():
        if not isinstance(error, CivicTwinError):
            log.error("entity %s: unexpected %r", entity_id, error)
            error = CivicTwinError(f"unexpected error while changing entity {entity_id}")
        result.errors.append((entity_id, error))
    return result


def _with_types(entity: Entity, types: list[str]) -> Entity:
    extra = [t for t in types if t not in entity.types and t != "urn:ngsi-ld:unknown-type"]
    if extra:
        entity.types = [*entity.types, *extra]
    return entity


def _entity_id(value: Any) -> str:
    return check_uri(value, "entity id")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData("the request body must be a JSON object")
    return body


def _fragment(body: Any) -> Any:
    if not isinstance(body, dict | list):
        raise BadRequestData("the request body must be a JSON object")
    return body


def _array(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise BadRequestData("a batch operation takes a JSON array")
    if len(body) > 10_000:
        raise InvalidRequest("a batch may hold at most 10000 items")
    return body


def _guess_id(body: Any) -> str:
    return str(body.get("id", "unknown")) if isinstance(body, dict) else "unknown"
