"""The embedded default store: SQLite in WAL mode, R-tree prefilter plus shapely for geo."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    TableClause,
    create_engine,
    delete,
    event,
    func,
    select,
)

from civictwin.ngsild.geo import GeoQuery, matches
from civictwin.store.geosql import SQLITE_RTREE_DDL, geometries_rtree, sqlite_candidates
from civictwin.store.guard import guard_sqlite
from civictwin.store.index import Row
from civictwin.store.schema import entities, geometries
from civictwin.store.sql import GEOMETRY_ROW_COLUMNS, SqlStore

# SQLite's planner has no statistics until ANALYZE runs, and without them it drives the q
# sub-queries by the (name, sub, value) indexes and the geo candidates by tenant: a typed geo+q
# query on 100k entities took ~20 s instead of ~20 ms. Fixed statistics that describe the
# shape of the data (many rows per attribute name, few per entity) steer it from the start;
# writing sqlite_stat1 is the documented way to do so.
PLANNER_HINTS = [
    "ANALYZE sqlite_schema",
    "DELETE FROM sqlite_stat1 WHERE tbl IN "
    "('entities', 'entity_types', 'attribute_values', 'geometries')",
    """INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
       ('entities', 'sqlite_autoindex_entities_1', '1000000 1000000 1'),
       ('entity_types', 'sqlite_autoindex_entity_types_1', '1000000 1 1'),
       ('entity_types', 'ix_entity_types_tenant_type', '1000000 1000000 100000 1'),
       ('attribute_values', 'ix_attribute_values_entity', '10000000 10'),
       ('attribute_values', 'ix_attribute_values_num', '10000000 1000000 1000000 10'),
       ('attribute_values', 'ix_attribute_values_text', '10000000 1000000 1000000 10'),
       ('attribute_values', 'ix_attribute_values_tenant_name', '10000000 10000000 1000000'),
       ('geometries', 'ix_geometries_entity', '1000000 1'),
       ('geometries', 'ix_geometries_tenant_name', '1000000 1000000 1000000')""",
    "ANALYZE sqlite_schema",
]
RTREE_COLUMNS = ("gk", "minx", "maxx", "miny", "maxy")


class SqliteStore(SqlStore):
    """SQLite: one file, WAL journal, writes serialised with BEGIN IMMEDIATE."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            # WAL + synchronous=NORMAL: a committed transaction survives the process being
            # killed (it is in the OS's hands); FULL would also survive power loss.
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                           "busy_timeout=30000", "cache_size=-65536"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

        self.statement_guard = guard_sqlite(engine)
        super().__init__(engine)

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(write=True)

    def _migration_sql(self, version: int) -> list[str]:
        if version == 1:
            return [SQLITE_RTREE_DDL]
        if version == 6:
            return PLANNER_HINTS
        return []

    def migrate(self, upto: int | None = None) -> int:
        version = super().migrate(upto)
        self.engine.dispose()  # pooled connections reread the planner statistics
        return version

    def _next_keys(self, conn: Connection, table: Table, count: int) -> list[int]:
        # Every write runs under BEGIN IMMEDIATE, which holds the database's one write lock,
        # so nobody else can take these keys before we commit. max + 1 is also the key SQLite
        # itself would choose for an INTEGER PRIMARY KEY.
        key = table.primary_key.columns[0]
        top = conn.execute(select(func.max(key))).scalar() or 0
        return list(range(top + 1, top + 1 + count))

    def _bulk_insert(
        self, conn: Connection, table: TableClause, columns: Sequence[str], rows: list[Row]
    ) -> None:
        # The rows are rows the store derived itself, in known columns; values still travel
        # as bound parameters. Skipping SQLAlchemy's per-row parameter processing is most of
        # the cost of an upsert's index rebuild.
        statement = (f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
                     f"VALUES ({', '.join('?' * len(columns))})")
        conn.exec_driver_sql(statement, rows)

    def _insert_geometries(self, conn: Connection, rows: list[Row]) -> None:
        self._bulk_insert(conn, geometries, GEOMETRY_ROW_COLUMNS, rows)
        # (gk, entity_pk, tenant, name, dataset_id, geojson, minx, miny, maxx, maxy)
        self._bulk_insert(conn, geometries_rtree, RTREE_COLUMNS,
                          [(r[0], r[6], r[8], r[7], r[9]) for r in rows])

    def _delete_geometries(self, conn: Connection, pks: Sequence[int]) -> None:
        gks = select(geometries.c.gk).where(geometries.c.entity_pk.in_(pks))
        conn.execute(delete(geometries_rtree).where(geometries_rtree.c.gk.in_(gks)))
        conn.execute(delete(geometries).where(geometries.c.entity_pk.in_(pks)))

    def _geo_filter(self, conn: Connection, geo: GeoQuery, tenant: str) -> ColumnElement[bool]:
        hits: set[int] = set()
        for entity_pk, geojson in conn.execute(sqlite_candidates(geo, tenant)):
            if entity_pk not in hits and matches(geo, json.loads(geojson)):
                hits.add(entity_pk)
        members = func.json_each(json.dumps(sorted(hits))).table_valued("value")
        return entities.c.pk.in_(select(members.c.value))
