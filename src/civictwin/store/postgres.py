"""The PostgreSQL/PostGIS store: row locks for updates, geo-queries answered by PostGIS."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import shapely
from psycopg import sql
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    TableClause,
    any_,
    bindparam,
    create_engine,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from civictwin.ngsild.geo import GeoQuery
from civictwin.store.geosql import POSTGIS_DDL, postgis_filter, postgis_geometries
from civictwin.store.guard import guard_postgres
from civictwin.store.index import Row
from civictwin.store.schema import entities, geometries
from civictwin.store.sql import GEOMETRY_ROW_COLUMNS, SqlStore
from civictwin.store.temporal import TEMPORAL_POSTGRES_DDL


class PostgresStore(SqlStore):
    """PostgreSQL 15+ with PostGIS 3."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.statement_guard = guard_postgres(engine)
        super().__init__(engine)

    def _member_of(self, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
        # One array parameter instead of one parameter per value: the statement text stays
        # the same whatever the number of values, and psycopg, which prepares statements it
        # sees repeatedly, prepares one statement whose plan is an index scan for any count.
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))

    def _lock(self, conn: Connection, stmt: Select[Any]) -> Select[Any]:
        return stmt.with_for_update()

    def _lock_ids(self, conn: Connection, tenant: str, ids: Sequence[str]) -> None:
        # Two transactions upserting the same new id would both insert it (UniqueViolation),
        # and two rewriting one entity would each keep their own index rows: a transaction
        # advisory lock per (tenant, id), taken in key order so batches cannot deadlock.
        keys = sorted({_lock_key(tenant, i) for i in ids})
        if keys:
            conn.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                              "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS s"),
                         {"keys": keys})

    def _migration_sql(self, version: int) -> list[str]:
        if version == 2:
            return list(TEMPORAL_POSTGRES_DDL)
        if version != 1:
            return []
        # Byte-order collation, as SQLite compares: ids and string values sort alike on both.
        collate = ['ALTER TABLE entities ALTER COLUMN id TYPE varchar COLLATE "C"',
                   'ALTER TABLE attribute_values ALTER COLUMN text TYPE text COLLATE "C"']
        return [*POSTGIS_DDL, *collate]

    def _next_keys(self, conn: Connection, table: Table, count: int) -> list[int]:
        # One round trip takes `count` values from the key's sequence; concurrent writers get
        # other values, so the keys are ours whatever else commits meanwhile.
        key = table.primary_key.columns[0].name
        sequence = func.pg_get_serial_sequence(table.name, key)
        stmt = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        return [int(value) for value in conn.execute(stmt).scalars()]

    def _bulk_insert(
        self, conn: Connection, table: TableClause, columns: Sequence[str], rows: list[Row]
    ) -> None:
        # COPY inside the writing transaction: the rows are rows the store derived itself
        # (known column names); values go through psycopg's COPY row encoder.
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
        ) as copy:
            for row in rows:
                copy.write_row(row)

    def _insert_geometries(self, conn: Connection, rows: list[Row]) -> None:
        # geom goes in as hex EWKB made by shapely, so no row is written twice.
        # (gk, entity_pk, tenant, name, dataset_id, geojson, minx, miny, maxx, maxy)
        shapes = shapely.set_srid(shapely.from_geojson([r[5] for r in rows]), 4326)
        ewkb = shapely.to_wkb(shapes, hex=True, include_srid=True)
        self._bulk_insert(conn, postgis_geometries, (*GEOMETRY_ROW_COLUMNS, "geom"),
                          [(*r, g) for r, g in zip(rows, ewkb, strict=True)])

    def _delete_geometries(self, conn: Connection, pks: Sequence[int]) -> None:
        conn.execute(delete(geometries).where(self._member_of(geometries.c.entity_pk, pks)))

    def _geo_filter(self, conn: Connection, geo: GeoQuery, tenant: str) -> ColumnElement[bool]:
        return postgis_filter(geo, entities.c.pk)


def _lock_key(tenant: str, entity_id: str) -> int:
    """Return a stable signed 64-bit advisory lock key for one entity."""
    digest = hashlib.blake2b(f"{tenant}\x00{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
