"""The PostgreSQL/PostGIS store: row locks for updates, geo-queries answered by PostGIS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, create_engine, delete, insert, text

from civictwin.ngsild.geo import GeoQuery
from civictwin.store.geosql import POSTGIS_DDL, postgis_filter
from civictwin.store.schema import entities, geometries
from civictwin.store.sql import SqlStore
from civictwin.store.temporal import TEMPORAL_POSTGRES_DDL

FILL_GEOM = text(
    "UPDATE geometries SET geom = ST_SetSRID(ST_GeomFromGeoJSON(geojson), 4326) "
    "WHERE geom IS NULL AND entity_pk = ANY(:pks)"
)


class PostgresStore(SqlStore):
    """PostgreSQL 15+ with PostGIS 3."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        super().__init__(create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True))

    def _lock(self, conn: Connection, stmt: Select[Any]) -> Select[Any]:
        return stmt.with_for_update()

    def _migration_sql(self, version: int) -> list[str]:
        if version == 2:
            return list(TEMPORAL_POSTGRES_DDL)
        if version != 1:
            return []
        # Byte-order collation, as SQLite compares: ids and string values sort alike on both.
        collate = ['ALTER TABLE entities ALTER COLUMN id TYPE varchar COLLATE "C"',
                   'ALTER TABLE attribute_values ALTER COLUMN text TYPE text COLLATE "C"']
        return [*POSTGIS_DDL, *collate]

    def _insert_geometries(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        conn.execute(insert(geometries), rows)
        conn.execute(FILL_GEOM, {"pks": sorted({r["entity_pk"] for r in rows})})

    def _delete_geometries(self, conn: Connection, pks: Sequence[int]) -> None:
        conn.execute(delete(geometries).where(geometries.c.entity_pk.in_(pks)))

    def _geo_filter(self, conn: Connection, geo: GeoQuery, tenant: str) -> ColumnElement[bool]:
        return postgis_filter(geo, entities.c.pk)
