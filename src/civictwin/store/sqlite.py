"""The embedded default store: SQLite in WAL mode, R-tree prefilter plus shapely for geo."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    TableClause,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)

from civictwin.ngsild.geo import GeoQuery, matches
from civictwin.store.geosql import SQLITE_RTREE_DDL, geometries_rtree, sqlite_candidates
from civictwin.store.schema import entities, geometries
from civictwin.store.sql import SqlStore, row_tuples

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

    def _bulk_insert(
        self, conn: Connection, table: TableClause, rows: list[dict[str, Any]]
    ) -> None:
        # The rows are index rows the store derived itself, so their keys are known column
        # names; values still travel as bound parameters. Skipping SQLAlchemy's per-row
        # parameter processing is most of the cost of an upsert's index rebuild.
        names, values = row_tuples(table, rows)
        statement = (f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608
                     f"VALUES ({', '.join('?' * len(names))})")
        conn.exec_driver_sql(statement, values)

    def _insert_geometries(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        stmt = insert(geometries).returning(geometries.c.gk, sort_by_parameter_order=True)
        gks = [r.gk for r in conn.execute(stmt, rows)]
        boxes = [{"gk": gk, "minx": r["minx"], "maxx": r["maxx"], "miny": r["miny"],
                  "maxy": r["maxy"]} for gk, r in zip(gks, rows, strict=True)]
        conn.execute(insert(geometries_rtree), boxes)

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
