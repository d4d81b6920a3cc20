"""The Store protocol: what both the SQLite and the PostgreSQL store promise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from civictwin.ngsild.geo import GeoQuery
from civictwin.ngsild.qlang import Node

Instance = dict[str, Any]
"""One attribute instance in normalized form, sub-attribute names expanded to IRIs."""


@dataclass
class Entity:
    """An entity as stored: names expanded to IRIs, attributes as lists of instances."""

    id: str
    types: list[str]
    attrs: dict[str, list[Instance]] = field(default_factory=dict)
    scope: list[str] = field(default_factory=list)
    created_at: str = ""
    modified_at: str = ""

    def document(self) -> dict[str, Any]:
        """Return the JSON document kept in `entities.doc`."""
        return {"types": self.types, "scope": self.scope, "attrs": self.attrs}


@dataclass(frozen=True)
class EntityQuery:
    """Which entities to return; every filter is optional and they combine with AND."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: Node | None = None
    attrs: tuple[str, ...] = ()
    q: Node | None = None
    scope_q: Node | None = None
    geo: GeoQuery | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False


@dataclass(frozen=True)
class QueryResult:
    """One page of entities and, when asked for, the total number that match."""

    entities: list[Entity]
    count: int | None = None


@dataclass(frozen=True)
class BatchOutcome:
    """What happened to each entity of a batch: ids that succeeded, and errors by id."""

    success: list[str]
    errors: dict[str, Exception]
    created: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredContext:
    """A JSON-LD @context document the broker holds (hosted by users or cached)."""

    id: str
    url: str
    kind: str
    body: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class EntityWrite:
    """One entity's change as a store commits it: before (None if new), after (None if gone)."""

    before: Entity | None
    after: Entity | None


WriteListener = Callable[[Any, str, list[EntityWrite]], None]
"""Called inside the writing transaction (with its connection) so derived rows commit with it."""

EntityChange = Callable[[Entity], Entity | None]
"""Turn the current entity into the new one (None deletes it); raise to refuse the change."""


class Store(Protocol):
    """Durable, multi-tenant entity storage with NGSI-LD query support."""

    dialect: str

    def migrate(self, upto: int | None = None) -> int:
        """Apply every missing migration step (up to `upto`); return the newest version."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def add_listener(self, listener: WriteListener) -> None:
        """Call `listener` with every batch of entity writes, inside the same transaction."""
        ...

    def create_entities(self, tenant: str, entities: Sequence[Entity]) -> BatchOutcome:
        """Insert new entities; an id that exists already fails with AlreadyExists."""
        ...

    def upsert_entities(self, tenant: str, entities: Sequence[Entity]) -> BatchOutcome:
        """Insert entities, or replace those that exist, each atomically."""
        ...

    def change_entities(
        self, tenant: str, ids: Sequence[str], change: EntityChange
    ) -> BatchOutcome:
        """Apply `change` to each entity under a row lock; a missing id is ResourceNotFound."""
        ...

    def delete_entities(self, tenant: str, ids: Sequence[str]) -> BatchOutcome:
        """Delete entities by id; a missing id is ResourceNotFound."""
        ...

    def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        """Return one entity, or None."""
        ...

    def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        """Return the page of entities matching `query`, ordered by id."""
        ...

    def type_counts(self, tenant: str) -> dict[str, int]:
        """Return every entity type in the tenant with its number of entities."""
        ...

    def attribute_summary(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Return per attribute IRI: entity count, the entity types and attribute kinds using it."""
        ...

    def put_context(self, context: StoredContext) -> None:
        """Store (or replace) a JSON-LD context document."""
        ...

    def get_context(self, key: str) -> StoredContext | None:
        """Return a stored context by id or URL."""
        ...

    def list_contexts(self, kind: str | None = None) -> list[StoredContext]:
        """Return stored contexts, optionally of one kind."""
        ...

    def delete_context(self, key: str) -> bool:
        """Delete a stored context by id or URL; return whether it existed."""
        ...
