"""The SQL shared by both stores; subclasses override a short list of dialect hooks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Table,
    TableClause,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    true,
    update,
)

from civictwin.errors import AlreadyExists, ResourceNotFound
from civictwin.ngsild.geo import GeoQuery
from civictwin.store.base import (
    BatchOutcome,
    Entity,
    EntityChange,
    EntityQuery,
    EntityWrite,
    QueryResult,
    StoredContext,
    WriteListener,
)
from civictwin.store.consent import withheld_filter, withheld_pk_filter
from civictwin.store.index import (
    GEOMETRY_COLUMNS,
    TYPE_COLUMNS,
    VALUE_COLUMNS,
    Row,
    index_rows,
)
from civictwin.store.migrations import MIGRATIONS, applied_versions
from civictwin.store.qsql import compile_q, compile_scope, compile_types
from civictwin.store.schema import (
    attribute_values,
    entities,
    entity_types,
    geometries,
    jsonld_contexts,
    schema_version,
)

ENTITY_COLUMNS = ("pk", "tenant", "id", "doc", "created_at", "modified_at")
GEOMETRY_ROW_COLUMNS = ("gk", *GEOMETRY_COLUMNS)


class SqlStore:
    """Entity storage over SQLAlchemy Core; one instance per database."""

    dialect = "sql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.listeners: list[WriteListener] = []

    def add_listener(self, listener: WriteListener) -> None:
        """Call `listener` with every batch of entity writes, inside the same transaction."""
        self.listeners.append(listener)

    def _notify(self, conn: Connection, tenant: str, writes: list[EntityWrite]) -> None:
        if writes:
            for listener in self.listeners:
                listener(conn, tenant, writes)

    # -- dialect hooks -------------------------------------------------------------------
    def _write(self) -> Connection:
        """Open a connection for a write transaction."""
        return self.engine.connect()

    def _member_of(self, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
        """Return `column IN values` (the dialect may bind the values as one array)."""
        return column.in_(values)

    def _lock(self, conn: Connection, stmt: Select[Any]) -> Select[Any]:
        """Return `stmt` with a row lock where the dialect needs one."""
        return stmt

    def _lock_ids(self, conn: Connection, tenant: str, ids: Sequence[str]) -> None:
        """Serialise concurrent writes of these entity ids (SQLite's writes are serial)."""

    def _migration_sql(self, version: int) -> list[str]:
        """Return dialect-specific statements for one schema version."""
        return []

    def _next_keys(self, conn: Connection, table: Table, count: int) -> list[int]:
        """Reserve `count` new values of the table's integer primary key in this transaction."""
        raise NotImplementedError

    def _bulk_insert(
        self, conn: Connection, table: TableClause, columns: Sequence[str], rows: list[Row]
    ) -> None:
        """Insert many rows of our own making, values in `columns` order (JSON as text)."""
        raise NotImplementedError

    def _insert_geometries(self, conn: Connection, rows: list[Row]) -> None:
        """Insert geometry rows (GEOMETRY_COLUMNS with the key `gk` first) and the dialect's
        spatial index."""
        raise NotImplementedError

    def _delete_geometries(self, conn: Connection, pks: Sequence[int]) -> None:
        """Delete the geometry rows of these entities."""
        raise NotImplementedError

    def _geo_filter(self, conn: Connection, geo: GeoQuery, tenant: str) -> ColumnElement[bool]:
        """Return the condition on entities.pk that a geo-query imposes."""
        raise NotImplementedError

    # -- schema --------------------------------------------------------------------------
    def migrate(self, upto: int | None = None) -> int:
        """Apply every missing migration step (up to `upto`); return the newest version."""
        with self._write() as conn, conn.begin():
            schema_version.create(conn, checkfirst=True)
            applied = applied_versions(conn, _now())
            for version, step in MIGRATIONS:
                if version in applied or (upto is not None and version > upto):
                    continue
                step(conn)
                for statement in self._migration_sql(version):
                    conn.exec_driver_sql(statement)
                conn.execute(insert(schema_version).values(version=version, applied_at=_now()))
                applied.add(version)
        return max(applied, default=0)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    # -- writes --------------------------------------------------------------------------
    def create_entities(self, tenant: str, batch: Sequence[Entity]) -> BatchOutcome:
        """Insert new entities; an id that exists already fails with AlreadyExists."""
        errors: dict[str, Exception] = {}
        with self._write() as conn, conn.begin():
            self._lock_ids(conn, tenant, [e.id for e in batch])
            existing = self._existing(conn, tenant, [e.id for e in batch])
            fresh: dict[str, Entity] = {}
            for entity in batch:
                if entity.id in existing or entity.id in fresh:
                    errors[entity.id] = AlreadyExists(f"entity {entity.id} exists already")
                else:
                    fresh[entity.id] = entity
            self._insert(conn, tenant, list(fresh.values()))
            self._notify(conn, tenant, [EntityWrite(None, e) for e in fresh.values()])
        return BatchOutcome(list(fresh), errors)

    def upsert_entities(self, tenant: str, batch: Sequence[Entity]) -> BatchOutcome:
        """Insert entities, or replace those that exist (keeping createdAt)."""
        last: dict[str, Entity] = {e.id: e for e in batch}
        with self._write() as conn, conn.begin():
            self._lock_ids(conn, tenant, list(last))
            existing = self._existing(conn, tenant, list(last))
            before = self._current(conn, tenant, list(existing)) if self.listeners else {}
            olds = [e for e in last.values() if e.id in existing]
            for entity in olds:
                entity.created_at = existing[entity.id][1]
            self._rewrite(conn, tenant, [(existing[e.id][0], e) for e in olds])
            self._insert(conn, tenant, [e for e in last.values() if e.id not in existing])
            self._notify(conn, tenant, [EntityWrite(before.get(e.id), e) for e in last.values()])
        created = [i for i in last if i not in existing]
        return BatchOutcome(list(last), {}, created)

    def change_entities(
        self, tenant: str, ids: Sequence[str], change: EntityChange
    ) -> BatchOutcome:
        """Apply `change` to each entity under a row lock; a missing id is ResourceNotFound."""
        success: list[str] = []
        errors: dict[str, Exception] = {}
        with self._write() as conn, conn.begin():
            self._lock_ids(conn, tenant, ids)
            stmt = select(entities).where(entities.c.tenant == tenant,
                                          self._member_of(entities.c.id, ids))
            rows = {r.id: r for r in conn.execute(self._lock(conn, stmt))}
            rewrites: list[tuple[int, Entity]] = []
            removals: list[int] = []
            writes: list[EntityWrite] = []
            for entity_id in dict.fromkeys(ids):
                row = rows.get(entity_id)
                if row is None:
                    errors[entity_id] = ResourceNotFound(f"entity {entity_id} does not exist")
                    continue
                try:
                    current = _entity(row)
                    changed = change(_entity(row))
                except Exception as exc:
                    errors[entity_id] = exc
                    continue
                writes.append(EntityWrite(current, changed))
                if changed is None:
                    removals.append(row.pk)
                else:
                    rewrites.append((row.pk, changed))
                success.append(entity_id)
            self._rewrite(conn, tenant, rewrites)
            self._remove(conn, removals)
            self._notify(conn, tenant, writes)
        return BatchOutcome(success, errors)

    def delete_entities(self, tenant: str, ids: Sequence[str]) -> BatchOutcome:
        """Delete entities by id; a missing id is ResourceNotFound."""
        with self._write() as conn, conn.begin():
            self._lock_ids(conn, tenant, ids)
            existing = self._existing(conn, tenant, list(ids))
            before = self._current(conn, tenant, list(existing)) if self.listeners else {}
            self._remove(conn, [pk for pk, _ in existing.values()])
            self._notify(conn, tenant, [EntityWrite(e, None) for e in before.values()])
        errors: dict[str, Exception] = {
            i: ResourceNotFound(f"entity {i} does not exist") for i in ids if i not in existing}
        return BatchOutcome([i for i in ids if i in existing], errors)

    def _existing(
        self, conn: Connection, tenant: str, ids: list[str]
    ) -> dict[str, tuple[int, str]]:
        found: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(ids, 500):
            stmt = select(entities.c.id, entities.c.pk, entities.c.created_at).where(
                entities.c.tenant == tenant, self._member_of(entities.c.id, chunk))
            found.update({r.id: (r.pk, r.created_at) for r in conn.execute(stmt)})
        return found

    def _current(self, conn: Connection, tenant: str, ids: list[str]) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        for chunk in _chunks(ids, 500):
            stmt = select(entities).where(entities.c.tenant == tenant,
                                          self._member_of(entities.c.id, chunk))
            found.update({r.id: _entity(r) for r in conn.execute(stmt)})
        return found

    def _insert(self, conn: Connection, tenant: str, batch: list[Entity]) -> None:
        if not batch:
            return
        # Keys are reserved up front rather than read back with RETURNING, so the rows go in
        # by the driver's fastest bulk path (executemany on SQLite, COPY on PostgreSQL).
        pks = self._next_keys(conn, entities, len(batch))
        self._bulk_insert(conn, entities, ENTITY_COLUMNS, [
            (pk, tenant, e.id, _dump(e), e.created_at, e.modified_at)
            for pk, e in zip(pks, batch, strict=True)])
        self._index(conn, tenant, list(zip(pks, batch, strict=True)))

    def _rewrite(self, conn: Connection, tenant: str, pairs: list[tuple[int, Entity]]) -> None:
        if not pairs:
            return
        self._unindex(conn, [pk for pk, _ in pairs])
        stmt = update(entities).where(entities.c.pk == bindparam("b_pk")).values(
            doc=bindparam("b_doc"), modified_at=bindparam("b_modified"),
            created_at=bindparam("b_created"))
        conn.execute(stmt, [{"b_pk": pk, "b_doc": _dump(e), "b_modified": e.modified_at,
                             "b_created": e.created_at} for pk, e in pairs])
        self._index(conn, tenant, pairs)

    def _remove(self, conn: Connection, pks: list[int]) -> None:
        if not pks:
            return
        self._unindex(conn, pks)
        for chunk in _chunks(pks, 500):
            conn.execute(delete(entities).where(self._member_of(entities.c.pk, chunk)))

    def _index(self, conn: Connection, tenant: str, pairs: list[tuple[int, Entity]]) -> None:
        types: list[Row] = []
        values: list[Row] = []
        geoms: list[Row] = []
        for pk, entity in pairs:
            rows = index_rows(entity, tenant, pk)
            types += rows.types
            values += rows.values
            geoms += rows.geometries
        if types:
            self._bulk_insert(conn, entity_types, TYPE_COLUMNS, types)
        if values:
            self._bulk_insert(conn, attribute_values, VALUE_COLUMNS, values)
        if geoms:
            gks = self._next_keys(conn, geometries, len(geoms))
            self._insert_geometries(conn, [(gk, *g) for gk, g in zip(gks, geoms, strict=True)])

    def _unindex(self, conn: Connection, pks: list[int]) -> None:
        for chunk in _chunks(pks, 500):
            conn.execute(delete(entity_types).where(
                self._member_of(entity_types.c.entity_pk, chunk)))
            conn.execute(delete(attribute_values).where(
                self._member_of(attribute_values.c.entity_pk, chunk)))
            self._delete_geometries(conn, chunk)

    # -- reads ---------------------------------------------------------------------------
    def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        """Return one entity, or None."""
        stmt = select(entities).where(entities.c.tenant == tenant, entities.c.id == entity_id)
        with self.engine.connect() as conn:
            hidden = withheld_filter(conn, tenant, entities.c.id, [entity_id])  # consent lapsed
            row = conn.execute(stmt.where(*hidden)).first()
        return _entity(row) if row is not None else None

    def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        """Return the page of entities matching `query`, ordered by id."""
        where = _conditions(tenant, query)
        with self.engine.connect() as conn:
            where += withheld_filter(conn, tenant, entities.c.id, query.ids)  # consent lapsed
            if query.geo is not None:
                where.append(self._geo_filter(conn, query.geo, tenant))
            count = None
            if query.count:
                total = conn.execute(select(func.count()).select_from(entities).where(*where))
                count = int(total.scalar() or 0)
            rows: list[Entity] = []
            if query.limit > 0:
                stmt = select(entities).where(*where).order_by(entities.c.id)
                stmt = stmt.limit(query.limit).offset(query.offset)
                rows = [_entity(r) for r in conn.execute(stmt)]
        return QueryResult(rows, count)

    def type_counts(self, tenant: str) -> dict[str, int]:
        """Return every entity type in the tenant with its number of entities."""
        stmt = (select(entity_types.c.type, func.count()).where(entity_types.c.tenant == tenant)
                .group_by(entity_types.c.type).order_by(entity_types.c.type))
        with self.engine.connect() as conn:
            stmt = stmt.where(*withheld_pk_filter(conn, tenant, entity_types.c.entity_pk))
            return {r[0]: int(r[1]) for r in conn.execute(stmt)}

    def attribute_summary(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Return per attribute IRI: entity count, the entity types and attribute kinds."""
        av, et = attribute_values, entity_types
        with self.engine.connect() as conn:  # entities of lapsed consents are not counted
            base = and_(av.c.tenant == tenant, *withheld_pk_filter(conn, tenant, av.c.entity_pk))
        counts = (select(av.c.name, func.count(av.c.entity_pk.distinct()))
                  .where(base, av.c.sub == "").group_by(av.c.name))
        kinds = select(av.c.name, av.c.kind).where(base, av.c.sub == "").distinct()
        types = (select(av.c.name, et.c.type).join(et, et.c.entity_pk == av.c.entity_pk)
                 .where(base, av.c.sub == "").distinct())
        summary: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for name, n in conn.execute(counts):
                summary[name] = {"count": int(n), "types": set(), "kinds": set()}
            for name, kind in conn.execute(kinds):
                summary[name]["kinds"].add(kind)
            for name, etype in conn.execute(types):
                summary[name]["types"].add(etype)
        return summary

    # -- contexts ------------------------------------------------------------------------
    def put_context(self, context: StoredContext) -> None:
        """Store (or replace) a JSON-LD context document."""
        row = {"id": context.id, "url": context.url, "kind": context.kind,
               "body": json.dumps(context.body), "created_at": context.created_at}
        with self._write() as conn, conn.begin():
            conn.execute(delete(jsonld_contexts).where(jsonld_contexts.c.url == context.url))
            conn.execute(insert(jsonld_contexts).values(**row))

    def get_context(self, key: str) -> StoredContext | None:
        """Return a stored context by id or URL."""
        c = jsonld_contexts.c
        stmt = select(jsonld_contexts).where((c.id == key) | (c.url == key))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return _context(row) if row is not None else None

    def list_contexts(self, kind: str | None = None) -> list[StoredContext]:
        """Return stored contexts, optionally of one kind."""
        stmt = select(jsonld_contexts).order_by(jsonld_contexts.c.created_at)
        if kind is not None:
            stmt = stmt.where(jsonld_contexts.c.kind == kind)
        with self.engine.connect() as conn:
            return [_context(r) for r in conn.execute(stmt)]

    def delete_context(self, key: str) -> bool:
        """Delete a stored context by id or URL; return whether it existed."""
        c = jsonld_contexts.c
        with self._write() as conn, conn.begin():
            return bool(conn.execute(delete(jsonld_contexts).where(
                (c.id == key) | (c.url == key))).rowcount)


def _conditions(tenant: str, query: EntityQuery) -> list[ColumnElement[bool]]:
    pk = entities.c.pk
    where: list[ColumnElement[bool]] = [entities.c.tenant == tenant]
    if query.ids:
        where.append(entities.c.id.in_(query.ids))
    if query.id_pattern:
        where.append(entities.c.id.regexp_match(query.id_pattern))
    if query.types is not None:
        where.append(compile_types(query.types, pk))
    if query.attrs:
        av = attribute_values
        where.append(exists(select(1).where(
            av.c.entity_pk == pk, av.c.sub == "", av.c.name.in_(query.attrs))))
    if query.q is not None:
        where.append(compile_q(query.q, pk))
    if query.scope_q is not None:
        where.append(compile_scope(query.scope_q, pk))
    return where or [true()]


def _entity_row(tenant: str, entity: Entity) -> dict[str, Any]:
    return {"tenant": tenant, "id": entity.id, "doc": _dump(entity),
            "created_at": entity.created_at, "modified_at": entity.modified_at}


_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one per json.dumps call


def _dump(entity: Entity) -> str:
    return _JSON.encode(entity.document())


def _entity(row: Any) -> Entity:
    doc = json.loads(row.doc)
    return Entity(id=row.id, types=doc["types"], attrs=doc["attrs"], scope=doc.get("scope", []),
                  created_at=row.created_at, modified_at=row.modified_at)


def _context(row: Any) -> StoredContext:
    return StoredContext(id=row.id, url=row.url, kind=row.kind, body=json.loads(row.body),
                         created_at=row.created_at)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start: start + size]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
